"""Retry, reply versions and branches in the window, against the emulator: every version is
kept (not just 3), Alt+Left / Alt+Right show each with "k / n" beside the buttons, the versions
survive save and reopen (.kstory and Lite .json), undo takes back a flip and a retry, a branch
from a reply and back."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from kobold_gui.core.storyfiles import dump_story, load_story_bytes
from kobold_gui.emulator import Faults

from .conftest import WAIT_MS, wait_connected

PROMPT = "Once upon a time"
ALT = Qt.KeyboardModifier.AltModifier
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def generate(qtbot, window, text: str) -> None:
    window.editor.set_prompt(text)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        qtbot.keyClick(window.editor, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)


def retry(qtbot, window, max_length: int) -> None:
    """Ctrl+Shift+R; a different length each time, as the emulator's text is deterministic."""
    window.settings_panel.set_values({"max_length": max_length})
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        qtbot.keyClick(window.output, Qt.Key.Key_R, CTRL | SHIFT)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)


def versions_of(window) -> str:
    return window.retry_actions.version_label.text()


def retried_three_times(qtbot, window) -> list[str]:
    """A reply and three retries; the four reply texts, oldest first."""
    window.settings_panel.set_values({"max_length": 3})
    generate(qtbot, window, PROMPT)
    texts = [window.story.text[len(PROMPT):]]
    for length in (5, 7, 9):
        retry(qtbot, window, length)
        texts.append(window.story.text[len(PROMPT):])
    assert len(set(texts)) == 4
    return texts


def test_retry_three_times_keeps_four_versions_and_alt_arrows_show_each(
        qtbot, window) -> None:
    texts = retried_three_times(qtbot, window)
    assert versions_of(window) == "4 / 4"
    assert window.retry_actions.version_label.accessibleName() == "Reply version 4 of 4"
    assert window.output.plain_text() == PROMPT + texts[3]
    window.output.setFocus()
    seen = []
    for _ in range(3):
        qtbot.keyClick(window.output, Qt.Key.Key_Left, ALT)
        seen.append((window.output.plain_text(), versions_of(window)))
    assert seen == [(PROMPT + texts[2], "3 / 4"), (PROMPT + texts[1], "2 / 4"),
                    (PROMPT + texts[0], "1 / 4")]
    assert not window.retry_actions.previous_action.isEnabled()
    qtbot.keyClick(window.output, Qt.Key.Key_Right, ALT)
    assert window.output.plain_text() == PROMPT + texts[1]
    window.undo_action.trigger()  # takes back the flip
    assert window.story.text == PROMPT + texts[0]
    for _ in range(3):
        window.undo_action.trigger()
    assert window.story.text == PROMPT + texts[3]
    window.undo_action.trigger()  # the last retry, as one step
    assert window.story.text == PROMPT + texts[2] and versions_of(window) == "3 / 3"


def test_every_version_survives_save_and_reopen(qtbot, window, tmp_path: Path) -> None:
    texts = retried_three_times(qtbot, window)
    window.retry_actions.flip(-1)
    for fmt, name in (("kobold", "story.kstory"), ("lite", "story.json")):
        path = tmp_path / name
        path.write_bytes(dump_story(window.story, fmt))
        window.set_story(load_story_bytes(path.read_bytes()))
        assert window.story.text == PROMPT + texts[2]
        assert versions_of(window) == "3 / 4", fmt
        shown = []
        for index in range(4):
            reply = window.story.last_reply()
            assert reply is not None
            window.story.show_version(reply, index)
            shown.append(window.output.plain_text()[len(PROMPT):])
        assert shown == texts, fmt
        window.story.show_version(window.story.last_reply() or 0, 2)


def test_the_version_under_the_cursor_is_the_one_flipped(qtbot, window) -> None:
    texts = retried_three_times(qtbot, window)
    generate(qtbot, window, " Next")
    assert window.retry_actions.version_text() == ""  # the last reply has one version
    cursor = window.output.textCursor()
    cursor.setPosition(len(PROMPT) + 2)
    window.output.setTextCursor(cursor)
    assert versions_of(window) == "4 / 4"
    qtbot.keyClick(window.output, Qt.Key.Key_Left, ALT)
    assert window.story.text.startswith(PROMPT + texts[2] + " Next")


def test_branch_from_a_reply_and_switch_back(qtbot, window) -> None:
    window.settings_panel.set_values({"max_length": 4})
    generate(qtbot, window, PROMPT)
    first = window.story.text
    generate(qtbot, window, " Then")
    whole = window.story.text
    cursor = window.output.textCursor()
    cursor.setPosition(len(PROMPT) + 1)  # in the first reply
    window.output.setTextCursor(cursor)
    window.output.setFocus()
    qtbot.keyClick(window.output, Qt.Key.Key_B, CTRL)
    assert window.story.text == first
    assert window.output.plain_text() == first
    assert window.retry_actions.branch_label.text() == "branch 2 of 2"
    generate(qtbot, window, " Elsewhere")
    other = window.story.text
    menu = window.retry_actions.branches_menu
    menu.aboutToShow.emit()
    entries = [a for a in menu.actions() if a.isCheckable()]
    assert [a.text() for a in entries] == ["Branch 1", "Branch 2"]
    assert entries[1].isChecked()
    entries[0].trigger()
    assert window.story.text == whole and window.output.plain_text() == whole
    window.retry_actions.switch(1)
    assert window.story.text == other


def test_a_retry_stopped_before_any_text_puts_the_shown_version_back(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(faults=Faults(prompt_delay=1.0))
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 4})
    generate(qtbot, window, PROMPT)
    before = window.story.text
    window.retry_actions.retry_action.trigger()
    assert window.story.text == PROMPT  # the shown reply is taken out for the new one
    qtbot.waitUntil(lambda: window.controller.generation is not None, timeout=WAIT_MS)
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)
    assert window.story.text == before
    assert versions_of(window) == ""


def test_a_stopped_retry_is_busy_until_its_end_is_handled(
        qtbot, make_emulator, make_window, monkeypatch) -> None:
    """The generation task has ended but the controller's end handling (a done-callback,
    which the event loop runs later: on a loaded machine a wait may look in between) has not
    run yet: the controller is still busy and nothing new starts, so whoever waits for
    "not busy" sees the shown version back, never the story with the reply taken out."""
    emu = make_emulator(faults=Faults(prompt_delay=1.0))
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 4})
    generate(qtbot, window, PROMPT)
    before = window.story.text
    controller = window.controller
    ended = []
    handle_end = controller._on_done
    monkeypatch.setattr(controller, "_on_done", ended.append)  # held back until we say so
    window.retry_actions.retry_action.trigger()
    qtbot.waitUntil(lambda: controller.generation is not None, timeout=WAIT_MS)
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: bool(ended), timeout=WAIT_MS)  # the task is done
    assert window.story.text == PROMPT
    assert controller.busy
    assert not controller.retry(window.settings_panel.values())
    assert not controller.generate("More", window.settings_panel.values())
    handle_end(ended[0])
    assert not controller.busy
    assert window.story.text == before and window.output.plain_text() == before
    assert versions_of(window) == ""
    assert window.retry_actions.retry_action.isEnabled()


def test_retry_without_a_reply_at_the_end_says_so(qtbot, window) -> None:
    window.story.append_segment("user", "Just my text")
    assert not window.retry_actions.retry_action.isEnabled()
    assert not window.retry_actions.retry()
    assert "no reply" in window.status_message()


def test_while_a_retry_streams_the_bar_waits_and_is_right_at_the_end(
        qtbot, make_emulator, make_window) -> None:
    """The bar is not refreshed for every streamed token (it cannot change with one); what
    the reader does meanwhile still shows, and the end brings it up to date."""
    emu = make_emulator(token_rate=40.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 3})
    generate(qtbot, window, PROMPT)
    generate(qtbot, window, " Then")  # a second reply, so the first stays where it is
    window.settings_panel.set_values({"max_length": 3})
    retry(qtbot, window, 4)  # the last reply now has two versions
    window.settings_panel.set_values({"max_length": 40})
    window.retry_actions.retry_action.trigger()  # a third, streamed slowly
    qtbot.waitUntil(lambda: len(window.story.text) > len(PROMPT) + 20, timeout=WAIT_MS)
    actions = window.retry_actions
    assert window.controller.busy and not actions.previous_action.isEnabled()
    cursor = window.output.textCursor()
    cursor.setPosition(len(PROMPT) + 1)  # the reader clicks into the first reply
    window.output.setTextCursor(cursor)
    assert versions_of(window) == ""  # it has one version
    cursor.setPosition(len(window.output.toPlainText()))  # ... and back to the streaming one
    window.output.setTextCursor(cursor)
    assert versions_of(window) == "3 / 3"
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)
    assert versions_of(window) == "3 / 3"
    assert actions.previous_action.isEnabled() and actions.retry_action.isEnabled()
