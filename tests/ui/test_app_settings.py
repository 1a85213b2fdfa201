"""App settings: what the user set up is there again at the next start; the password is not in
any file (the keyring keeps it, or nobody does)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from kobold_gui import app
from kobold_gui.core import prefs as prefs_mod
from kobold_gui.core import settings as sampler_table
from kobold_gui.core.logs import setup_logging
from kobold_gui.core.prefs import MAX_RECENT, Prefs, load_prefs, save_prefs
from kobold_gui.core.protocol import DEFAULT_URL
from kobold_gui.core.secrets import NO_KEYRING_NOTE, SERVICE
from kobold_gui.ui.app_settings import AppSettings
from kobold_gui.ui.main_window import MainWindow
from kobold_gui.ui.plain import tooltip_text

from .conftest import WAIT_MS, wait_connected

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_window(settings_window):
    """Here `make_window` makes windows as `kobold-gui` does (tests/ui/conftest.py)."""
    return settings_window


def start(make_window, path: Path, given_url: str | None = None,
          given_password: str | None = None, *, transient_url: str | None = None):
    """What `kobold-gui` does at start (app.main): settings first, then the window; after its
    first frame the keyring's password and the connection."""
    app_settings = AppSettings.load(path)
    url = app_settings.start_url(given_url)
    window = make_window(url, given_password)
    app_settings.attach(window, session_password=given_password, transient_url=transient_url)
    window.show()
    app_settings.connect_at_start(url, given_password, saved=transient_url is None)
    return app_settings, window


def quit_window(app_settings: AppSettings, window: MainWindow) -> None:
    """What `kobold-gui` does at quit: the window closes, then the settings are saved."""
    window.close()
    assert app_settings.save()


# ------------------------------------------------------------------------------ the file
def test_the_default_file_is_in_the_config_directory() -> None:
    assert prefs_mod.prefs_path() == (Path(os.environ["XDG_CONFIG_HOME"]) / "kobold_gui"
                                      / "settings.json")


def test_a_corrupt_file_gives_the_defaults_and_is_kept_aside(settings_file, caplog) -> None:
    settings_file.parent.mkdir(parents=True)
    settings_file.write_bytes(b'{"format": "kobold_gui-settings", "version": 1, "serv')
    with caplog.at_level(logging.WARNING):
        assert load_prefs(settings_file) == Prefs()
    aside = list(settings_file.parent.glob("settings.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().endswith(b'"serv')
    assert not settings_file.exists()
    assert "not valid JSON" in caplog.text and str(aside[0]) in caplog.text


def test_a_newer_file_gives_the_defaults_and_is_kept_aside(settings_file, caplog) -> None:
    settings_file.parent.mkdir(parents=True)
    newer = {"format": "kobold_gui-settings", "version": 99, "server": {"url": "http://x:1"}}
    settings_file.write_text(json.dumps(newer))
    with caplog.at_level(logging.WARNING):
        assert load_prefs(settings_file) == Prefs()
    (aside,) = settings_file.parent.glob("settings.json.newer-*")
    assert json.loads(aside.read_text()) == newer
    assert "newer kobold_gui" in caplog.text


def test_bad_entries_are_dropped_one_by_one_never_sent(settings_file, caplog) -> None:
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text(json.dumps({
        "format": "kobold_gui-settings", "version": 1,
        "server": {"url": "ftp://nope", "recent": ["gpu:5001", 3, "http://a b",
                                                   *[f"h{i}:1" for i in range(20)]]},
        "samplers": {"temperature": 99, "top_k": 40, "made_up": 1, "memory": "story text",
                     "max_length": 300, "max_context_length": 200,
                     "stop_sequence": ["\n\n"], "sampler_order": [9, 9]},
        "window": {"geometry": "!!not base64!!", "splitter": [1, "x"], "font_kind": "comic"},
    }))
    with caplog.at_level(logging.WARNING):
        prefs = load_prefs(settings_file)
    assert prefs.url is None
    assert prefs.recent_urls[0] == "http://gpu:5001" and len(prefs.recent_urls) == MAX_RECENT
    # max_length 300 is kept, so a context of 200 (smaller than it) cannot be
    assert prefs.samplers == {"top_k": 40, "max_length": 300, "stop_sequence": ["\n\n"]}
    sampler_table.validate({**sampler_table.defaults(), **prefs.samplers})
    assert prefs.geometry is None and prefs.splitter_sizes == [] and prefs.font_kind == "serif"
    for word in ("temperature", "made_up", "sampler_order", "max_context_length"):
        assert word in caplog.text
    assert "story text" not in caplog.text  # memory is the story's, not a setting at all


def test_save_is_atomic_and_round_trips(settings_file) -> None:
    prefs = Prefs(url="http://gpu:5001", samplers={"temperature": 1.1, "memory": "no"})
    prefs.remember_url("http://a:1")
    prefs.remember_url("http://gpu:5001")
    assert save_prefs(prefs, settings_file)
    assert save_prefs(prefs, settings_file)
    assert (settings_file.parent / "settings.json~").exists()  # the previous version
    again = load_prefs(settings_file)
    assert again.url == "http://gpu:5001" and again.recent_urls == ["http://gpu:5001",
                                                                    "http://a:1"]
    assert again.samplers == {"temperature": 1.1}


def test_an_unwritable_folder_is_a_warning_not_a_crash(tmp_path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING):
        assert save_prefs(Prefs(), blocker / "settings.json") is False
    assert "could not be saved" in caplog.text


def test_url_given_on_the_command_line_or_in_the_environment() -> None:
    assert app.url_given(["--url", "gpu:5001"], {})
    assert app.url_given(["--url=localhost:5001"], {})
    assert app.url_given([], {"KOBOLD_URL": "gpu:5001"})
    assert not app.url_given([], {})
    assert not app.url_given(["--demo"], {})


def test_the_given_url_and_password_win() -> None:
    saved = AppSettings(Prefs(url="http://saved:1"))
    assert saved.connection_for(None, None) == ("http://saved:1", None)
    assert saved.connection_for("http://given:2", "pw") == ("http://given:2", "pw")
    assert AppSettings().connection_for(None, None)[0] == DEFAULT_URL


def run_self_test(config_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KOBOLD_URL", "KOBOLD_PASSWORD")}
    env["XDG_CONFIG_HOME"] = str(config_home)
    return subprocess.run([sys.executable, "-m", "kobold_gui", "--self-test", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=90)


def test_the_app_starts_at_the_saved_server(emulator, tmp_path) -> None:
    path = tmp_path / "kobold_gui" / "settings.json"
    save_prefs(Prefs(url=emulator.url, recent_urls=[emulator.url]), path)
    saved = path.read_bytes()
    proc = run_self_test(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert emulator.last_generation is not None  # it generated on the saved server
    assert path.read_bytes() == saved  # a self-test leaves the user's settings alone


def test_url_on_the_command_line_beats_the_saved_one(emulator, closed_port_url,
                                                      tmp_path) -> None:
    save_prefs(Prefs(url=closed_port_url), tmp_path / "kobold_gui" / "settings.json")
    proc = run_self_test(tmp_path, "--url", emulator.url)
    assert proc.returncode == 0, proc.stderr
    assert emulator.last_generation is not None


# ------------------------------------------------------------------------------ the window
def test_the_window_comes_back_as_it_was(qtbot, emulator, make_window, settings_file) -> None:
    window_default = make_window(DEFAULT_URL, None)  # never shown: the size it starts with
    app_settings, window = start(make_window, settings_file, emulator.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"temperature": 1.35, "max_length": 77,
                                      "stop_sequence": ["###"], "memory": "Once upon"})
    window.resize(860, 640)  # fits the test screen (offscreen: 800x800, so 860 wide at least)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, window.settings_dock)
    window.font_actions["mono"].trigger()
    window.splitter.setSizes([400, 260])
    sizes = window.splitter.sizes()
    quit_window(app_settings, window)
    saved = settings_file.read_text("utf-8")
    assert "Once upon" not in saved  # memory is not an app setting

    _, again = start(make_window, settings_file)
    assert again.url_edit.text() == emulator.url == again.controller.url
    values = again.settings_panel.values()
    assert values["temperature"] == 1.35 and values["max_length"] == 77
    assert values["stop_sequence"] == ["###"]
    assert values.get("memory") in (None, "")
    assert (again.width(), again.height()) == (860, 640) != (window_default.width(),
                                                             window_default.height())
    assert again.dockWidgetArea(again.settings_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert again.font_actions["mono"].isChecked()
    assert again.output.font().styleHint() == again.output.font().StyleHint.Monospace
    assert again.splitter.sizes() == sizes
    wait_connected(qtbot, again)


def test_a_hidden_dock_stays_hidden(qtbot, make_window, settings_file) -> None:
    app_settings, window = start(make_window, settings_file)
    window.settings_dock.toggleViewAction().trigger()
    assert not window.settings_dock.isVisible()
    quit_window(app_settings, window)
    _, again = start(make_window, settings_file)
    assert not again.settings_dock.isVisible()
    assert not again.settings_dock.toggleViewAction().isChecked()


def test_a_corrupt_settings_file_opens_a_default_window(qtbot, make_window,
                                                        settings_file) -> None:
    settings_file.parent.mkdir(parents=True)
    settings_file.write_bytes(b"\x00\xffnot json")
    _, window = start(make_window, settings_file)
    assert window.settings_panel.values() == sampler_table.defaults()
    assert window.url_edit.text() == DEFAULT_URL
    (aside,) = settings_file.parent.glob("settings.json.corrupt-*")
    assert aside.read_bytes() == b"\x00\xffnot json"


@pytest.mark.qt_log_ignore("This plugin does not support")  # the offscreen platform's popups
def test_recent_servers_are_offered_again(qtbot, make_emulator, make_window,
                                          settings_file) -> None:
    first, second = make_emulator(), make_emulator()
    app_settings, window = start(make_window, settings_file, first.url)
    wait_connected(qtbot, window)
    window.url_edit.setText(second.url)
    window.connect_to_server()
    qtbot.waitUntil(lambda: app_settings.recent_urls() == [second.url, first.url],
                    timeout=WAIT_MS)
    quit_window(app_settings, window)

    settings, again = start(make_window, settings_file)
    assert again.url_edit.text() == second.url
    completer = again.url_edit.completer()
    assert completer is not None and settings.recent_urls() == [second.url, first.url]
    again.url_edit.setFocus()
    again.url_edit.clear()
    settings.show_recent()
    popup = completer.popup()
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    shown = [popup.model().index(i, 0).data() for i in range(popup.model().rowCount())]
    assert shown == [second.url, first.url]
    popup.hide()


def test_the_demo_server_is_not_saved(qtbot, make_emulator, make_window,
                                      settings_file) -> None:
    save_prefs(Prefs(url="http://my-gpu:5001", recent_urls=["http://my-gpu:5001"]),
               settings_file)
    demo = make_emulator()
    app_settings, window = start(make_window, settings_file, demo.url, transient_url=demo.url)
    wait_connected(qtbot, window)
    app_settings.save()
    prefs = load_prefs(settings_file)
    assert prefs.url == "http://my-gpu:5001" and prefs.recent_urls == ["http://my-gpu:5001"]


# ------------------------------------------------------------------------------ the password
def protected(make_emulator):
    password = "pw-" + secrets.token_hex(8)
    return make_emulator(password=password), password


def look_at(field) -> None:
    """What tabbing into a field does (pointing at it works the same: a tooltip event)."""
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QFocusEvent
    from PySide6.QtWidgets import QApplication

    QApplication.sendEvent(field, QFocusEvent(QEvent.Type.FocusIn,
                                              Qt.FocusReason.TabFocusReason))


def kept_addresses(path: Path) -> list[str] | None:
    """The settings file's list of addresses the keyring holds a password for."""
    return json.loads(path.read_text(encoding="utf-8"))["server"].get("keyring")


def test_the_keyring_is_not_loaded_for_an_address_it_holds_nothing_for(
        tmp_path: Path, emulator) -> None:
    """A real start on a server this app never kept a password for: the keyring module is
    not even imported (~2 MB, 25-45 ms); pointing at the password field loads it, to say
    where a password would be kept."""
    save_prefs(Prefs(url=emulator.url, recent_urls=[emulator.url]),
               tmp_path / "config" / "kobold_gui" / "settings.json")
    code = """
import sys
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import QApplication
from kobold_gui.core.prefs import prefs_path
from kobold_gui.ui.app_settings import AppSettings
from kobold_gui.ui.controller import Controller
from kobold_gui.ui.main_window import MainWindow
from kobold_gui.ui.plain import tooltip_text

def look_at(field):
    QApplication.sendEvent(field, QFocusEvent(QEvent.Type.FocusIn, Qt.FocusReason.TabFocusReason))

app = QApplication([])
settings = AppSettings.load(prefs_path())
url = settings.start_url(None)
window = MainWindow(Controller(url, None))
settings.attach(window)
settings.connect_at_start(url, None)
print("after-start", "keyring" in sys.modules)
look_at(window.password_edit)
print("after-look", "keyring" in sys.modules)
print("tooltip", tooltip_text(window.password_edit).replace(chr(10), " "))
"""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "after-start False" in proc.stdout, proc.stdout
    assert "after-look True" in proc.stdout, proc.stdout
    assert NO_KEYRING_NOTE in proc.stdout  # the fail backend: kept for the session only


def test_an_old_settings_file_is_indexed_once(qtbot, make_emulator, make_window, settings_file,
                                              memory_keyring) -> None:
    """A file from before the keyring list: the keyring is asked for its addresses once, the
    password still comes back, and the file then says where passwords are."""
    emu, password = protected(make_emulator)
    other = make_emulator()
    memory_keyring.entries[(SERVICE, emu.url)] = password
    save_prefs(Prefs(url=emu.url, recent_urls=[emu.url, other.url], keyring_urls=None),
               settings_file)
    assert kept_addresses(settings_file) is None  # as an older version wrote it
    assert load_prefs(settings_file).keyring_urls is None
    _, window = start(make_window, settings_file)
    assert window.password_edit.text() == password
    wait_connected(qtbot, window)
    assert kept_addresses(settings_file) == [emu.url]


def test_the_list_of_kept_addresses_follows_the_keyring(qtbot, make_emulator, make_window,
                                                        settings_file, memory_keyring) -> None:
    """Written as soon as a password is kept or forgotten (a crash must not lose it)."""
    emu, password = protected(make_emulator)
    _, window = start(make_window, settings_file, emu.url)
    window.password_edit.setText(password)
    window.connect_to_server()
    qtbot.waitUntil(lambda: memory_keyring.entries != {}, timeout=WAIT_MS)
    assert kept_addresses(settings_file) == [emu.url]  # before any quit
    window.password_edit.clear()
    window.connect_to_server()
    qtbot.waitUntil(lambda: memory_keyring.entries == {}, timeout=WAIT_MS)
    assert kept_addresses(settings_file) == []


def test_with_a_keyring_the_password_is_there_at_the_next_start(
        qtbot, make_emulator, make_window, settings_file, memory_keyring) -> None:
    emu, password = protected(make_emulator)
    app_settings, window = start(make_window, settings_file, emu.url)
    look_at(window.password_edit)
    assert "keyring" in tooltip_text(window.password_edit)
    window.password_edit.setText(password)
    window.connect_to_server()
    wait_connected(qtbot, window)
    assert memory_keyring.entries == {(SERVICE, emu.url): password}
    assert NO_KEYRING_NOTE not in window.status_message()
    quit_window(app_settings, window)

    _, again = start(make_window, settings_file)
    assert again.password_edit.text() == password
    wait_connected(qtbot, again)  # the protected server accepts it


def test_a_rejected_password_is_not_kept(qtbot, make_emulator, make_window, settings_file,
                                         memory_keyring) -> None:
    emu, _password = protected(make_emulator)
    _, window = start(make_window, settings_file, emu.url)
    window.password_edit.setText("wrong")
    window.connect_to_server()
    qtbot.waitUntil(lambda: "password" in window.status_message().lower(), timeout=WAIT_MS)
    assert memory_keyring.entries == {}


def test_a_password_an_open_server_ignores_is_not_kept(qtbot, emulator, make_window,
                                                       settings_file, memory_keyring) -> None:
    _, window = start(make_window, settings_file, emulator.url)
    window.password_edit.setText("typed-by-habit")
    window.connect_to_server()
    wait_connected(qtbot, window)
    assert memory_keyring.entries == {}


def test_clearing_the_field_and_connecting_forgets_it(qtbot, make_emulator, make_window,
                                                      settings_file, memory_keyring) -> None:
    emu, password = protected(make_emulator)
    memory_keyring.entries[(SERVICE, emu.url)] = password
    save_prefs(Prefs(url=emu.url, recent_urls=[emu.url], keyring_urls=[emu.url]),
               settings_file)
    _, window = start(make_window, settings_file)
    assert window.password_edit.text() == password
    wait_connected(qtbot, window)
    window.password_edit.clear()
    window.connect_to_server()
    qtbot.waitUntil(lambda: memory_keyring.entries == {}, timeout=WAIT_MS)


def test_the_keyrings_password_follows_the_address(qtbot, make_emulator, make_window,
                                                   settings_file, memory_keyring) -> None:
    emu, password = protected(make_emulator)
    other = make_emulator()
    memory_keyring.entries[(SERVICE, emu.url)] = password
    save_prefs(Prefs(url=other.url, recent_urls=[other.url, emu.url], keyring_urls=[emu.url]),
               settings_file)
    _, window = start(make_window, settings_file)
    assert window.password_edit.text() == ""
    window.url_edit.setText(emu.url)  # e.g. picked from the recent servers
    assert window.password_edit.text() == password
    window.url_edit.setText(other.url)
    assert window.password_edit.text() == ""


def test_a_command_line_password_wins_and_is_not_stored(
        qtbot, make_emulator, make_window, settings_file, memory_keyring) -> None:
    emu, password = protected(make_emulator)
    memory_keyring.entries[(SERVICE, emu.url)] = "old-one"
    _, window = start(make_window, settings_file, emu.url, given_password=password)
    assert window.password_edit.text() == password
    wait_connected(qtbot, window)
    assert memory_keyring.entries == {(SERVICE, emu.url): "old-one"}


def test_without_a_keyring_the_password_lasts_the_session_and_the_window_says_so(
        qtbot, make_emulator, make_window, settings_file) -> None:
    emu, password = protected(make_emulator)
    app_settings, window = start(make_window, settings_file, emu.url)
    look_at(window.password_edit)
    assert NO_KEYRING_NOTE in tooltip_text(window.password_edit)
    window.password_edit.setText(password)
    window.connect_to_server()
    wait_connected(qtbot, window)
    qtbot.waitUntil(lambda: NO_KEYRING_NOTE in window.status_message(), timeout=WAIT_MS)
    quit_window(app_settings, window)

    _, again = start(make_window, settings_file)
    assert again.url_edit.text() == emu.url and again.password_edit.text() == ""


@pytest.mark.parametrize("with_keyring", [False, True], ids=["no-keyring", "keyring"])
def test_the_password_reaches_no_file(qtbot, make_emulator, make_window, request,
                                      isolated_root: Path, with_keyring: bool) -> None:
    if with_keyring:
        request.getfixturevalue("memory_keyring")
    emu, password = protected(make_emulator)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    log_file = setup_logging("DEBUG", Path(os.environ["KOBOLD_GUI_LOG_DIR"]))
    try:
        # the app's own file, in the (isolated) config directory
        app_settings, window = start(make_window, prefs_mod.prefs_path(), emu.url)
        window.password_edit.setText(password)
        window.connect_to_server()
        wait_connected(qtbot, window)
        window.editor.set_prompt("The dragon said: ")
        window.settings_panel.set_values({"max_length": 20})
        with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
            assert window.generate()
        quit_window(app_settings, window)
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
    assert log_file is not None and log_file.stat().st_size > 0
    assert prefs_mod.prefs_path().is_file()
    needles = {password.encode("utf-8"), password.encode("utf-16-le")}
    holding = [str(p) for p in isolated_root.rglob("*") if p.is_file()
               and any(n in p.read_bytes() for n in needles)]
    assert holding == []
    for leftover in prefs_mod.prefs_path().parent.glob("settings.json*"):
        leftover.unlink()  # later tests start the app with no saved server
