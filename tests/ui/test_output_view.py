"""OutputView: appends at the end, leaves the user's cursor alone, follows only at the bottom."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

from kobold_gui.ui.output_view import OutputView


@pytest.fixture
def view(qtbot) -> OutputView:
    v = OutputView()
    qtbot.addWidget(v)
    v.resize(500, 300)
    v.show()
    qtbot.waitExposed(v)
    return v


def color_at(view: OutputView, pos: int) -> str:
    c = QTextCursor(view.document())
    c.setPosition(pos)
    return c.charFormat().foreground().color().name()


def test_prompt_muted_then_generated_then_recovered(view: OutputView) -> None:
    assert view.isReadOnly() and not view.isUndoRedoEnabled()
    view.begin_generation("Prompt: ")
    view.append_generated("héllo 🙂 ")
    view.append_recovered("wörld")
    assert view.plain_text() == "Prompt: héllo 🙂 wörld"
    assert view.last_prompt() == "Prompt: "
    assert view.last_generated() == "héllo 🙂 wörld"
    muted, normal = color_at(view, 3), color_at(view, len("Prompt: ") + 2)
    assert muted != normal
    recovered = QTextCursor(view.document())
    recovered.setPosition(view.document().characterCount() - 2)
    assert recovered.charFormat().background().color().alpha() > 0
    assert recovered.charFormat().toolTip()


def test_second_generation_starts_on_a_new_paragraph(view: OutputView) -> None:
    view.begin_generation("A")
    view.append_generated("b")
    view.begin_generation("C")
    view.append_generated("d")
    assert view.plain_text() == "Ab\n\nCd"
    assert view.last_generated() == "d"
    view.clear_output()
    assert view.plain_text() == "" and view.last_generated() == ""
    view.begin_generation("E")
    assert view.plain_text() == "E"


def test_appends_never_reset_or_read_the_whole_text(view: OutputView, monkeypatch) -> None:
    def forbidden(*_a: object) -> None:
        raise AssertionError("the hot path must not copy or replace the whole document")

    view.begin_generation("x" * 1000)
    for name in ("setPlainText", "toPlainText", "appendPlainText", "plain_text"):
        monkeypatch.setattr(OutputView, name, forbidden)
        monkeypatch.setattr(QPlainTextEdit, name, forbidden, raising=False)
    for i in range(500):
        view.append_generated(f"token{i} ")
    monkeypatch.undo()
    assert view.plain_text().endswith("token499 ")


def test_user_selection_and_cursor_are_left_alone(view: OutputView) -> None:
    view.begin_generation("The quick brown fox")
    c = view.textCursor()
    c.setPosition(4)
    c.setPosition(9, QTextCursor.MoveMode.KeepAnchor)
    view.setTextCursor(c)
    for _ in range(50):
        view.append_generated(" jumps")
    sel = view.textCursor()
    assert (sel.selectionStart(), sel.selectionEnd(), sel.selectedText()) == (4, 9, "quick")


def test_follows_the_stream_only_when_at_the_bottom(qtbot, view: OutputView) -> None:
    bar = view.verticalScrollBar()
    view.begin_generation("start\n")
    for i in range(80):
        view.append_generated(f"line {i}\n")
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    assert bar.value() == bar.maximum()  # followed while at the bottom

    bar.setValue(0)  # the user scrolls up to read
    for i in range(40):
        view.append_generated(f"more {i}\n")
    assert bar.value() == 0

    bar.setValue(bar.maximum())  # back at the bottom: follow again
    for i in range(40):
        view.append_generated(f"again {i}\n")
    assert bar.value() == bar.maximum()


def test_font_choice(view: OutputView) -> None:
    view.set_font_kind("mono")
    assert view.font().styleHint().name == "Monospace"
    view.set_font_kind("serif")
    assert view.font().pointSizeF() >= 11


def test_wide_views_keep_a_reading_column(qtbot, view: OutputView) -> None:
    from kobold_gui.ui.output_view import READING_WIDTH

    view.resize(READING_WIDTH + 400, 300)
    qtbot.waitUntil(lambda: view.viewportMargins().left() == 200)
    assert view.viewportMargins().right() == 200
    view.resize(500, 300)
    qtbot.waitUntil(lambda: view.viewportMargins().left() == 0)
