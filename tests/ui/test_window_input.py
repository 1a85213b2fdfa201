"""The window with passwords and servers the core refuses: a clear state, never "connecting"."""

from __future__ import annotations

from pathlib import Path

from foreign_servers import static_file_server

from kobold_gui.core.events import ConnectionState

WAIT_MS = 10_000


def test_a_latin1_password_connects(make_emulator, make_window, qtbot) -> None:
    emu = make_emulator(password="pässwort")
    window = make_window(emu.url, "pässwort")
    qtbot.waitUntil(lambda: window.controller.state == ConnectionState.CONNECTED,
                    timeout=WAIT_MS)


def test_an_unsendable_password_is_said_at_once(make_emulator, make_window, qtbot) -> None:
    emu = make_emulator(password="x")
    window = make_window(emu.url, "世界")
    controller = window.controller
    qtbot.waitUntil(lambda: controller.state == ConnectionState.OFFLINE, timeout=WAIT_MS)
    assert "Latin-1" in window.status_message()
    assert emu.generations == []


def test_a_static_file_server_is_incompatible(make_window, qtbot, tmp_path: Path) -> None:
    with static_file_server(tmp_path) as (url, _seen):
        window = make_window(url)
        qtbot.waitUntil(lambda: window.controller.state == ConnectionState.INCOMPATIBLE,
                        timeout=WAIT_MS)
        assert "not a KoboldCPP server" in window.status_message()
