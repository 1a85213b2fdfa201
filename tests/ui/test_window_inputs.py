"""Bad input and odd servers get a clear message where it belongs (issue 6 #5, #6, #12, #13)."""

from __future__ import annotations

from pathlib import Path

from foreign_servers import static_file_server

import kobold_gui
from kobold_gui.core.events import ConnectionState, StateChanged
from kobold_gui.ui.main_window import app_version
from kobold_gui.ui.plain import tooltip_text
from kobold_gui.ui.status import STATE_COLORS

from .conftest import WAIT_MS


def test_unusable_address_is_refused_at_the_url_field(qtbot, make_window) -> None:
    window = make_window(connect=False)
    window.url_edit.setText("ftp://example.org")
    window.connect_to_server()
    assert window.url_edit.property("invalid") is True
    qtbot.waitUntil(window.field_error.isVisible, timeout=WAIT_MS)
    assert "only http:// and https://" in tooltip_text(window.field_error)
    assert window.field_error.text().startswith("'ftp://example.org'")
    assert "only http:// and https://" in tooltip_text(window.url_edit)
    assert "Connecting" not in window.status_message()
    assert window.state_text() == "offline"
    qtbot.keyClicks(window.url_edit, "x")  # editing the address clears the mark
    assert window.url_edit.property("invalid") is False
    qtbot.waitUntil(lambda: not window.field_error.isVisible(), timeout=WAIT_MS)


def test_password_the_core_refuses_is_shown_at_the_password_field(
        qtbot, make_emulator, make_window) -> None:
    """KoboldCPP compares passwords as Latin-1: 世界 can never be sent. The window says so at
    the password field and sends nothing, instead of "connecting" forever."""
    emu = make_emulator(password="x")
    window = make_window(emu.url, password="世界")
    qtbot.waitUntil(window.field_error.isVisible, timeout=WAIT_MS)
    assert window.password_edit.property("invalid") is True
    assert window.url_edit.property("invalid") is not True
    # The message fits the toolbar (cut with "…" if it must), all of it in the tooltips.
    assert window.field_error.text().startswith("The password contains")
    assert "Latin-1" in tooltip_text(window.field_error)
    assert "Latin-1" in tooltip_text(window.password_edit)
    assert window.state_text() == "offline" and "Connecting" not in window.status_message()
    assert emu.generations == []
    qtbot.keyClicks(window.password_edit, "x")
    assert window.password_edit.property("invalid") is False
    qtbot.waitUntil(lambda: not window.field_error.isVisible(), timeout=WAIT_MS)


def test_a_latin1_password_connects(make_emulator, make_window, qtbot) -> None:
    emu = make_emulator(password="pässwort")
    window = make_window(emu.url, "pässwort")
    qtbot.waitUntil(lambda: window.controller.state == ConnectionState.CONNECTED,
                    timeout=WAIT_MS)


def test_a_static_file_server_is_incompatible(make_window, qtbot, tmp_path: Path) -> None:
    with static_file_server(tmp_path) as (url, _seen):
        window = make_window(url)
        qtbot.waitUntil(lambda: window.controller.state == ConnectionState.INCOMPATIBLE,
                        timeout=WAIT_MS)
        assert "not a KoboldCPP server" in window.status_message()
        assert window.state_text() == "not KoboldCPP"
        assert not window.status.retry_pending()


def test_not_a_kobold_server_is_said_once_without_a_countdown(qtbot, make_window) -> None:
    """The core reports INCOMPATIBLE with the reason; the window shows it and no retry."""
    window = make_window(connect=False)
    message = "http://127.0.0.1:1 answers, but it is not a KoboldCPP server"
    window.controller._on_monitor_event(StateChanged(ConnectionState.INCOMPATIBLE, message))
    assert window.state_text() == "not KoboldCPP"
    assert window.status_message() == message
    assert not window.status.retry_pending() and not window.status.reconnect_button.isVisible()
    assert window.status.indicator.dot.color().name() == STATE_COLORS[ConnectionState.INCOMPATIBLE]
    assert message in tooltip_text(window.status.indicator)


def test_about_box_shows_the_version(qtbot, make_window) -> None:
    from importlib import metadata

    from PySide6.QtWidgets import QMessageBox

    window = make_window(connect=False)
    version = getattr(kobold_gui, "__version__", None) or metadata.version("kobold_gui")
    assert app_version() == version
    window.about_action.trigger()
    box = window.findChild(QMessageBox, "aboutBox")
    qtbot.waitUntil(box.isVisible, timeout=WAIT_MS)
    assert version in box.text()
    box.close()
