"""The window as a user meets it: type, Ctrl+Enter, watch text stream in, Esc, errors, password."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from kobold_gui.core.events import ConnectionState
from kobold_gui.ui.plain import tooltip_text
from kobold_gui.ui.status import ERROR_COLOR, STATE_COLORS

from .conftest import WAIT_MS, wait_connected

PROMPT = "The dragon said: "  # the emulator answers it with ö and an emoji (4-byte UTF-8)


def type_prompt(qtbot, window, text: str) -> None:
    window.editor.setFocus()
    qtbot.keyClicks(window.editor, text)
    assert window.editor.prompt() == text


def press_generate(qtbot, window) -> None:
    qtbot.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_title_icon_and_layout(window) -> None:
    assert window.windowTitle() == "Untitled[*] — Kobold GUI"  # the document, then the app
    assert not window.windowIcon().isNull()
    assert window.width() >= 1000 and window.height() >= 650
    assert window.settings_dock.isVisible()
    # output above the prompt editor in a vertical splitter
    assert window.output.mapTo(window, window.output.rect().topLeft()).y() < \
        window.editor.mapTo(window, window.editor.rect().topLeft()).y()


def test_ctrl_enter_streams_the_servers_text_after_the_prompt(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=250.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 60})
    type_prompt(qtbot, window, PROMPT)
    batches: list[str] = []
    window.controller.text_appended.connect(batches.append)

    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS) as done:
        press_generate(qtbot, window)
        assert window.controller.busy

    expected = emu.expected_text(PROMPT, 60)
    assert "🙂" in expected and "ö" in expected  # the case worth testing: multi-byte text
    record = emu.last_generation
    assert record is not None and record.prompt == PROMPT and record.max_length == 60
    assert record.text == expected
    assert done.args[0].text == expected
    assert "".join(batches) == expected
    assert len(batches) > 1, "text should arrive in several batches, not all at the end"
    assert window.last_reply() == expected
    assert window.output.plain_text() == PROMPT + expected
    assert window.editor.prompt() == ""  # the prompt went into the story, no newline typed
    assert [(s.author, s.text) for s in window.story.segments] == [
        ("user", PROMPT), ("model", expected)]

    # the prompt is shown muted, the generated text in the normal colour
    cursor = QTextCursor(window.output.document())
    cursor.setPosition(2)
    prompt_color = cursor.charFormat().foreground().color()
    cursor.setPosition(len(PROMPT) + 3)
    generated_color = cursor.charFormat().foreground().color()
    assert prompt_color != generated_color
    assert qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS) is None
    assert "Done" in window.status_message()


def test_second_generation_carries_the_story_on(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 12})
    for prompt in ("First prompt.", " Second prompt."):
        window.editor.set_prompt(prompt)
        with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
            press_generate(qtbot, window)
        emulator.wait_idle(5.0)
    first = emulator.expected_text("First prompt.", 12)
    story = f"First prompt.{first} Second prompt."
    second = emulator.expected_text(story, 12)
    # The second request is the whole story, the new prompt appended verbatim.
    assert emulator.last_generation.prompt == story
    assert window.output.plain_text() == story + second == window.story.text


def test_escape_stops_mid_stream_and_keeps_the_text(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=25.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 300})
    type_prompt(qtbot, window, "Tell me a long story")
    press_generate(qtbot, window)
    qtbot.waitUntil(lambda: len(window.last_reply()) > 10, timeout=WAIT_MS)
    assert window.stop_action.isEnabled()

    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS) as done:
        qtbot.keyClick(window.editor, Qt.Key.Key_Escape)

    record = emu.last_generation
    assert record is not None
    qtbot.waitUntil(lambda: record.state == "done", timeout=WAIT_MS)
    assert record.aborted_by == "abort"
    assert emu.wait_idle(5.0), "nothing may keep generating on the server after Stop"
    assert len(record.tokens) < 300
    finished = done.args[0]
    assert finished.stopped
    shown = window.last_reply()
    assert shown and shown == finished.text
    assert record.text.startswith(shown)
    assert window.output.plain_text() == "Tell me a long story" + shown
    assert window.generate_action.isEnabled() and not window.stop_action.isEnabled()
    assert "stopped" in window.status_message()


def test_generate_is_disabled_while_busy(qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=40.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 400})
    assert window.generate_action.isEnabled() and not window.stop_action.isEnabled()
    type_prompt(qtbot, window, "Busy test")
    press_generate(qtbot, window)
    assert not window.generate_action.isEnabled()
    assert not window.generate_button.isEnabled()
    assert window.stop_action.isEnabled() and window.stop_button.isEnabled()
    qtbot.waitUntil(lambda: window.last_reply() != "", timeout=WAIT_MS)
    press_generate(qtbot, window)  # ignored: one generation at a time
    assert window.generate() is False
    qtbot.wait(100)
    assert len(emu.generations) == 1
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    assert window.generate_action.isEnabled() and not window.stop_action.isEnabled()


def test_users_selection_survives_streaming(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 40})
    window.editor.set_prompt("Alpha beta gamma delta.")
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        press_generate(qtbot, window)
    emulator.wait_idle(5.0)

    view = window.output
    cursor = view.textCursor()
    cursor.setPosition(6)
    cursor.setPosition(16, QTextCursor.MoveMode.KeepAnchor)
    view.setTextCursor(cursor)
    assert view.textCursor().selectedText() == "beta gamma"

    window.editor.set_prompt("More please.")
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        press_generate(qtbot, window)
    selection = view.textCursor()
    assert (selection.selectionStart(), selection.selectionEnd()) == (6, 16)
    assert selection.selectedText() == "beta gamma"
    story = "Alpha beta gamma delta." + emulator.generations[0].text + "More please."
    assert emulator.last_generation.prompt == story
    assert view.plain_text() == story + emulator.expected_text(story, 40)


def test_status_bar_shows_model_and_context_after_connecting(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(model="Tiefighter-13B.Q5_K_M", context_length=8192)
    window = make_window(emu.url)
    qtbot.waitUntil(lambda: "Tiefighter-13B" in window.status.model.text(), timeout=WAIT_MS)
    assert window.status.model.text() == "koboldcpp/Tiefighter-13B.Q5_K_M"
    assert window.state_text() == "connected"
    assert window.status.indicator.dot.color().name() == STATE_COLORS[ConnectionState.CONNECTED]
    assert "8192" in window.status.context.text()
    ctx_spin = window.settings_panel.widget_for("max_context_length")
    assert ctx_spin.maximum() == 8192


def test_server_down_shows_offline_and_a_readable_message(
        qtbot, make_window, closed_port_url) -> None:
    window = make_window(closed_port_url)
    qtbot.waitUntil(lambda: "Cannot reach" in window.status_message(), timeout=WAIT_MS)
    assert window.state_text() == "offline"
    assert closed_port_url in window.status_message()
    assert window.status.indicator.dot.color().name() == ERROR_COLOR
    assert "Cannot reach" in tooltip_text(window.status.indicator)
    assert window.status.model.text() == "no model"


def test_invalid_number_shows_an_error_and_sends_nothing(qtbot, window, emulator) -> None:
    panel = window.settings_panel
    panel.set_values({"temperature": 9.0})  # e.g. from a hand-edited preset
    assert panel.widget_for("temperature").property("invalid") is True
    assert panel.error_labels["temperature"].isVisible()
    type_prompt(qtbot, window, "Should not be sent")
    press_generate(qtbot, window)
    assert not window.controller.busy
    assert "Temperature must be between 0 and 5" in window.status_message()
    qtbot.wait(200)
    assert emulator.generations == []
    assert window.output.plain_text() == ""


def test_bad_json_and_bad_sampler_order_are_refused(qtbot, window, emulator) -> None:
    panel = window.settings_panel
    panel.reveal("logit_bias")
    bias = panel.widget_for("logit_bias")
    qtbot.keyClicks(bias, '{"42": oops')
    assert bias.property("invalid") is True
    assert "not valid JSON" in panel.error_labels["logit_bias"].text()
    window.editor.set_prompt("Should not be sent")
    press_generate(qtbot, window)
    assert "Logit bias must be a JSON object" in window.status_message()

    bias.clear()
    qtbot.keyClicks(bias, '{"42": -5}')
    assert bias.property("invalid") is False
    order = panel.widget_for("sampler_order")
    panel.reveal("sampler_order")
    for row in range(order.list.count()):  # every sampler switched off, by the keyboard
        order.list.setCurrentRow(row)
        qtbot.keyClick(order.list, Qt.Key.Key_Space)
    assert panel.values()["sampler_order"] == []
    assert order.property("invalid") is True
    assert window.generate() is False
    assert "Sampler order" in window.status_message()
    qtbot.wait(200)
    assert emulator.generations == []


def test_max_tokens_must_fit_the_context(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 3000, "max_context_length": 2048})
    window.editor.set_prompt("x")
    assert window.generate() is False
    assert "smaller than the context size" in window.status_message()
    assert emulator.generations == []


def test_password_protected_server(qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(password="s3cret", model="Secret-Model")
    window = make_window(emu.url)
    qtbot.waitUntil(lambda: "password" in window.status_message().lower(), timeout=WAIT_MS)
    assert window.state_text() == "offline"
    assert "needs a password" in window.status_message()
    assert window.password_edit.property("invalid") is True

    qtbot.keyClicks(window.password_edit, "s3cret")
    qtbot.keyClick(window.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    assert window.status.model.text() == "koboldcpp/Secret-Model"
    assert window.password_edit.property("invalid") is False
    assert "password" not in window.status_message().lower()

    window.settings_panel.set_values({"max_length": 8})
    window.editor.set_prompt("Hi")
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        press_generate(qtbot, window)
    assert window.last_reply() == emu.expected_text("Hi", 8)


def test_wrong_password_is_reported(qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(password="s3cret")
    window = make_window(emu.url, password="wrong")
    qtbot.waitUntil(lambda: "rejected the password" in window.status_message(), timeout=WAIT_MS)
    assert window.state_text() == "offline"


def test_continue_sends_the_story_so_far(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 10})
    window.editor.set_prompt("Start.")
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        press_generate(qtbot, window)
    emulator.wait_idle(5.0)
    first = window.last_reply()
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        qtbot.keyClick(window.editor, Qt.Key.Key_Return,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.editor.prompt() == ""
    assert emulator.last_generation.prompt == "Start." + first
    assert window.last_reply() == emulator.expected_text("Start." + first, 10)


def test_stop_sequence_typed_with_an_escape_reaches_the_server(qtbot, window, emulator) -> None:
    stops = window.settings_panel.widget_for("stop_sequence").line  # the row being typed
    stops.setFocus()
    qtbot.keyClicks(stops, "\\nUser:")
    assert window.settings_panel.values()["stop_sequence"] == ["\nUser:"]
    window.settings_panel.set_values({"max_length": 8})
    window.editor.set_prompt("Hello")
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        press_generate(qtbot, window)
    assert emulator.last_generation.stop_sequence == ["\nUser:"]


def test_shortcuts_work_from_anywhere_in_the_window(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=30.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 200})
    window.editor.set_prompt("From the output view")
    window.output.setFocus()
    qtbot.keyClick(window.output, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.busy
    qtbot.waitUntil(lambda: window.last_reply() != "", timeout=WAIT_MS)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS) as done:
        qtbot.keyClick(window.output, Qt.Key.Key_Escape)
    assert done.args[0].stopped
    assert len(emu.generations) == 1
