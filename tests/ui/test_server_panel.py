"""The Server panel (issue 8 #7): address, masked password with a Show toggle, Test (answer
inline, the connection unchanged), the server's model, version, true context and feature flags,
the context size following the server, recent servers offered again."""

from __future__ import annotations

import secrets

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from .conftest import WAIT_MS, wait_connected
from .test_app_settings import quit_window, start


def test_the_panel_shows_the_connected_server(qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(model="koboldcpp/Tiny-Test-3B", context_length=8192, version="1.100")
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    panel = window.server_panel
    assert window.server_dock.windowTitle() == "Server"
    assert panel.model_value.text() == "koboldcpp/Tiny-Test-3B"
    assert panel.version_value.text() == "KoboldCpp 1.100"
    assert panel.context_value.text() == "8,192 tokens"
    assert panel.features_value.text()  # whatever the server lists, never blank
    # the context size followed the server's true context (the user had not chosen one)
    assert window.settings_values()["max_context_length"] == 8192
    assert "context size set to the server's 8,192 tokens" in window.status_message()


def test_a_context_size_the_user_chose_is_kept(qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(context_length=8192)
    window = make_window(emu.url, connect=False)
    window.settings_panel.set_values({"max_context_length": 2048})
    window.url_edit.setText(emu.url)
    window.connect_to_server()
    wait_connected(qtbot, window)
    assert window.settings_values()["max_context_length"] == 2048


def test_the_context_follows_from_server_to_server(qtbot, make_emulator, make_window) -> None:
    big, small = make_emulator(context_length=8192), make_emulator(context_length=2048)
    window = make_window(big.url)
    wait_connected(qtbot, window)
    assert window.settings_values()["max_context_length"] == 8192
    for emu, expected in ((small, 2048), (big, 8192)):
        window.url_edit.setText(emu.url)
        window.connect_to_server()
        qtbot.waitUntil(lambda e=emu: window.controller.server is not None
                        and window.controller.server.url == e.url, timeout=WAIT_MS)
        assert window.settings_values()["max_context_length"] == expected


def test_password_is_masked_and_can_be_shown(make_window) -> None:
    window = make_window(connect=False)
    panel = window.server_panel
    assert panel.password_edit.echoMode() == QLineEdit.EchoMode.Password
    panel.show_password.click()
    assert panel.password_edit.echoMode() == QLineEdit.EchoMode.Normal
    assert panel.show_password.accessibleName() == "Hide password"
    panel.show_password.click()
    assert panel.password_edit.echoMode() == QLineEdit.EchoMode.Password


def test_the_panels_fields_are_the_toolbars(qtbot, make_window) -> None:
    window = make_window(connect=False)
    panel = window.server_panel
    panel.url_edit.clear()
    qtbot.keyClicks(panel.url_edit, "http://gpu-box:5001")
    assert window.url_edit.text() == "http://gpu-box:5001"
    window.password_edit.setText("secret")
    assert panel.password_edit.text() == "secret"


def test_test_checks_an_address_without_switching(qtbot, make_emulator, make_window) -> None:
    current = make_emulator(model="koboldcpp/Current")
    other = make_emulator(model="koboldcpp/Other-13B", context_length=16384)
    window = make_window(current.url)
    wait_connected(qtbot, window)
    panel = window.server_panel
    panel.url_edit.setText(other.url)
    qtbot.mouseClick(panel.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.result_text().startswith("✓"), timeout=WAIT_MS)
    assert panel.result_text().startswith("✓ KoboldCpp 1.76 · koboldcpp/Other-13B · "
                                          "16,384 tokens of context")
    assert window.controller.server.url == current.url  # still connected where it was
    assert panel.model_value.text() == "koboldcpp/Current"


def test_test_says_why_it_failed_inline(qtbot, make_window, closed_port_url) -> None:
    window = make_window(connect=False)
    panel = window.server_panel
    panel.url_edit.setText(closed_port_url)
    window.test_server_action.trigger()  # Server > Test Server: the same
    qtbot.waitUntil(lambda: panel.result_text().startswith("✗"), timeout=WAIT_MS)
    assert panel.result.property("error") is True
    assert window.server_dock.isVisible()

    panel.url_edit.setText("ftp://nope")
    panel.test()
    assert panel.result_text().startswith("✗") and "ftp" in panel.result_text().lower()


def test_test_with_a_wrong_and_a_right_password(qtbot, make_emulator, make_window) -> None:
    password = "pw-" + secrets.token_hex(6)
    emu = make_emulator(password=password)
    window = make_window(connect=False)
    panel = window.server_panel
    panel.url_edit.setText(emu.url)
    panel.password_edit.setText("wrong")
    panel.test()
    qtbot.waitUntil(lambda: panel.result_text().startswith("✗"), timeout=WAIT_MS)
    assert "password" in panel.result_text().lower()
    panel.password_edit.setText(password)
    panel.test()
    qtbot.waitUntil(lambda: panel.result_text().startswith("✓"), timeout=WAIT_MS)
    assert "Password accepted" in panel.result_text()
    assert password not in panel.result_text()


def test_recent_servers_are_listed_and_connect(qtbot, make_emulator, settings_window,
                                              settings_file) -> None:
    first, second = make_emulator(), make_emulator()
    app_settings, window = start(settings_window, settings_file, first.url)
    wait_connected(qtbot, window)
    window.url_edit.setText(second.url)
    window.connect_to_server()
    panel = window.server_panel
    qtbot.waitUntil(lambda: panel.recent_list.count() == 2, timeout=WAIT_MS)
    assert [panel.recent_list.item(i).text() for i in range(2)] == [second.url, first.url]
    quit_window(app_settings, window)

    _settings, again = start(settings_window, settings_file)
    recent = again.server_panel.recent_list
    assert [recent.item(i).text() for i in range(recent.count())] == [second.url, first.url]
    wait_connected(qtbot, again)
    recent.setCurrentRow(1)
    recent.itemActivated.emit(recent.item(1))
    qtbot.waitUntil(lambda: again.controller.server is not None
                    and again.controller.server.url == first.url, timeout=WAIT_MS)
