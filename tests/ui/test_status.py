"""The status bar: every connection state has a word and a colour; retries count down."""

from __future__ import annotations

from kobold_gui.core import errors as E
from kobold_gui.core.events import ConnectionState, Retrying
from kobold_gui.core.protocol import ServerInfo, ServerVersion
from kobold_gui.ui.plain import tooltip_text
from kobold_gui.ui.status import ERROR_COLOR, STATE_COLORS, StatusBar


def make(qtbot) -> StatusBar:
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.resize(900, 30)
    bar.show()
    return bar


def test_every_state_has_its_word_and_colour(qtbot) -> None:
    bar = make(qtbot)
    assert set(STATE_COLORS) == set(ConnectionState)
    assert len(set(STATE_COLORS.values())) >= 7  # states are told apart at a glance
    for state in ConnectionState:
        bar.set_state(state, f"detail of {state.value}")
        assert bar.indicator.text() == state.value
        assert bar.indicator.dot.color().name() == STATE_COLORS[state]
        assert tooltip_text(bar.indicator) == f"detail of {state.value}"


def test_offline_after_an_error_is_red_with_the_error_as_tooltip(qtbot) -> None:
    bar = make(qtbot)
    bar.set_state(ConnectionState.OFFLINE)
    assert bar.indicator.dot.color().name() == STATE_COLORS[ConnectionState.OFFLINE]
    bar.show_error("Cannot reach the server")
    assert bar.indicator.dot.color().name() == ERROR_COLOR
    assert tooltip_text(bar.indicator) == "Cannot reach the server"
    assert bar.message_text() == "Cannot reach the server"
    assert bar.message.property("error") is True
    bar.clear_error()
    assert bar.message_text() == "" and bar.message.property("error") is False


def test_server_facts_and_speed(qtbot) -> None:
    bar = make(qtbot)
    assert bar.model.text() == "no model" and not bar.context.isVisible()
    info = ServerInfo("http://127.0.0.1:5001", ServerVersion("KoboldCpp", "1.76"),
                      "koboldcpp/Llama-3-8B", 8192)
    bar.set_server(info)
    assert bar.model.text() == "koboldcpp/Llama-3-8B"
    assert "KoboldCpp 1.76" in tooltip_text(bar.model)
    assert bar.context.isVisible() and "8192" in bar.context.text()
    bar.set_speed(23.456)
    assert bar.speed.text() == "23.5 tok/s" and bar.speed.isVisible()
    bar.set_speed(None)
    assert not bar.speed.isVisible()


def test_retry_countdown_and_reconnect_button(qtbot) -> None:
    bar = make(qtbot)
    reason = E.ConnectionFailed("Cannot reach the server")
    bar.show_retry(Retrying(3, 0, 9.6, reason), during_generation=False)
    assert "Cannot reach the server" in bar.message_text()
    assert "reconnecting in 10 s (attempt 3)" in bar.message_text()
    assert bar.reconnect_button.isVisible()
    qtbot.waitUntil(lambda: "in 9 s" in bar.message_text(), timeout=3000)  # it counts down
    bar.set_state(ConnectionState.CONNECTED)
    assert not bar.reconnect_button.isVisible() and not bar.retry_pending()

    bar.show_retry(Retrying(2, 5, 0.2, E.ServerBusy("The server is busy")), during_generation=True)
    assert "retrying" in bar.message_text() and "attempt 2 of 5" in bar.message_text()
    assert "Esc cancels" in bar.message_text()
    assert not bar.reconnect_button.isVisible()
    qtbot.waitUntil(lambda: "retrying now" in bar.message_text(), timeout=3000)
