"""The session: nothing typed or generated is lost, whether the app quits, crashes or is killed.

- While the app runs, a core `Journal` at `storage.session_journal_path()` follows
  `window.story` (re-attached on `story_replaced`): every change is one appended line, flushed
  (fsynced) at least once a second by a timer, so a flush costs the new text, not the story.
- A clean quit writes the unsaved story (and the file it belongs to) to `session.json` in the
  state directory, atomically, and discards the journal; the next start loads it silently, still
  marked unsaved, with its file name. Closing only copies the story (references, not text):
  the writer thread encodes it piece by piece and writes it, so the window closes at once, and
  the app waits for it (`wait_written`) before it exits. The journal goes only once
  `session.json` is on disk: a kill meanwhile leaves it for a restore.
- A journal left behind means the app died: the next start offers to restore it (non-modal
  box: Restore / Discard); the reply that was streaming comes back marked "interrupted".
  A journal that cannot be read is set aside, never deleted, and the window says where.
- Saving the story to a file keeps journalling: the journal is the crash net, not the document.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from ..core import storage
from ..core.story import Story, StoryFormatError
from .file_actions import Question, ask

if TYPE_CHECKING:
    from .file_actions import FileActions
    from .main_window import MainWindow

log = logging.getLogger(__name__)

SESSION_FILE_NAME = "session.json"
SESSION_FORMAT = "kobold_gui.session"
SESSION_VERSION = 1
#: the journal writes what is pending once this much time has passed since its last flush ...
JOURNAL_INTERVAL = 0.75
#: ... checked on every change and by this timer, so streamed text is on disk within ~1 s
FLUSH_TIMER_MS = 250
#: discarded crash journals kept beside the live one, newest first
KEEP_DISCARDED = 3


def session_file_path() -> Path:
    return storage.state_dir() / SESSION_FILE_NAME


class SessionLock:
    """One running app owns the session files: a second one would take the first one's live
    journal for a crashed session. An advisory lock the kernel drops when the process dies
    (SIGKILL included), so a crash never leaves a stale lock behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; one instance is assumed
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def set_aside(path: Path, why: str) -> Path:
    """Rename `path` beside itself with a time stamp (never delete what might hold text)."""
    target = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
    counter = 1
    while target.exists():
        target = target.with_name(f"{target.name}.{counter}")
        counter += 1
    os.replace(path, target)
    return target


def prune_aside(path: Path, why: str, keep: int = KEEP_DISCARDED) -> None:
    """Only the newest `keep` of what the user chose to discard stay (damaged files, which
    nobody chose to lose, are never pruned)."""
    kept = sorted(path.parent.glob(f"{path.name}.{why}-*"), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    for old in kept[keep:]:
        try:
            old.unlink()
        except OSError as exc:
            log.warning("cannot remove the old journal %s: %s", old, exc)


class Session(QObject):
    """The journal and the kept session of one window."""

    #: a crashed session was found and is offered (the story that Restore would show)
    restore_offered = Signal(object)
    #: the restore offer was answered: "restore" or "discard"
    restore_answered = Signal(str)

    def __init__(self, window: MainWindow, files: FileActions, *,
                 interval: float = JOURNAL_INTERVAL) -> None:
        super().__init__(window)
        self.window = window
        self.files = files
        self.interval = interval
        self.journal_path = storage.session_journal_path()
        self.journal: storage.Journal | None = None
        self._journal_story: Story | None = None
        #: the open "restore the interrupted session?" question, for tests
        self.offer: Question | None = None
        self.offered_story: Story | None = None
        self._offered_file: tuple[Path | None, str | None] = (None, None)
        self._starting = False
        self._closed = False
        #: True when another running app owns the session files
        self.disabled = False
        self.lock = SessionLock(storage.state_dir() / "session.lock")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-note")
        #: the session being kept at quit by the writer thread (True once kept; see
        #: `wait_written`); None before closing
        self.written: Future[bool] | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(FLUSH_TIMER_MS)
        self.timer.timeout.connect(self.flush_if_due)
        window.story_replaced.connect(self._story_replaced)
        files.file_changed.connect(lambda _p, _f: self._write_file_note())
        files.closing.connect(self.shutdown)

    # ------------------------------------------------------------------ start
    def start(self, *, fresh: bool = False) -> None:
        """Bring back the kept session and offer a crashed one; `fresh` (self-test) starts
        from an empty story and only sets a crashed journal aside."""
        if not self.lock.acquire():
            self.disabled = True
            self.files.can_keep = False
            self.files.ask_on_close = True
            message = ("Another Kobold GUI is running: this window's session is not journalled "
                       "or kept; save your work to a file")
            log.warning("%s", message)
            self.window.status.show_error(message)
            return
        self._starting = True  # no journal yet: a crashed one must not be overwritten
        try:
            note = self._read_session_file()
            crashed = self.journal_path.exists()
            if crashed and fresh:
                kept = set_aside(self.journal_path, "interrupted")
                log.warning("self-test: left the interrupted session alone as %s", kept)
                crashed = False
            if not fresh and note is not None:
                self._bring_back_kept(note)
            if crashed:
                self._offer_restore(note)
        finally:
            self._starting = False
        if self.offer is None:
            self._attach(self.window.story)
            self._write_file_note()
        self.timer.start()

    def _read_session_file(self) -> dict[str, Any] | None:
        path = session_file_path()
        try:
            note = json.loads(path.read_bytes())
            if not isinstance(note, dict) or note.get("format") != SESSION_FORMAT:
                raise ValueError("not a kobold_gui session file")
            return note
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._set_aside_and_say(path, "the kept session", exc)
            return None

    def _bring_back_kept(self, note: dict[str, Any]) -> None:
        data = note.get("story")
        if data is None:
            return
        try:
            story = Story.from_dict(data)
        except StoryFormatError as exc:
            self._set_aside_and_say(session_file_path(), "the kept session", exc)
            return
        path, fmt = _file_of(note)
        story.mark_unsaved()
        self.window.set_story(story)
        self.files.set_file(path, fmt, display_name=str(note.get("display_name") or "Untitled"))
        self.window.status.show_info("The unsaved story from the last session is back")

    def _set_aside_and_say(self, path: Path, what: str, exc: BaseException) -> None:
        try:
            kept = set_aside(path, "damaged")
            where = f"; the file is kept as {kept}"
        except OSError:
            where = f"; the file is left as {path}"
        message = f"Could not read {what} ({exc}){where}"
        log.error("%s", message)
        self.window.status.show_error(message)

    # ------------------------------------------------------------------ the restore offer
    def _offer_restore(self, note: dict[str, Any] | None) -> None:
        try:
            story = storage.replay(self.journal_path)
        except (storage.JournalCorrupt, StoryFormatError, OSError, ValueError) as exc:
            self._set_aside_and_say(self.journal_path, "the journal of the interrupted session",
                                    exc)
            return
        self.offered_story = story
        self._offered_file = _file_of(note) if note is not None else (None, None)
        interrupted = story.segments[-1].meta if story.segments else None
        cut = (" The reply that was being written is marked as interrupted."
               if interrupted is not None and interrupted.finish_reason == "interrupted" else "")
        self.offer = ask(
            self.window, "Restore the interrupted session?",
            "Kobold GUI did not quit normally last time.",
            f"The session journal holds {len(story.text):,} characters of story.{cut} "
            "Restore it, or discard it (the journal is kept aside)?",
            [("restore", "Restore", QMessageBox.ButtonRole.AcceptRole),
             ("discard", "Discard", QMessageBox.ButtonRole.DestructiveRole)],
            self._restore_answered, default="restore")
        self.offer.box.setObjectName("restoreQuestion")
        self.restore_offered.emit(story)

    def _restore_answered(self, name: str) -> None:
        story, (path, fmt) = self.offered_story, self._offered_file
        self.offer, self.offered_story = None, None
        if name == "restore" and story is not None:
            story.mark_unsaved()
            self.window.set_story(story)  # attaches a fresh journal (it replaces the old one)
            self.files.set_file(path, fmt)
            self.window.status.show_info(f"Restored the interrupted session "
                                         f"({len(story.text):,} characters)")
        else:
            name = "discard"
            try:
                kept = set_aside(self.journal_path, "discarded")
                prune_aside(self.journal_path, "discarded")
                self.window.status.show_info(f"Discarded the interrupted session (kept as "
                                             f"{kept.name} in {kept.parent})")
            except OSError as exc:
                log.warning("cannot set the old journal aside: %s", exc)
            self._attach(self.window.story)
            self._write_file_note()
        self.restore_answered.emit(name)

    # ------------------------------------------------------------------ the journal
    def _attach(self, story: Story) -> None:
        if self.journal is None:
            self.journal = storage.Journal(self.journal_path, interval=self.interval)
        try:
            self.journal.attach(story)
            self._journal_story = story
        except OSError as exc:
            self.journal = None
            self._journal_story = None
            message = f"The session journal cannot be written ({exc}): save often"
            log.error("%s", message)
            self.window.status.show_error(message)

    def _story_replaced(self, story: Story) -> None:
        if (not self.journalling or self._starting or story is self._journal_story):
            return  # not journalling until the offer is answered / prepared off the UI thread
        self._attach(story)

    @property
    def journalling(self) -> bool:
        """A journal follows the window's story (not while an offer waits, nor in a second
        app, nor after closing)."""
        return not (self.disabled or self._closed or self.offer is not None)

    def prepare_journal(self, story: Story) -> storage.Journal:
        """Run in a worker thread before `story` is shown: the snapshot line of a big story is
        written beside the live journal, so the UI thread only renames it."""
        journal = storage.Journal(self.journal_path.with_name(self.journal_path.name + ".new"),
                                  interval=self.interval)
        journal.attach(story)
        return journal

    def adopt_prepared(self, journal: storage.Journal) -> None:
        if self.offer is not None:  # the crash journal must stay until the offer is answered
            self.drop_prepared(journal)
            return
        if self.journal is not None:
            self._let_go(self.journal)
        journal.rename(self.journal_path)
        self.journal = journal
        self._journal_story = journal.story

    def _let_go(self, journal: storage.Journal) -> None:
        """The journal of the story being replaced stops following it here; its last lines
        are written and fsynced by the writer thread (its file is replaced by the new one's
        either way): on the UI thread that flush was a quarter of opening a big story's
        longest stall."""
        journal.stop_following()
        if self._closed:
            journal.close()
        else:
            self._writer.submit(journal.close)

    def drop_prepared(self, journal: storage.Journal) -> None:
        journal.discard()

    def flush_if_due(self) -> None:
        if self.journal is not None:
            try:
                self.journal.flush_if_due()
            except OSError as exc:
                log.error("session journal flush failed: %s", exc)

    # ------------------------------------------------------------------ quitting
    def _write_file_note(self) -> None:
        """Which file the story belongs to, for a restore after a crash (no text: the journal
        holds it); written in the writer thread, in order, so its fsync never stalls the
        window."""
        if self.offer is None and not (self._starting or self._closed or self.disabled):
            self._writer.submit(_write_note, self._note_head().encode("utf-8"),
                                required=False)

    def _note_head(self) -> str:
        """The note without its story (`"story": null}` ends it): which file the story
        belongs to, read here on the UI thread."""
        files = self.files
        note = {"format": SESSION_FORMAT, "version": SESSION_VERSION,
                "file": None if files.path is None else str(files.path),
                "file_format": files.format, "display_name": files.display_name,
                "story": None}
        return json.dumps(note, ensure_ascii=False)

    def shutdown(self) -> None:
        """The window closes for good: keep the unsaved story for the next start (unless the
        user discarded it), then drop the journal, in that order. Only a copy of the story is
        taken here; the writer thread writes it after the notes before it (`written`)."""
        if self._closed:
            return
        self.timer.stop()
        self._closed = True
        if not self.disabled:
            self.written = self._writer.submit(self._keep_job())
        self._writer.shutdown(wait=False)  # the thread ends once the queue is done

    def _keep_job(self) -> Callable[[], bool]:
        """On the UI thread: what the writer thread keeps, taken now (later edits do not
        reach it); the journal stops following the story, so only the writer touches it."""
        journal, self.journal, self._journal_story = self.journal, None, None
        if journal is not None:
            journal.stop_following()
        story: Story | None = None
        if self.offer is None:  # an offer never answered: offered again next time
            current = self.window.story
            if current.dirty and self.files.close_answer != "discard":
                story = current.copy()
        head = None if self.offer is not None else self._note_head()
        return functools.partial(_keep_and_close, head, story, journal, self.lock)

    def wait_written(self, timeout: float | None = None) -> bool:
        """Block until the session kept at quit is on disk and the journal dropped (the app
        calls this before it exits); False when it could not be kept (the journal stays for
        a restore). TimeoutError after `timeout` seconds."""
        return True if self.written is None else self.written.result(timeout)


def _keep_and_close(head: str | None, story: Story | None, journal: storage.Journal | None,
                    lock: SessionLock) -> bool:
    """In the writer thread: the journal's last lines on disk, then `session.json` (the note
    `head` with `story`, none for None), then the journal dropped, so a kill at any point
    leaves one of them whole; the session lock goes last. No note (`head` None): the journal
    is only closed."""
    try:
        if journal is not None:
            try:
                journal.close()
            except OSError as exc:
                log.error("session journal flush failed at quit: %s", exc)
        if head is None:
            return True
        try:
            _write_note(_note_pieces(head, story), required=True)
        except OSError as exc:
            log.error("cannot keep the session (%s); the journal stays for a restore", exc)
            return False
        if journal is not None:
            try:
                journal.discard()
            except OSError as exc:  # kept all the same; the next start offers a restore too
                log.warning("cannot remove the session journal after keeping it: %s", exc)
        return True
    finally:
        lock.release()


def _note_pieces(head: str, story: Story | None) -> Iterator[bytes]:
    """The note `head` with the story in place of its `null`, a segment a piece, each made
    as the one before is written (Story.iter_json_pieces): the writer thread hands the GIL
    back between them."""
    if story is None:
        yield head.encode("utf-8")
        return
    yield head[:-len("null}")].encode("utf-8")
    for piece in story.iter_json_pieces(separator=""):
        yield piece.encode("utf-8")
    yield b"}"


def _write_note(data: bytes | Iterable[bytes], *, required: bool) -> None:
    path = session_file_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        storage.atomic_write(path, data)
    except OSError as exc:
        if required:
            raise
        log.error("cannot write the session note %s: %s", path, exc)


def _file_of(note: dict[str, Any]) -> tuple[Path | None, str | None]:
    file, fmt = note.get("file"), note.get("file_format")
    if isinstance(file, str) and fmt in ("kobold", "lite"):
        return Path(file), fmt
    return None, None


def install_session(window: MainWindow, *, fresh: bool = False) -> Session:
    """Start journalling `window.story`, bring back the kept session, offer a crashed one."""
    files = window.file_actions
    session = Session(window, files)
    files.session = session
    files.can_keep = True
    files.ask_on_close = not fresh
    session.start(fresh=fresh)
    return session
