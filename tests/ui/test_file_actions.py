"""The File menu as a user drives it (issue 7 #4, #6): New, Open, Save, Save As, Open Recent,
the unsaved mark in the title, the close prompt, and files that are never damaged.

Dialogs are non-modal (`open()`); tests answer them through `file_actions.file_dialog` and
`file_actions.question`, the objects a user clicks.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtGui import QKeySequence

from kobold_gui.core import storage
from kobold_gui.core.formats import detect
from kobold_gui.core.protocol import DEFAULT_URL
from kobold_gui.core.story import Story
from kobold_gui.core.storyfiles import dump_story, load_story_bytes
from kobold_gui.ui import file_actions as file_actions_module
from kobold_gui.ui.controller import Controller
from kobold_gui.ui.file_actions import SAVE_FORMATS, FileActions
from kobold_gui.ui.main_window import MainWindow
from kobold_gui.ui.session import install_session

from .conftest import WAIT_MS

LITE_FIXTURE = Path(__file__).resolve().parent.parent / "data" / "formats" / "lite_v339.json"


@pytest.fixture(name="own_dirs", autouse=True)
def own_dirs_fixture(tmp_path, monkeypatch) -> Path:
    """Each test gets its own config/data/state dirs (recent files, journal, session)."""
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return tmp_path


def _let_close(window) -> None:
    """Teardown: close without asking (each test answers the prompts it is about)."""
    fa = window.file_actions
    fa.close_answer = fa.close_answer or "discard"


@pytest.fixture(name="app_window")
def app_window_fixture(qtbot, qloop) -> Iterator[Callable[..., MainWindow]]:
    """Factory: make_window(session=False) -> a shown window with no server, as `kobold-gui`
    builds it (with `session`, its session installed too)."""
    made: list[MainWindow] = []
    controllers: list[Controller] = []

    def factory(*, session: bool = False) -> MainWindow:
        controller = Controller(DEFAULT_URL, None)
        window = MainWindow(controller)
        qtbot.addWidget(window, before_close_func=_let_close)
        window.show()
        qtbot.waitExposed(window)
        if session:
            install_session(window)
        made.append(window)
        controllers.append(controller)
        return window

    yield factory
    for window in made:
        if shiboken6.isValid(window):
            _let_close(window)
            window.close()
            session = window.file_actions.session
            if session is not None:  # kept by its writer thread: done before the dirs go
                session.wait_written(timeout=WAIT_MS / 1000)
    for controller in controllers:
        closing = asyncio.ensure_future(controller.aclose())
        qtbot.waitUntil(closing.done, timeout=WAIT_MS)


@pytest.fixture
def win(app_window):
    return app_window()


def files_of(window) -> FileActions:
    return window.file_actions


def write_in(window, text: str) -> None:
    """What typing or a generation does to the document."""
    window.story.append_segment("user", text)


def stream_in(window, text: str) -> None:
    index = window.story.append_segment("model")
    for piece in text.split(" "):
        window.story.append_text(index, piece + " ")


def wait_idle(qtbot, fa: FileActions) -> None:
    qtbot.waitUntil(lambda: fa.task is None or fa.task.done(), timeout=WAIT_MS)


def choose_file(qtbot, fa: FileActions, path: Path, filter_format: str | None = None) -> None:
    """Pick `path` in the open file dialog, like a user typing it and pressing Enter."""
    qtbot.waitUntil(lambda: fa.file_dialog is not None and fa.file_dialog.isVisible(),
                    timeout=WAIT_MS)
    dialog = fa.file_dialog
    assert dialog is not None
    if filter_format is not None:
        dialog.selectNameFilter(SAVE_FORMATS[filter_format][0])
    dialog.selectFile(str(path))
    dialog.accept()
    wait_idle(qtbot, fa)


def answer(qtbot, fa: FileActions, name: str) -> str:
    qtbot.waitUntil(lambda: fa.question is not None, timeout=WAIT_MS)
    question = fa.question
    assert question is not None
    text = question.text()
    question.answer(name)
    wait_idle(qtbot, fa)
    return text


def save_as(qtbot, window, path: Path, fmt: str = "kobold") -> None:
    fa = files_of(window)
    fa.save_as_action.trigger()
    choose_file(qtbot, fa, path, fmt)


def open_file(qtbot, window, path: Path) -> None:
    fa = files_of(window)
    fa.open_action.trigger()
    choose_file(qtbot, fa, path)


def test_file_menu_has_every_action_with_its_shortcut(win) -> None:
    fa = files_of(win)
    file_menu = win.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions() if not a.isSeparator()]
    assert texts == ["&New", "&Open…", "Open &Recent", "&Save", "Save &As…", "Quit"]
    assert fa.new_action.shortcut() == QKeySequence("Ctrl+N")
    assert fa.open_action.shortcut() == QKeySequence("Ctrl+O")
    assert fa.save_action.shortcut() == QKeySequence("Ctrl+S")
    assert fa.save_as_action.shortcut() == QKeySequence("Ctrl+Shift+S")
    assert fa.recent_menu.actions()[0].text() == "No recent files"
    for a in (fa.new_action, fa.open_action, fa.save_action, fa.save_as_action):
        assert a in win.actions()  # the shortcut works with the menu bar hidden


def test_title_shows_the_file_and_the_unsaved_mark(qtbot, win, tmp_path) -> None:
    assert win.windowTitle() == "Untitled[*] — Kobold GUI"
    assert not win.isWindowModified()
    write_in(win, "Once upon a time")
    assert win.isWindowModified()
    # Save with no file yet is Save As
    files_of(win).save_action.trigger()
    choose_file(qtbot, files_of(win), tmp_path / "tale", "kobold")
    target = tmp_path / "tale.kstory"
    assert storage.load_story(target).text == "Once upon a time"
    assert win.windowTitle() == "tale.kstory[*] — Kobold GUI"
    assert not win.isWindowModified()
    assert win.status_message() == "Saved tale.kstory"

    stream_in(win, "a kobold sang")
    assert win.isWindowModified()
    files_of(win).save_action.trigger()  # straight to the file, no dialog
    wait_idle(qtbot, files_of(win))
    assert files_of(win).file_dialog is None
    assert storage.load_story(target).text == win.story.text
    assert not win.isWindowModified()
    # the version before is the backup
    assert storage.load_story(storage.backup_path(target)).text == "Once upon a time"


def test_open_detects_the_format_from_content_and_save_keeps_it(qtbot, win, tmp_path) -> None:
    original = LITE_FIXTURE.read_bytes()
    disguised = tmp_path / "notes.txt"  # a Lite save whatever its name says
    disguised.write_bytes(original)
    open_file(qtbot, win, disguised)
    expected = load_story_bytes(original)
    assert win.story.text == expected.text
    assert win.story.memory == expected.memory
    assert win.windowTitle() == "notes.txt[*] — Kobold GUI"
    assert files_of(win).format == "lite"

    write_in(win, " The end.")
    files_of(win).save_action.trigger()
    wait_idle(qtbot, files_of(win))
    saved = disguised.read_bytes()
    assert detect(saved) == "lite"  # written back in its own format
    assert load_story_bytes(saved).text == expected.text + " The end."


def test_an_import_gets_a_new_file_on_save(qtbot, win, tmp_path) -> None:
    source = tmp_path / "draft.txt"
    source.write_text("Plain words.\n\nMore words.\n", encoding="utf-8")
    open_file(qtbot, win, source)
    assert "Plain words." in win.story.text
    assert win.windowTitle() == "draft (imported)[*] — Kobold GUI"
    write_in(win, "Added.")
    files_of(win).save_action.trigger()  # asks where: the text file is not rewritten
    choose_file(qtbot, files_of(win), tmp_path / "draft.kstory", "kobold")
    assert source.read_text(encoding="utf-8") == "Plain words.\n\nMore words.\n"
    assert storage.load_story(tmp_path / "draft.kstory").text.endswith("Added.")


def test_new_asks_about_unsaved_changes(qtbot, win, tmp_path) -> None:
    fa = files_of(win)
    write_in(win, "Precious words")
    first = win.story
    fa.new_action.trigger()
    assert "unsaved changes" in answer(qtbot, fa, "cancel")
    assert win.story is first

    fa.new_action.trigger()
    answer(qtbot, fa, "save")
    choose_file(qtbot, fa, tmp_path / "kept.kstory", "kobold")
    assert storage.load_story(tmp_path / "kept.kstory").text == "Precious words"
    assert win.story is not first and win.story.text == ""
    assert win.windowTitle() == "Untitled[*] — Kobold GUI"

    write_in(win, "Throwaway")
    fa.new_action.trigger()
    answer(qtbot, fa, "discard")
    assert win.story.text == "" and not win.isWindowModified()


def test_new_without_changes_does_not_ask(win) -> None:
    fa = files_of(win)
    old = win.story
    fa.new_action.trigger()
    assert fa.question is None and win.story is not old


CORRUPT = {
    "truncated": b'{"format": "kobold_gui.story", "version": 1, "segments": [{"author": "us',
    "foreign": b'{"name": "a config file", "values": [1, 2, 3]}',
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "damaged": b'{"format": "kobold_gui.story", "version": 1, "segments": [{"author": 3}]}',
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_a_bad_file_gives_a_clear_message_and_is_left_untouched(
        qtbot, win, tmp_path, kind) -> None:
    path = tmp_path / f"{kind}.kstory"
    path.write_bytes(CORRUPT[kind])
    write_in(win, "what I had")
    before = win.story
    files_of(win).open_path(path, asked=True)
    wait_idle(qtbot, files_of(win))
    assert win.status_message().startswith(f"Cannot open {kind}.kstory: ")
    assert win.status.last_error == win.status_message()
    assert path.read_bytes() == CORRUPT[kind]
    assert not storage.backup_path(path).exists()
    assert win.story is before and win.story.text == "what I had"


def test_a_newer_format_says_so_and_is_left_untouched(qtbot, win, tmp_path) -> None:
    data = json.dumps({"format": "kobold_gui.story", "version": 99,
                       "segments": [{"author": "user", "text": "from the future"}]}).encode()
    path = tmp_path / "future.kstory"
    path.write_bytes(data)
    files_of(win).open_path(path)
    wait_idle(qtbot, files_of(win))
    message = win.status_message()
    assert "newer Kobold GUI" in message and "version 99" in message
    assert "not changed" in message
    assert path.read_bytes() == data


def test_an_unreadable_or_missing_file_says_why(qtbot, win, tmp_path) -> None:
    files_of(win).open_path(tmp_path / "nowhere.kstory")
    wait_idle(qtbot, files_of(win))
    assert "no longer exists" in win.status_message()
    files_of(win).open_path(tmp_path)
    wait_idle(qtbot, files_of(win))
    assert "folder" in win.status_message()


def test_an_unwritable_target_says_so_and_changes_nothing(qtbot, win, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    write_in(win, "words")
    files_of(win).save_to(blocker / "story.kstory", "kobold")
    wait_idle(qtbot, files_of(win))
    assert win.status_message().startswith("Could not save story.kstory: ")
    assert blocker.read_bytes() == b"not a folder"
    assert win.isWindowModified()
    assert files_of(win).path is None


def test_saving_an_empty_story_over_one_with_text_asks_first(qtbot, win, tmp_path) -> None:
    path = tmp_path / "months.kstory"
    storage.save_story(path, _story("Months of writing"))
    original = path.read_bytes()
    open_file(qtbot, win, path)
    win.story.edit(0, len(win.story), "")  # select all, delete
    fa = files_of(win)
    fa.save_action.trigger()
    text = answer(qtbot, fa, "cancel")
    assert "holds a story with text" in text
    assert path.read_bytes() == original
    assert "Not saved" in win.status_message()
    assert win.isWindowModified()

    fa.save_action.trigger()
    answer(qtbot, fa, "replace")
    assert storage.load_story(path).text == ""
    assert storage.backup_path(path).read_bytes() == original
    assert not win.isWindowModified()


def _story(text: str) -> Story:
    story = Story()
    story.append_segment("user", text)
    return story


def test_save_as_over_another_file_asks_and_keeps_a_backup(qtbot, win, tmp_path) -> None:
    other = tmp_path / "other.kstory"
    storage.save_story(other, _story("another story"))
    before = other.read_bytes()
    write_in(win, "mine")
    fa = files_of(win)
    fa.save_as_action.trigger()
    choose_file(qtbot, fa, other, "kobold")
    assert "already exists" in answer(qtbot, fa, "cancel")
    assert other.read_bytes() == before
    fa.save_as_action.trigger()
    choose_file(qtbot, fa, other, "kobold")
    answer(qtbot, fa, "replace")
    assert storage.load_story(other).text == "mine"
    assert storage.backup_path(other).read_bytes() == before


@pytest.mark.parametrize("fmt", ["markdown", "text"])
def test_markdown_and_text_are_exports_the_document_keeps_its_file(
        qtbot, win, tmp_path, fmt) -> None:
    write_in(win, "Chapter one.")
    save_as(qtbot, win, tmp_path / "book.kstory")
    write_in(win, " More.")
    save_as(qtbot, win, tmp_path / "book", fmt)
    exported = tmp_path / ("book" + SAVE_FORMATS[fmt][1])
    assert exported.read_bytes() == dump_story(win.story, fmt)
    assert files_of(win).path == (tmp_path / "book.kstory").absolute()
    assert win.windowTitle() == "book.kstory[*] — Kobold GUI"
    assert win.isWindowModified()  # the export did not save the document
    assert win.status_message().startswith("Exported book")


def test_save_writes_every_part_of_the_story(qtbot, win, tmp_path) -> None:
    """The copy a save writes off the UI thread once dropped a reply's versions, the
    branches and the mode and world-info options."""
    from story_parts import every_part_story

    story = every_part_story()
    win.set_story(story)
    save_as(qtbot, win, tmp_path / "all.kstory")
    assert storage.load_story(tmp_path / "all.kstory").to_json() == story.to_json()


def test_save_as_lite_writes_a_file_lite_reads(qtbot, win, tmp_path) -> None:
    write_in(win, "For Lite.")
    save_as(qtbot, win, tmp_path / "for-lite", "lite")
    path = tmp_path / "for-lite.json"
    assert detect(path.read_bytes()) == "lite"
    assert files_of(win).format == "lite"
    assert not win.isWindowModified()


def test_open_recent_lists_persists_and_drops_missing_files(
        qtbot, app_window, tmp_path, own_dirs) -> None:
    window = app_window()
    paths = []
    for name in ("a", "b", "c"):
        path = tmp_path / f"{name}.kstory"
        storage.save_story(path, _story(f"story {name}"))
        paths.append(path)
        files_of(window).open_path(path)
        wait_idle(qtbot, files_of(window))
    fa = files_of(window)
    fa.rebuild_recent_menu()
    assert [a.data() for a in fa.recent_menu.actions()] == [str(p) for p in reversed(paths)]
    listing = storage.config_dir() / "recent_files.json"
    assert json.loads(listing.read_bytes())["paths"][0] == str(paths[-1])

    # a second window (the next start) reads the same list and opens from it
    again = app_window()
    recent = files_of(again)
    recent.rebuild_recent_menu()
    recent.recent_menu.actions()[2].trigger()  # "a"
    wait_idle(qtbot, recent)
    assert again.story.text == "story a"

    paths[1].unlink()
    recent.rebuild_recent_menu()
    entry = next(a for a in recent.recent_menu.actions() if a.data() == str(paths[1]))
    entry.trigger()
    wait_idle(qtbot, recent)
    assert "no longer exists" in again.status_message()
    assert "removed from Open Recent" in again.status_message()
    assert str(paths[1]) not in recent.recent.paths()
    assert str(paths[1]) not in json.loads(listing.read_bytes())["paths"]
    assert again.story.text == "story a"


def test_open_recent_keeps_at_most_ten(qtbot, win, tmp_path) -> None:
    fa = files_of(win)
    for number in range(12):
        fa.recent.add(tmp_path / f"s{number}.kstory")
    assert len(fa.recent.paths()) == 10
    assert fa.recent.paths()[0] == str(tmp_path / "s11.kstory")


def test_closing_with_unsaved_changes_asks_first(qtbot, win, tmp_path) -> None:
    fa = files_of(win)
    write_in(win, "unsaved")
    win.close()
    assert win.isVisible()
    text = answer(qtbot, fa, "cancel")
    assert "unsaved changes" in text
    assert win.isVisible()
    # without a session nothing could keep it, so there is no Keep button
    win.close()
    qtbot.waitUntil(lambda: fa.question is not None, timeout=WAIT_MS)
    assert fa.question is not None and "keep" not in fa.question.buttons
    answer(qtbot, fa, "save")
    choose_file(qtbot, fa, tmp_path / "last.kstory", "kobold")
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=WAIT_MS)
    assert storage.load_story(tmp_path / "last.kstory").text == "unsaved"


def test_closing_and_discarding_closes(qtbot, win) -> None:
    write_in(win, "unsaved")
    win.close()
    answer(qtbot, files_of(win), "discard")
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=WAIT_MS)


def test_closing_without_changes_does_not_ask(qtbot, win) -> None:
    win.close()
    assert not win.isVisible() and files_of(win).question is None


def test_reading_and_writing_happen_off_the_ui_thread(qtbot, win, tmp_path, monkeypatch) -> None:
    threads: list[str] = []
    real_read, real_write = (file_actions_module.read_story_file,
                             file_actions_module.write_story_file)

    def read(path):
        threads.append(threading.current_thread().name)
        return real_read(path)

    def write(*args):
        threads.append(threading.current_thread().name)
        return real_write(*args)

    monkeypatch.setattr(file_actions_module, "read_story_file", read)
    monkeypatch.setattr(file_actions_module, "write_story_file", write)
    write_in(win, "x" * 100_000)
    save_as(qtbot, win, tmp_path / "big.kstory")
    files_of(win).open_path(tmp_path / "big.kstory")
    wait_idle(qtbot, files_of(win))
    assert win.story.text == "x" * 100_000
    assert len(threads) == 2 and threading.main_thread().name not in threads


def test_edits_made_while_saving_stay_unsaved(qtbot, win, tmp_path) -> None:
    write_in(win, "first")
    fa = files_of(win)
    fa.save_to(tmp_path / "s.kstory", "kobold")
    write_in(win, " second")  # before the worker thread is done
    wait_idle(qtbot, fa)
    assert storage.load_story(tmp_path / "s.kstory").text == "first"
    assert win.isWindowModified()

