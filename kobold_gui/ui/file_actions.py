"""The File menu: New, Open, Save, Save As, Open Recent, Quit, the title bar and the close prompt.

Why it is shaped like this:
- the document is `window.story`; this module only decides which file it belongs to and in
  which format, and replaces it through `window.set_story` (so the view, the journal and the
  generation follow through `story_replaced`);
- reading, parsing, encoding and writing run off the UI thread (`asyncio.to_thread`) on a
  snapshot taken on the UI thread, so a 10 MB story never freezes the window;
- every question is a non-modal box opened with `open()` (a nested `exec()` inside the qasync
  loop deadlocks — stack-notes pitfall 3); `self.question` / `self.file_dialog` expose the open
  one so tests can answer it like a user;
- a file that cannot be read or written is never touched: the error goes to the status bar.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QFileDialog,
    QMenu,
    QMessageBox,
    QPushButton,
    QWidget,
)

from ..core import storage
from ..core.story import NewerFormat, Story, StoryFormatError

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .session import Session

log = logging.getLogger(__name__)

APP_TITLE = "Kobold GUI"
UNTITLED = "Untitled"
RECENT_LIMIT = 10
RECENT_FILE_NAME = "recent_files.json"

#: what Save As offers: format -> (filter label, extension). Markdown and text are exports.
SAVE_FORMATS: dict[str, tuple[str, str]] = {
    "kobold": ("Kobold GUI story (*.kstory)", ".kstory"),
    "lite": ("KoboldAI Lite story (*.json)", ".json"),
    "markdown": ("Markdown (*.md)", ".md"),
    "text": ("Plain text (*.txt)", ".txt"),
}
EXPORT_ONLY = frozenset({"markdown", "text"})
OPEN_FILTERS = ("Stories (*.kstory *.json *.jsonl *.md *.txt)", "All files (*)")


def format_for_name(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    return next((fmt for fmt, (_label, ext) in SAVE_FORMATS.items() if ext == suffix), None)


# --- questions -------------------------------------------------------------------------------

@dataclass
class Question:
    """An open non-modal message box and its buttons by name; `answer(name)` clicks one."""

    box: QMessageBox
    buttons: dict[str, QPushButton]

    def answer(self, name: str) -> None:
        self.buttons[name].click()

    def text(self) -> str:
        return f"{self.box.text()}\n{self.box.informativeText()}".strip()


def ask(parent: QWidget, title: str, text: str, detail: str,
        buttons: list[tuple[str, str, QMessageBox.ButtonRole]],
        on_answer: Callable[[str], None], *, default: str | None = None) -> Question:
    """Open a window-modal box without a nested event loop; `on_answer(name)` gets the
    clicked button's name ("cancel" when the box is closed with Esc)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    box.setObjectName("fileQuestion")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setInformativeText(detail)
    named: dict[str, QPushButton] = {}
    for name, label, role in buttons:
        named[name] = box.addButton(label, role)
    if default is not None:
        box.setDefaultButton(named[default])
    if "cancel" in named:
        box.setEscapeButton(named["cancel"])
    answered: list[str] = []

    def clicked(button: QAbstractButton) -> None:
        name = next((n for n, b in named.items() if b is button), "cancel")
        if not answered:
            answered.append(name)
            on_answer(name)

    def finished(_result: int) -> None:
        if not answered:  # closed without a button
            answered.append("cancel")
            on_answer("cancel")
        box.deleteLater()

    box.buttonClicked.connect(clicked)
    box.finished.connect(finished)
    box.open()
    return Question(box, named)


# --- recent files ------------------------------------------------------------------------------

class RecentFiles:
    """Up to RECENT_LIMIT paths, newest first, in a small JSON file in the config directory
    (written atomically: a crash never leaves half a list)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or storage.config_dir() / RECENT_FILE_NAME
        self._paths: list[str] = self._read()

    def _read(self) -> list[str]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("recent files list %s unreadable (%s); starting a new one", self.path, exc)
            return []
        paths = data.get("paths") if isinstance(data, dict) else None
        if not isinstance(paths, list):
            return []
        return [p for p in paths if isinstance(p, str)][:RECENT_LIMIT]

    def paths(self) -> list[str]:
        return list(self._paths)

    def add(self, path: Path | str, *, write: bool = True) -> None:
        """Put `path` first; `write=False` leaves the file to a later `write()` (which the
        window runs off the UI thread: it fsyncs)."""
        entry = str(Path(path).absolute())
        self._paths = [entry] + [p for p in self._paths if p != entry]
        del self._paths[RECENT_LIMIT:]
        if write:
            self.write()

    def remove(self, path: Path | str) -> None:
        entry = str(Path(path).absolute())
        if entry in self._paths:
            self._paths.remove(entry)
            self.write()

    def write(self) -> None:
        paths = list(self._paths)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            data = json.dumps({"version": 1, "paths": paths}, ensure_ascii=False, indent=1)
            storage.atomic_write(self.path, data.encode("utf-8"), backup=False)
        except OSError as exc:  # a read-only config dir must not break opening files
            log.warning("cannot write the recent files list %s: %s", self.path, exc)


# --- work done off the UI thread -------------------------------------------------------------

def read_story_file(path: Path) -> tuple[Story, str]:
    """(story, detected format); raises OSError, NewerFormat, StoryFormatError, FormatError."""
    from ..core.storyfiles import read_story_bytes  # the file formats: not needed at start

    return read_story_bytes(path.read_bytes())


def snapshot(story: Story) -> Story:
    """What Save writes, taken on the UI thread: every part of the story (retry versions,
    branches, mode and world-info options too), none of the edits made while it is written."""
    return story.copy()


def write_story_file(path: Path, story: Story, fmt: str, force: bool) -> None:
    from ..core.storyfiles import dump_story

    data = dump_story(story, fmt)
    storage.write_story_bytes(path, data, empty=not storage.has_text(story), force=force)


def describe_read_error(path: Path, exc: BaseException) -> str:
    name = path.name
    if isinstance(exc, NewerFormat):
        return (f"Cannot open {name}: it was saved by a newer Kobold GUI (story format version "
                f"{exc.version}; this one reads up to 1). Update Kobold GUI to open it; the file "
                f"was not changed.")
    if isinstance(exc, FileNotFoundError):
        return f"Cannot open {name}: the file no longer exists ({path})"
    if isinstance(exc, IsADirectoryError):
        return f"Cannot open {name}: it is a folder, not a story file"
    if isinstance(exc, PermissionError):
        return f"Cannot open {name}: permission denied"
    if isinstance(exc, OSError):
        return f"Cannot open {name}: {exc.strerror or exc}"
    reason = getattr(exc, "message", None) or str(exc)
    return f"Cannot open {name}: {reason.rstrip('.')}. The file was not changed."


def describe_write_error(path: Path, exc: BaseException) -> str:
    name = path.name
    if isinstance(exc, PermissionError):
        why = "permission denied"
    elif isinstance(exc, OSError):
        why = exc.strerror or str(exc)
    else:
        why = getattr(exc, "message", None) or str(exc)
    return f"Could not save {name}: {why}. The file on disk was not changed."


# --- the menu --------------------------------------------------------------------------------

class FileActions(QObject):
    """The File menu of one window and the file its story belongs to."""

    #: an open or save finished: (ok, message shown in the status bar)
    operation_done = Signal(bool, str)
    #: the window is about to close for good (the session keeps or drops the story here)
    closing = Signal()
    #: the file the story belongs to changed: (path or None, format or None)
    file_changed = Signal(object, object)

    def __init__(self, window: MainWindow, recent: RecentFiles | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.recent = recent or RecentFiles()
        #: the file Save writes to, and its format ("kobold" or "lite"); None: never saved
        self.path: Path | None = None
        self.format: str | None = None
        #: the name shown in the title when the story has no file (an import keeps its name)
        self.display_name = UNTITLED
        self.question: Question | None = None
        self.file_dialog: QFileDialog | None = None
        self.task: asyncio.Task[None] | None = None
        #: False when the session keeps unsaved work silently (self-test): no close prompt
        self.ask_on_close = True
        #: the session can bring unsaved work back at the next start (offers "Keep")
        self.can_keep = False
        #: how the close prompt was answered: None (not asked), "keep", "discard", "saved"
        self.close_answer: str | None = None
        #: the session journal, when one is installed (it prepares a big story's journal off
        #: the UI thread together with the read)
        self.session: Session | None = None
        self._shown_dirty: bool | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._make_actions()
        window.story_replaced.connect(self._follow)
        self._follow(window.story)

    # ------------------------------------------------------------------ building
    def _make_actions(self) -> None:
        w = self.window

        def action(text: str, shortcut: QKeySequence | QKeySequence.StandardKey | None,
                   slot: Callable[[], object], tip: str) -> QAction:
            a = QAction(text, w)
            if shortcut is not None:
                a.setShortcut(shortcut)
            a.setToolTip(tip)
            a.triggered.connect(lambda _checked=False: slot())
            w.addAction(a)  # shortcuts work with the menu bar hidden
            return a

        self.new_action = action("&New", QKeySequence("Ctrl+N"), self.new_story,
                                 "Start a new story (asks about unsaved changes)")
        self.open_action = action("&Open…", QKeySequence("Ctrl+O"), self.open_file,
                                  "Open a story: Kobold GUI, KoboldAI Lite, SillyTavern, text")
        self.save_action = action("&Save", QKeySequence("Ctrl+S"), self.save,
                                  "Save the story to its file")
        self.save_as_action = action("Save &As…", QKeySequence("Ctrl+Shift+S"), self.save_as,
                                     "Save the story to a new file, or export it")
        self.recent_menu = QMenu("Open &Recent", w)
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self.rebuild_recent_menu)
        self.rebuild_recent_menu()

    def populate(self, menu: QMenu) -> None:
        """Fill the window's File menu."""
        menu.addAction(self.new_action)
        menu.addAction(self.open_action)
        menu.addMenu(self.recent_menu)
        menu.addSeparator()
        menu.addAction(self.save_action)
        menu.addAction(self.save_as_action)
        menu.addSeparator()
        menu.addAction(self.window.quit_action)

    def rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for number, entry in enumerate(paths, 1):
            name = Path(entry).name.replace("&", "&&")  # a name's "&" is not a mnemonic
            label = f"&{number % 10} {name}"
            a = self.recent_menu.addAction(label)
            a.setToolTip(entry)
            a.setData(entry)
            a.triggered.connect(lambda _checked=False, p=entry: self.open_path(Path(p)))
        if not paths:
            empty = self.recent_menu.addAction("No recent files")
            empty.setEnabled(False)

    # ------------------------------------------------------------------ the title bar
    def _follow(self, story: Story) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = story.subscribe(lambda _event: self._update_mark())
        self._shown_dirty = None
        self.update_title()

    def title_name(self) -> str:
        return self.path.name if self.path is not None else self.display_name

    def update_title(self) -> None:
        # "[*]" is where Qt shows the unsaved mark (setWindowModified); both go to the
        # top-level window: kobold-gui's window frame when the main window is inside one
        name = self.title_name().replace("[*]", "[*][*]")  # Qt shows "[*][*]" as "[*]"
        self.window.window().setWindowTitle(f"{name}[*] — {APP_TITLE}")
        self._update_mark()

    def _update_mark(self) -> None:
        dirty = self.window.story.dirty
        if dirty != self._shown_dirty:  # per streamed token this is one comparison
            self._shown_dirty = dirty
            self.window.window().setWindowModified(dirty)

    def set_file(self, path: Path | None, fmt: str | None, display_name: str = UNTITLED) -> None:
        self.path, self.format, self.display_name = path, fmt, display_name
        self.update_title()
        self.file_changed.emit(path, fmt)

    # ------------------------------------------------------------------ helpers
    def unsaved(self) -> bool:
        return self.window.story.dirty

    def _status_error(self, message: str) -> None:
        self.window.status.show_error(message)

    def _status_info(self, message: str) -> None:
        self.window.status.show_info(message)

    def _busy_reason(self, replacing: bool) -> str | None:
        if self.task is not None and not self.task.done():
            return "A file is still being read or written; try again in a moment"
        if self.question is not None and self.question.box.isVisible():
            return "Answer the open question first"
        if replacing and self.window.controller.busy:
            return "Stop the generation before replacing the story"
        return None

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        self.task = asyncio.ensure_future(work)

    def _ask(self, title: str, text: str, detail: str,
             buttons: list[tuple[str, str, QMessageBox.ButtonRole]],
             on_answer: Callable[[str], None], default: str | None = None) -> None:
        def answered(name: str) -> None:
            self.question = None
            on_answer(name)

        self.question = ask(self.window, title, text, detail, buttons, answered, default=default)

    def _then_if_saved(self, proceed: Callable[[], None]) -> None:
        """Ask Save / Discard / Cancel when there are unsaved changes, then `proceed`."""
        if not self.unsaved():
            proceed()
            return

        def answered(name: str) -> None:
            if name == "save":
                self.save(then=proceed)
            elif name == "discard":
                proceed()

        self._ask("Unsaved changes", f"“{self.title_name()}” has unsaved changes.",
                  "Save them first, or discard them?",
                  [("save", "Save", QMessageBox.ButtonRole.AcceptRole),
                   ("discard", "Discard", QMessageBox.ButtonRole.DestructiveRole),
                   ("cancel", "Cancel", QMessageBox.ButtonRole.RejectRole)],
                  answered, default="save")

    # ------------------------------------------------------------------ New
    def new_story(self) -> None:
        if (reason := self._busy_reason(replacing=True)) is not None:
            self._status_error(reason)
            return
        self._then_if_saved(self._replace_with_new)

    def _replace_with_new(self) -> None:
        if (reason := self._busy_reason(replacing=True)) is not None:
            self._status_error(reason)
            return
        self.path, self.format, self.display_name = None, None, UNTITLED
        self.window.set_story(Story())
        self.set_file(None, None)
        self._status_info("New story")

    # ------------------------------------------------------------------ Open
    def open_file(self) -> None:
        if (reason := self._busy_reason(replacing=True)) is not None:
            self._status_error(reason)
            return
        self._then_if_saved(self._choose_file_to_open)

    def _choose_file_to_open(self) -> None:
        dialog = self._file_dialog("Open Story", QFileDialog.AcceptMode.AcceptOpen)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(list(OPEN_FILTERS))
        dialog.fileSelected.connect(lambda name: self.open_path(Path(name), asked=True))
        dialog.open()

    def _file_dialog(self, title: str, mode: QFileDialog.AcceptMode) -> QFileDialog:
        dialog = QFileDialog(self.window, title, str(self._start_dir()))
        dialog.setObjectName("storyFileDialog")
        dialog.setAcceptMode(mode)
        # We confirm overwriting ourselves, with a non-modal box (no nested exec()).
        dialog.setOption(QFileDialog.Option.DontConfirmOverwrite, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "file_dialog", None))
        self.file_dialog = dialog
        return dialog

    def _start_dir(self) -> Path:
        if self.path is not None:
            return self.path.parent
        recent = self.recent.paths()
        if recent and Path(recent[0]).parent.is_dir():
            return Path(recent[0]).parent
        return Path.home()

    def open_path(self, path: Path, *, asked: bool = False) -> None:
        """Open `path` (from the dialog, Open Recent or a test); unsaved work is asked about
        first unless the caller already did."""
        if (reason := self._busy_reason(replacing=True)) is not None:
            self._status_error(reason)
            return
        if not asked and self.unsaved():
            self._then_if_saved(lambda: self.open_path(path, asked=True))
            return
        self._run(self._open(path))

    async def _open(self, path: Path) -> None:
        from ..core.storyfiles import SAVED_BACK_AS, StoryFileError

        self._status_info(f"Opening {path.name}…")
        session = self.session if self.session is not None and self.session.journalling \
            else None
        try:
            story, detected = await asyncio.to_thread(read_story_file, path)
            prepared = (await asyncio.to_thread(session.prepare_journal, story)
                        if session is not None else None)
        except (OSError, StoryFormatError, StoryFileError) as exc:
            message = describe_read_error(path, exc)
            if isinstance(exc, FileNotFoundError) and str(path.absolute()) in self.recent.paths():
                self.recent.remove(path)
                message += "; removed from Open Recent"
            self._status_error(message)
            self.operation_done.emit(False, message)
            return
        if self.window.controller.busy:  # a generation started while the file was read
            if prepared is not None and session is not None:
                session.drop_prepared(prepared)
            message = "Not opened: a generation started meanwhile"
            self._status_error(message)
            self.operation_done.emit(False, message)
            return
        fmt = SAVED_BACK_AS.get(detected)
        if session is not None and prepared is not None:
            session.adopt_prepared(prepared)
        self.window.set_story(story)
        if fmt is not None:
            self.set_file(path.absolute(), fmt)
            message = f"Opened {path.name}"
        else:  # an import: the story has no file of its own until saved
            self.set_file(None, None, display_name=f"{path.stem} (imported)")
            message = f"Imported {path.name} ({detected}); Save asks for a new file"
        await self._remember(path)
        self._status_info(message)
        self.operation_done.emit(True, message)

    async def _remember(self, path: Path) -> None:
        self.recent.add(path, write=False)
        self.rebuild_recent_menu()
        await asyncio.to_thread(self.recent.write)

    # ------------------------------------------------------------------ Save / Save As
    def save(self, then: Callable[[], None] | None = None) -> None:
        """Save to the story's file in its format; Save As when it has none."""
        if (reason := self._busy_reason(replacing=False)) is not None:
            self._status_error(reason)
            return
        if self.path is None or self.format is None:
            self.save_as(then=then)
            return
        self._start_save(self.path, self.format, force=False, then=then)

    def save_as(self, then: Callable[[], None] | None = None) -> None:
        if (reason := self._busy_reason(replacing=False)) is not None:
            self._status_error(reason)
            return
        dialog = self._file_dialog("Save Story As", QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        labels = [label for label, _ext in SAVE_FORMATS.values()]
        dialog.setNameFilters(labels)
        current = self.format or "kobold"
        dialog.selectNameFilter(SAVE_FORMATS[current][0])
        stem = self.path.stem if self.path is not None else (
            self.display_name.removesuffix(" (imported)") if self.display_name != UNTITLED
            else "story")
        dialog.selectFile(stem + SAVE_FORMATS[current][1])

        def chosen(name: str) -> None:
            label = dialog.selectedNameFilter()
            fmt = next((f for f, (lab, _e) in SAVE_FORMATS.items() if lab == label), "kobold")
            self.save_to(Path(name), fmt, then=then)

        dialog.fileSelected.connect(chosen)
        dialog.open()

    def save_to(self, path: Path, fmt: str, then: Callable[[], None] | None = None,
                *, confirmed: bool = False) -> None:
        """Save (or export, for markdown/text) to `path`; the name's extension, when it is one
        of ours, decides the format, else `fmt`'s extension is added."""
        by_name = format_for_name(path.name)
        if by_name is not None:
            fmt = by_name
        else:
            path = path.with_name(path.name + SAVE_FORMATS[fmt][1])
        same_file = self.path is not None and path.absolute() == self.path
        if not confirmed and not same_file and path.exists():
            def answered(name: str) -> None:
                if name == "replace":
                    self.save_to(path, fmt, then, confirmed=True)

            self._ask("Replace file?", f"{path.name} already exists.",
                      f"Replace it? The version it holds now is kept as {path.name}~.",
                      [("replace", "Replace", QMessageBox.ButtonRole.DestructiveRole),
                       ("cancel", "Cancel", QMessageBox.ButtonRole.RejectRole)],
                      answered, default="cancel")
            return
        self._start_save(path, fmt, force=False, then=then)

    def _start_save(self, path: Path, fmt: str, *, force: bool,
                    then: Callable[[], None] | None) -> None:
        """The snapshot is taken now, on the UI thread: what the user sees when saving is
        what is written, whatever streams in meanwhile."""
        story = self.window.story
        self._run(self._save(path, fmt, story, story.revision, snapshot(story), force=force,
                             then=then))

    async def _save(self, path: Path, fmt: str, story: Story, revision: int, copy: Story, *,
                    force: bool, then: Callable[[], None] | None) -> None:
        from ..core.storyfiles import StoryFileError

        export = fmt in EXPORT_ONLY
        self._status_info(f"{'Exporting' if export else 'Saving'} {path.name}…")
        try:
            await asyncio.to_thread(write_story_file, path, copy, fmt, force)
        except storage.EmptyOverwrite:
            self._ask_empty_overwrite(path, fmt, then)
            return
        except (OSError, StoryFileError, ValueError) as exc:
            message = describe_write_error(path, exc)
            self._status_error(message)
            self.operation_done.emit(False, message)
            return
        if export:
            message = f"Exported {path.name} ({SAVE_FORMATS[fmt][0].split(' (')[0]})"
        else:
            if story is self.window.story and story.revision == revision:
                story.mark_saved()  # edits made while writing stay unsaved
            if story is self.window.story:
                self.set_file(path.absolute(), fmt)
            message = f"Saved {path.name}"
        await self._remember(path)
        self._status_info(message)
        self.operation_done.emit(True, message)
        if then is not None:  # after this task is done, so `then` may start another one
            asyncio.get_running_loop().call_soon(then)

    def _ask_empty_overwrite(self, path: Path, fmt: str, then: Callable[[], None] | None) -> None:
        message = f"Not saved: {path.name} holds a story with text and this story is empty"

        def answered(name: str) -> None:
            if name == "replace":
                self._start_save(path, fmt, force=True, then=then)
            else:
                self._status_error(message)
                self.operation_done.emit(False, message)

        self._ask("Replace a story with an empty one?",
                  f"{path.name} holds a story with text, and the story here is empty.",
                  "Replace it with the empty story? (Its text is kept as "
                  f"{path.name}~.)",
                  [("replace", "Replace with Empty", QMessageBox.ButtonRole.DestructiveRole),
                   ("cancel", "Cancel", QMessageBox.ButtonRole.RejectRole)],
                  answered, default="cancel")

    # ------------------------------------------------------------------ closing
    def confirm_close(self) -> bool:
        """True: the window may close now. False: a question is open (or a write is under
        way); the window closes itself again once it is answered."""
        if self.close_answer is not None:
            return True
        if self.task is not None and not self.task.done():
            self._status_error("Wait for the file to be written before quitting")
            return False
        if not self.unsaved() or not self.ask_on_close:
            return True
        if self.question is not None:
            self.question.box.raise_()
            return False

        def answered(name: str) -> None:
            if name == "save":
                def saved() -> None:
                    self.close_answer = "saved"
                    self.window.window().close()  # the frame, when in one
                self.save(then=saved)
            elif name in ("keep", "discard"):
                self.close_answer = name
                self.window.window().close()

        buttons = [("save", "Save", QMessageBox.ButtonRole.AcceptRole)]
        detail = "Save them to the file before quitting, or discard them?"
        if self.can_keep:
            buttons.append(("keep", "Keep for Next Start", QMessageBox.ButtonRole.AcceptRole))
            detail = ("Save them to the file, keep them unsaved for the next start, or "
                      "discard them?")
        buttons += [("discard", "Discard", QMessageBox.ButtonRole.DestructiveRole),
                    ("cancel", "Cancel", QMessageBox.ButtonRole.RejectRole)]
        self._ask("Unsaved changes", f"“{self.title_name()}” has unsaved changes.", detail,
                  buttons, answered, default="save")
        return False

    def window_closing(self) -> None:
        self.closing.emit()


def install_file_actions(window: MainWindow, menu: QMenu) -> FileActions:
    """Build the File menu into `menu`; the window keeps the object as `file_actions`."""
    actions = FileActions(window)
    actions.populate(menu)
    return actions
