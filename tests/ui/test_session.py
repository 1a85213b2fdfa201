"""Never lose text (issue 7 #6, window side): the session journal while text streams, the
unsaved story kept between runs, and the offer to restore a session that crashed."""

from __future__ import annotations

import json
from pathlib import Path

from kobold_gui.core import storage
from kobold_gui.core.story import GenerationMeta
from kobold_gui.ui.main_window import MainWindow
from kobold_gui.ui.session import Session, session_file_path

from .conftest import WAIT_MS
from .test_file_actions import (  # noqa: F401  (the fixtures are used by name)
    _story,
    answer,
    app_window_fixture,
    choose_file,
    files_of,
    open_file,
    own_dirs_fixture,
    save_as,
    stream_in,
    wait_idle,
    write_in,
)


def start(app_window) -> tuple[MainWindow, Session]:
    """What `kobold-gui` does at start: a window, then the session."""
    window = app_window(session=True)
    session = window.file_actions.session
    assert session is not None
    return window, session


def journal_bytes() -> bytes:
    path = storage.session_journal_path()
    return path.read_bytes() if path.exists() else b""


def journalled_text() -> str:
    """What a restore would bring back right now."""
    try:
        return storage.replay(storage.session_journal_path()).text
    except (OSError, storage.JournalCorrupt):
        return ""


def crash(session: Session) -> None:
    """What a SIGKILL leaves: the journal file as last flushed, nothing else written."""
    session.timer.stop()
    assert session.journal is not None
    session.journal.flush()
    session.journal._file.close()  # type: ignore[union-attr]
    session.journal._file = None
    session.journal = None
    session.lock.release()  # the kernel drops a dead process's lock
    session.disabled = True  # and a dead process writes nothing more


def quit_app(qtbot, window, choice: str | None = None) -> None:
    """Close the window and wait, as `kobold-gui` does before it exits, for the session to be
    kept (the writer thread writes it)."""
    window.close()
    if choice is not None:
        answer(qtbot, files_of(window), choice)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    session = files_of(window).session
    assert session is not None
    session.wait_written(timeout=WAIT_MS / 1000)


def test_streamed_text_reaches_the_journal_within_a_second(qtbot, app_window) -> None:
    window, session = start(app_window)
    assert session.interval <= 1.0
    index = window.story.append_segment("model")
    window.story.append_text(index, "The first words")  # then the stream goes quiet
    qtbot.waitUntil(lambda: b"The first words" in journal_bytes(), timeout=WAIT_MS)
    window.story.append_text(index, ", and more")
    qtbot.waitUntil(lambda: b"and more" in journal_bytes(), timeout=WAIT_MS)
    assert storage.replay(storage.session_journal_path()).text == window.story.text


def test_journal_lines_cost_the_new_text_not_the_story(qtbot, app_window) -> None:
    window, session = start(app_window)
    write_in(window, "x" * 200_000)
    session.journal.flush()  # type: ignore[union-attr]
    size = len(journal_bytes())
    index = window.story.append_segment("model")
    for _ in range(50):
        window.story.append_text(index, "token ")
    session.journal.flush()  # type: ignore[union-attr]
    assert len(journal_bytes()) - size < 10_000  # 50 tokens, not 50 copies of 200 KB


def test_an_unsaved_story_is_kept_between_runs(qtbot, app_window, tmp_path) -> None:
    window, _session = start(app_window)
    write_in(window, "Chapter one.")
    save_as(qtbot, window, tmp_path / "novel.kstory")
    stream_in(window, "An unsaved reply")
    quit_app(qtbot, window, "keep")
    assert not storage.session_journal_path().exists()  # a clean quit: no restore offer
    assert session_file_path().exists()

    again, session = start(app_window)
    assert session.offer is None
    assert again.story.text == "Chapter one.An unsaved reply "
    assert again.isWindowModified()
    assert again.windowTitle() == "novel.kstory[*] — Kobold GUI"
    # it still belongs to its file: Save writes there
    files_of(again).save_action.trigger()
    wait_idle(qtbot, files_of(again))
    assert storage.load_story(tmp_path / "novel.kstory").text == again.story.text
    # and it is journalled again
    stream_in(again, "more")
    qtbot.waitUntil(lambda: b"more" in journal_bytes(), timeout=WAIT_MS)


def test_a_never_saved_story_comes_back_untitled(qtbot, app_window) -> None:
    window, _ = start(app_window)
    write_in(window, "Never saved")
    quit_app(qtbot, window, "keep")
    again, _ = start(app_window)
    assert again.story.text == "Never saved"
    assert again.windowTitle() == "Untitled[*] — Kobold GUI" and again.isWindowModified()


def test_discarding_at_quit_keeps_nothing(qtbot, app_window) -> None:
    window, _ = start(app_window)
    write_in(window, "Not wanted")
    quit_app(qtbot, window, "discard")
    again, _ = start(app_window)
    assert again.story.text == "" and not again.isWindowModified()


def test_a_saved_story_leaves_no_kept_copy(qtbot, app_window, tmp_path) -> None:
    window, _ = start(app_window)
    write_in(window, "All saved")
    save_as(qtbot, window, tmp_path / "done.kstory")
    quit_app(qtbot, window)  # nothing unsaved: no question
    note = json.loads(session_file_path().read_bytes())
    assert note["story"] is None


def test_after_a_crash_the_next_start_offers_to_restore(qtbot, app_window) -> None:
    window, session = start(app_window)
    write_in(window, "The prompt. ")
    index = window.story.append_segment("model", "", GenerationMeta(model="m"))
    window.story.append_text(index, "half a reply")
    crash(session)

    again, restarted = start(app_window)
    assert restarted.offer is not None
    assert "did not quit normally" in restarted.offer.text()
    assert "interrupted" in restarted.offer.text()
    assert again.story.text == ""  # nothing replaced until the user answers
    restarted.offer.answer("restore")
    assert again.story.text == "The prompt. half a reply"
    last = again.story.segments[-1]
    assert last.author == "model" and last.meta is not None
    assert last.meta.finish_reason == "interrupted"
    assert again.isWindowModified()
    # the restored story is the one journalled now
    assert storage.replay(storage.session_journal_path()).text == again.story.text


def test_discarding_the_offer_sets_the_journal_aside(qtbot, app_window) -> None:
    window, session = start(app_window)
    stream_in(window, "lost words")
    crash(session)
    crashed = journal_bytes()

    again, restarted = start(app_window)
    assert restarted.offer is not None
    restarted.offer.answer("discard")
    assert again.story.text == ""
    aside = [p for p in storage.state_dir().iterdir() if ".discarded-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == crashed
    quit_app(qtbot, again)  # one app at a time: the live journal is its own
    third, last = start(app_window)
    assert last.offer is None  # answered once is enough


def test_an_unanswered_offer_is_offered_again(qtbot, app_window) -> None:
    window, session = start(app_window)
    stream_in(window, "still here")
    crash(session)
    again, restarted = start(app_window)
    assert restarted.offer is not None
    restarted.shutdown()  # quit with the question open
    assert restarted.wait_written(timeout=WAIT_MS / 1000)
    _third, last = start(app_window)
    assert last.offer is not None
    last.offer.answer("restore")
    assert _third.story.text == "still here "


def test_a_crash_restores_the_file_the_story_belonged_to(qtbot, app_window, tmp_path) -> None:
    window, session = start(app_window)
    write_in(window, "Begun.")
    save_as(qtbot, window, tmp_path / "tale.kstory")
    stream_in(window, "then killed")
    crash(session)
    again, restarted = start(app_window)
    assert restarted.offer is not None
    restarted.offer.answer("restore")
    assert again.windowTitle() == "tale.kstory[*] — Kobold GUI"


def test_a_corrupt_journal_is_kept_aside_and_said(qtbot, app_window) -> None:
    path = storage.session_journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    damaged = b'{"op": "snapshot", "story": {"format": "kobold_gui.story", "version": 1}}\n' \
              b'\x00\x00garbage\n{"op": "text", "index": 0, "text": "x"}\n'
    path.write_bytes(damaged)
    window, session = start(app_window)
    assert session.offer is None
    message = window.status_message()
    assert "Could not read the journal of the interrupted session" in message
    assert "kept as" in message
    aside = [p for p in storage.state_dir().iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == damaged
    stream_in(window, "new text")  # and the new session is journalled
    qtbot.waitUntil(lambda: "new text" in journalled_text(), timeout=WAIT_MS)


def test_a_damaged_kept_session_is_kept_aside(qtbot, app_window) -> None:
    path = session_file_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"format": "kobold_gui.session", "story": {"format": "kobold_gui.st')
    window, _ = start(app_window)
    assert "kept as" in window.status_message()
    assert any(".damaged-" in p.name for p in storage.state_dir().iterdir())


def test_opening_and_saving_keep_journalling(qtbot, app_window, tmp_path) -> None:
    storage.save_story(tmp_path / "big.kstory", _story("y" * 300_000))
    window, session = start(app_window)
    open_file(qtbot, window, tmp_path / "big.kstory")
    assert storage.replay(storage.session_journal_path()).text == "y" * 300_000
    assert not Path(str(storage.session_journal_path()) + ".new").exists()
    save_as(qtbot, window, tmp_path / "copy.kstory")
    stream_in(window, "after saving")
    qtbot.waitUntil(lambda: "after saving" in journalled_text(), timeout=WAIT_MS)
    assert storage.replay(storage.session_journal_path()).text == window.story.text
    files_of(window).new_action.trigger()
    answer(qtbot, files_of(window), "discard")
    assert storage.replay(storage.session_journal_path()).text == ""


def test_opening_lets_the_old_journal_go_off_the_ui_thread(qtbot, app_window, tmp_path,
                                                          monkeypatch) -> None:
    """Issue 9: the replaced story's journal was flushed and fsynced on the UI thread while a
    big story opened; the writer thread closes it now, and the journal on disk is the new
    story's from the moment it shows."""
    import threading

    storage.save_story(tmp_path / "other.kstory", _story("The other story"))
    window, session = start(app_window)
    stream_in(window, "streamed before opening")
    old = session.journal
    assert old is not None
    closed_on: list[str] = []
    real_close = storage.Journal.close

    def spying(self) -> None:
        if self is old:
            closed_on.append(threading.current_thread().name)
        real_close(self)

    monkeypatch.setattr(storage.Journal, "close", spying)
    files_of(window).open_action.trigger()
    answer(qtbot, files_of(window), "discard")  # the streamed text is not saved
    choose_file(qtbot, files_of(window), tmp_path / "other.kstory")
    wait_idle(qtbot, files_of(window))
    assert storage.replay(storage.session_journal_path()).text == "The other story"
    qtbot.waitUntil(lambda: bool(closed_on), timeout=WAIT_MS)
    assert closed_on == [closed_on[0]] and closed_on[0] != threading.main_thread().name
    assert old._file is None  # closed, nothing left open
    stream_in(window, "and after")
    assert window.story.text.startswith("The other story") and "after" in window.story.text
    qtbot.waitUntil(lambda: journalled_text() == window.story.text, timeout=WAIT_MS)


def test_a_second_app_leaves_the_first_ones_session_alone(qtbot, app_window) -> None:
    first, session = start(app_window)
    stream_in(first, "live words")
    qtbot.waitUntil(lambda: "live words" in journalled_text(), timeout=WAIT_MS)
    second, other = start(app_window)
    assert other.disabled and other.offer is None
    assert "Another Kobold GUI is running" in second.status_message()
    write_in(second, "second window text")
    quit_app(qtbot, second, "discard")
    assert journalled_text() == first.story.text  # untouched by the second app
    assert not any(".discarded-" in p.name for p in storage.state_dir().iterdir())


def test_the_kept_story_has_every_part(qtbot, app_window) -> None:
    """What is kept at quit is the story: its segments (the one still streaming too), memory,
    the versions of a retried reply, the branches, the mode and the options."""
    from story_parts import every_part_story

    window, _ = start(app_window)
    story = every_part_story()
    window.set_story(story)
    expected = story.to_json()
    quit_app(qtbot, window, "keep")
    again, _ = start(app_window)
    assert again.story.to_json() == expected
    assert again.story.branches == story.branches
    assert again.story.all_alternatives == story.all_alternatives


def test_closing_encodes_the_story_off_the_ui_thread(qtbot, app_window, monkeypatch) -> None:
    """Issue 9: keeping a 10 MB story at quit froze the window ~250 ms; the UI thread now only
    copies it, and the writer thread encodes and writes it."""
    import threading

    from kobold_gui.core.story import Story

    threads: list[str] = []
    real = Story.to_dict  # where every encoding of a story starts

    def spying(self) -> dict:
        threads.append(threading.current_thread().name)
        return real(self)

    window, _ = start(app_window)
    write_in(window, "Encoded elsewhere")
    with monkeypatch.context() as patched:
        patched.setattr(Story, "to_dict", spying)
        quit_app(qtbot, window, "keep")
    assert threads and threading.main_thread().name not in threads
    assert "Encoded elsewhere" in json.loads(session_file_path().read_bytes())["story"][
        "segments"][0]["text"]


def test_the_journal_stays_until_the_kept_story_is_on_disk(qtbot, app_window,
                                                           monkeypatch) -> None:
    """The window is gone at once, the writing goes on: killed meanwhile, the journal is still
    there for a restore; it goes only once session.json is written."""
    import threading

    real = storage.atomic_write
    release = threading.Event()

    def slow(path, data, backup=True) -> None:
        assert release.wait(WAIT_MS / 1000)
        real(path, data, backup)

    window, session = start(app_window)
    stream_in(window, "Slowly kept")
    assert session.journal is not None
    session.journal.flush()  # as the timer does within a second
    monkeypatch.setattr(storage, "atomic_write", slow)
    try:
        window.close()
        answer(qtbot, files_of(window), "keep")
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
        assert session.written is not None and not session.written.done()
        assert journalled_text() == "Slowly kept "  # what a restore after a kill brings back
    finally:
        release.set()
    assert session.wait_written(timeout=WAIT_MS / 1000)
    assert not storage.session_journal_path().exists()
    kept = json.loads(session_file_path().read_bytes())["story"]
    assert "Slowly kept" in kept["segments"][-1]["text"]


def test_if_the_kept_story_cannot_be_written_the_journal_stays(qtbot, app_window,
                                                               monkeypatch) -> None:
    window, session = start(app_window)
    stream_in(window, "Nowhere to go")
    window.story.append_text(len(window.story.segments) - 1, " and the last words")

    def full(path, data, backup=True) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(storage, "atomic_write", full)
        quit_app(qtbot, window, "keep")
        assert session.wait_written() is False
    # the journal holds everything, even the lines not flushed before the close
    assert journalled_text() == "Nowhere to go  and the last words"
    again, restarted = start(app_window)
    assert restarted.offer is not None
    restarted.offer.answer("restore")
    assert again.story.text == "Nowhere to go  and the last words"
