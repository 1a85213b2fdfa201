"""PromptEditor: Ctrl+Enter and Esc are commands, not text; plain Enter is a newline."""

from __future__ import annotations

from PySide6.QtCore import Qt

from kobold_gui.ui.prompt_editor import PromptEditor


def make(qtbot) -> PromptEditor:
    e = PromptEditor()
    qtbot.addWidget(e)
    e.show()
    e.setFocus()
    return e


def test_ctrl_enter_submits_without_a_newline(qtbot) -> None:
    e = make(qtbot)
    assert e.placeholderText()
    qtbot.keyClicks(e, "Hello")
    for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
        with qtbot.waitSignal(e.submit_requested, timeout=1000):
            qtbot.keyClick(e, key, Qt.KeyboardModifier.ControlModifier)
    assert e.prompt() == "Hello"


def test_enter_is_a_newline_and_esc_asks_to_stop(qtbot) -> None:
    e = make(qtbot)
    qtbot.keyClicks(e, "a")
    qtbot.keyClick(e, Qt.Key.Key_Return)
    qtbot.keyClicks(e, "b")
    assert e.prompt() == "a\nb"
    with qtbot.waitSignal(e.stop_requested, timeout=1000):
        qtbot.keyClick(e, Qt.Key.Key_Escape)
    assert e.prompt() == "a\nb"


def test_set_prompt_is_undoable_and_puts_the_cursor_at_the_end(qtbot) -> None:
    e = make(qtbot)
    qtbot.keyClicks(e, "old")
    e.set_prompt("new text")
    assert e.prompt() == "new text"
    assert e.textCursor().position() == len("new text")
    e.undo()
    assert e.prompt() == "old"
