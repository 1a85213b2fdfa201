"""What the window says about itself stays true (issue 6 #13): Ctrl+R ends in an answer, the
old server's facts go with it, long messages end in "…", nothing is sent that the panel refuses,
and the window never gets too small for its words."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

from kobold_gui.ui.main_window import MINIMUM_SIZE
from kobold_gui.ui.plain import tooltip_text
from kobold_gui.ui.status import StatusBar

from .conftest import WAIT_MS, wait_connected


def test_ctrl_r_while_connected_ends_in_connected_not_connecting(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    qtbot.keyClick(window.editor, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert "Connecting" in window.status_message()
    qtbot.waitUntil(lambda: "Connecting" not in window.status_message(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    assert window.status_message().startswith("Connected to")


def test_ctrl_r_with_the_server_gone_ends_in_the_reason(
        qtbot, make_window, closed_port_url) -> None:
    window = make_window(closed_port_url)
    qtbot.waitUntil(lambda: "Cannot reach" in window.status_message(), timeout=WAIT_MS)
    window.reconnect_action.trigger()
    qtbot.waitUntil(lambda: "Connecting" not in window.status_message(), timeout=WAIT_MS)
    assert "Cannot reach" in window.status_message()


def test_speed_and_context_belong_to_the_server_they_came_from(
        qtbot, make_emulator, make_window) -> None:
    first = make_emulator(context_length=8192, token_rate=200.0)
    second = make_emulator(context_length=2048)
    window = make_window(first.url)
    wait_connected(qtbot, window)
    bar = window.status
    assert bar.context.text() == "context 8192"
    window.settings_panel.set_values({"max_length": 80})
    window.editor.set_prompt("Tell me")
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        assert window.generate()
    qtbot.waitUntil(lambda: bar.speed.text().endswith("tok/s"), timeout=WAIT_MS)

    window.url_edit.setText(second.url)
    window.connect_to_server()
    # At once: nothing from the first server is claimed for the second.
    assert bar.speed.text() == "" and not bar.speed.isVisibleTo(bar)
    assert bar.context.text() == "" and bar.model.text() == "no model"
    qtbot.waitUntil(lambda: bar.context.text() == "context 2048", timeout=WAIT_MS)
    assert bar.speed.text() == ""


def test_long_messages_end_in_an_ellipsis_at_a_word_with_all_of_it_in_the_tooltip(
        qtbot) -> None:
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.resize(420, 30)
    bar.show()
    qtbot.waitExposed(bar)
    text = ("Lost the connection to http://127.0.0.1:5001: the server closed the connection "
            "while the answer was being sent, and the recovery could not reach it either")
    bar.show_error(text)
    shown = bar.message.text()
    assert shown.endswith("…") and len(shown) < len(text)
    head = shown.removesuffix("…").rstrip()
    assert text.startswith(head) and text[len(head)] == " "  # cut between words
    assert QFontMetrics(bar.message.font()).horizontalAdvance(shown) <= bar.message.width()
    assert tooltip_text(bar.message) == text
    assert bar.message_text() == text
    bar.resize(2000, 30)
    qtbot.waitUntil(lambda: bar.message.text() == text, timeout=WAIT_MS)


def test_generate_refuses_a_typed_bad_number_and_sends_nothing(qtbot, window, emulator) -> None:
    panel = window.settings_panel
    temperature = panel.widget_for("temperature")
    temperature.setFocus()
    qtbot.keyClick(temperature, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(temperature, "9")
    window.editor.set_prompt("Hello")
    qtbot.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert not window.controller.busy
    assert temperature.text() == "9"
    message = window.status_message()
    assert "Not sent" in message and "Temperature must be between 0 and 5 (got 9)" in message
    assert temperature.hasFocus()  # the field that needs fixing
    assert emulator.generations == [] and emulator.wait_idle(1.0)


def test_the_window_keeps_a_size_where_its_words_fit(qtbot, window) -> None:
    assert window.minimumSize().width() >= MINIMUM_SIZE.width()
    assert window.minimumSize().height() >= MINIMUM_SIZE.height()
    window.resize(200, 150)
    qtbot.waitUntil(lambda: window.width() >= MINIMUM_SIZE.width(), timeout=WAIT_MS)
    assert window.height() >= MINIMUM_SIZE.height()
    for button in (window.generate_button, window.stop_button, window.continue_button,
                   window.connect_button):
        needed = QFontMetrics(button.font()).horizontalAdvance(button.text())
        assert button.isVisible() and button.width() >= needed, button.objectName()
