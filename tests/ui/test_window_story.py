"""The story in the view: Continue carries it on in place, and failures leave a mark outside it
(issue 6 #13)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from kobold_gui.core.generation import ResilienceConfig
from kobold_gui.core.retry import RetryPolicy
from kobold_gui.emulator import Faults

from .conftest import WAIT_MS, wait_connected

PROMPT = "The dragon said: "


def press(qtbot, window, *, shift: bool = False) -> None:
    mods = Qt.KeyboardModifier.ControlModifier
    if shift:
        mods |= Qt.KeyboardModifier.ShiftModifier
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        qtbot.keyClick(window.editor, Qt.Key.Key_Return, mods)


def test_continue_twice_carries_on_the_same_story_without_copies(
        qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 12})
    window.editor.set_prompt(PROMPT)
    press(qtbot, window)
    emulator.wait_idle(5.0)
    gen1 = emulator.expected_text(PROMPT, 12)
    press(qtbot, window, shift=True)
    emulator.wait_idle(5.0)
    gen2 = emulator.expected_text(PROMPT + gen1, 12)
    press(qtbot, window, shift=True)
    emulator.wait_idle(5.0)
    gen3 = emulator.expected_text(PROMPT + gen1 + gen2, 12)

    # The server got the story so far each time ...
    assert [g.prompt for g in emulator.generations] == [
        PROMPT, PROMPT + gen1, PROMPT + gen1 + gen2]
    # ... and the view (what Select All copies) holds it once.
    story = PROMPT + gen1 + gen2 + gen3
    assert window.output.plain_text() == story
    assert window.output.shown_text() == story
    assert window.story.text == story
    # one segment for the prompt, one per generation: nothing copied
    assert [(seg.author, seg.text) for seg in window.story.segments] == [
        ("user", PROMPT), ("model", gen1), ("model", gen2), ("model", gen3)]
    assert window.last_reply() == gen3
    # The prompt stays muted and the continuation is in the generated colour.
    cursor = QTextCursor(window.output.document())
    cursor.setPosition(3)
    muted = cursor.charFormat().foreground().color()
    cursor.setPosition(window.output.document().characterCount() - 2)
    assert cursor.charFormat().foreground().color() != muted


def test_failed_generation_leaves_a_mark_outside_the_story(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(faults=Faults(busy_first=100))
    config = ResilienceConfig(stall_after=0.3, poll_interval=0.1,
                              retry=RetryPolicy(base_delay=0.1, max_delay=0.2, max_attempts=1))
    window = make_window(emu.url, config=config)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 12})
    window.editor.set_prompt(PROMPT)
    with qtbot.waitSignal(window.controller.generation_failed, timeout=WAIT_MS):
        assert window.generate()
    marks = window.output.marks()
    assert len(marks) == 1 and marks[0].startswith("[generation failed: ")
    assert "busy" in marks[0]
    assert window.output.shown_text() == PROMPT + "\n" + marks[0]
    assert window.output.plain_text() == PROMPT  # the mark is not part of the story
    assert window.story.text == PROMPT
    cursor = QTextCursor(window.output.document())
    cursor.setPosition(window.output.document().characterCount() - 2)
    assert cursor.charFormat().fontItalic()


def test_stop_before_any_text_is_marked_and_continue_replaces_the_mark(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(faults=Faults(prompt_delay=30.0))
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 12})
    window.editor.set_prompt(PROMPT)
    assert window.generate()
    # The request reached the server, which is still reading the prompt (no text yet).
    qtbot.waitUntil(lambda: window.state_text() not in ("connected", "connecting"),
                    timeout=WAIT_MS)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS) as done:
        window.stop()
    assert done.args[0].stopped and done.args[0].text == ""
    assert window.output.marks() == ["[stopped before any text]"]
    assert window.output.plain_text() == PROMPT

    emu.wait_idle(10.0)
    emu.faults = Faults()
    press(qtbot, window, shift=True)
    expected = emu.expected_text(PROMPT, 12)
    assert window.output.marks() == []
    assert window.output.shown_text() == PROMPT + expected == window.output.plain_text()
