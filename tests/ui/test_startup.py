"""Start-up order (issue 9): the window's first frame comes before any network or TLS work,
httpx is imported by the first connect, not by the window, and the app still connects alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kobold_gui.app import connect_after_first_frame
from kobold_gui.core import errors as E
from kobold_gui.core.serverinfo import normalize_url

ROOT = Path(__file__).resolve().parents[2]

#: the app entry, with a look at the process as the window is first painted
SPY = """
import builtins, sys, kobold_gui.app as app
from kobold_gui.ui.accessibility import unnamed
real = app.after_first_paint
seen = []
def spy(widget, callback):
    def report():
        if not seen:  # the window frame: on screen before the rest of the app is imported
            seen.append("frame")
            loaded = [m for m in ("httpx", "keyring", "importlib.metadata", "PySide6.QtSvg",
                                  "uuid", "asyncio", "qasync", "kobold_gui.ui.main_window",
                                  "kobold_gui.ui.controller", "kobold_gui.core.story",
                                  "kobold_gui.core.prefs", "kobold_gui.ui.request_dialog",
                                  "kobold_gui.core.storyfiles", "kobold_gui.core.formats")
                      if m in sys.modules]
            print("at-first-paint loaded=%s" % ",".join(loaded), flush=True)
            print("at-first-paint import-hook=%s" % builtins.__import__.__name__, flush=True)
            print("at-first-paint frame-title=%s" % widget.windowTitle(), flush=True)
        elif hasattr(widget, "password_edit") and "window" not in seen:  # the main window
            seen.append("window")
            print("in-frame=%s" % (widget.window() is not widget), flush=True)
            print("window-paint password-field=%r" % widget.password_edit.text(), flush=True)
            print("window-paint finished=%s" % widget.start_finished, flush=True)
            real_connect = widget.controller.connect_to
            def connect_to(url, password=None):
                print("connect unnamed=%d finished=%s" % (len(unnamed(widget)),
                                                          widget.start_finished), flush=True)
                real_connect(url, password)
            widget.controller.connect_to = connect_to
        callback()
    real(widget, report)
app.after_first_paint = spy
sys.exit(app.main())
"""

#: a keyring backend that knows one password (the module goes on PYTHONPATH)
SAVED_KEYRING = """
from keyring.backend import KeyringBackend

class Keyring(KeyringBackend):
    priority = 1
    def get_password(self, service, username):
        return {PASSWORD!r} if (service, username) == ("kobold_gui", {URL!r}) else None
    def set_password(self, service, username, password):
        pass
    def delete_password(self, service, username):
        pass
"""


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_the_window_and_the_entry_do_not_import_httpx() -> None:
    proc = python(
        "import sys, kobold_gui.app, kobold_gui.options, kobold_gui.ui.main_window, "
        "kobold_gui.ui.controller, kobold_gui.ui.app_settings, kobold_gui.ui.session, "
        "kobold_gui.core.prefs, kobold_gui.core.monitor, kobold_gui.core.generation\n"
        "heavy = [m for m in ('httpx', 'httpx_sse', 'h11', 'kobold_gui.core.protocol') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy")
    assert proc.returncode == 0, proc.stderr


def test_checking_a_plain_address_does_not_import_httpx() -> None:
    proc = python("import sys\nfrom kobold_gui.core.serverinfo import normalize_url\n"
                  "assert normalize_url('localhost:5001') == 'http://localhost:5001'\n"
                  "assert normalize_url('http://127.0.0.1:5001/') == 'http://127.0.0.1:5001'\n"
                  "assert normalize_url('https://Example.com/api') == 'https://example.com/api'\n"
                  "assert 'httpx' not in sys.modules")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:5001", "http://999.1.1.1:5001", "http://1.2.3.4.5", "http://[::1]:5001",
    "http://[::zz]:5001", "http://bücher.de", "http://xn--zz.de", "http://a..b",
    "http://localhost", "http://" + "a" * 70000, "http://10.0.0.256", "http://0.0.0.0",
])
def test_addresses_are_judged_as_httpx_judges_them(url: str) -> None:
    """The fast path skips httpx only where httpx cannot refuse: same verdict either way."""
    try:
        ours: str | None = normalize_url(url)
    except E.InvalidURL:
        ours = None
    if ours is not None:
        httpx.URL(ours)  # accepted by us: httpx accepts it too


def test_connect_waits_for_the_first_frame(qtbot) -> None:
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QMainWindow

    window = QMainWindow()
    qtbot.addWidget(window)
    connected: list[bool] = []
    painted: list[bool] = []
    connect_after_first_frame(window, lambda: connected.append(bool(painted)),
                              fallback_ms=10_000)

    class Paints(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                painted.append(True)
            return False

    paints = Paints(window)
    window.installEventFilter(paints)
    qtbot.wait(50)
    assert connected == []  # not shown: nothing painted, nothing connected
    window.show()
    qtbot.waitUntil(lambda: bool(connected), timeout=5000)
    qtbot.wait(50)
    assert connected == [True]  # once, and after the paint


def test_a_window_never_painted_still_connects(qtbot) -> None:
    from PySide6.QtWidgets import QMainWindow

    window = QMainWindow()
    qtbot.addWidget(window)
    connected: list[int] = []
    connect_after_first_frame(window, lambda: connected.append(1), fallback_ms=50)
    qtbot.waitUntil(lambda: bool(connected), timeout=5000)
    window.show()
    qtbot.wait(100)
    assert connected == [1]


def test_the_first_frame_comes_before_keyring_httpx_and_the_rest(
        make_emulator, tmp_path: Path) -> None:
    """The real entry (--self-test: it connects and generates once, then quits) on a server
    that needs the password the keyring (PYTHON_KEYRING_BACKEND) saved for it: when the
    window frame is first painted neither asyncio, qasync, the main window, the story, the
    settings reader, the keyring, httpx, importlib.metadata, QtSvg nor the story file formats
    are loaded and PySide's `__feature__` import hook is gone; the main window is then built
    inside that frame, and its first paint still comes before the keyring is asked; the
    password from the keyring reaches the connection, made only after the window finished
    starting."""
    import os

    from kobold_gui.core.prefs import Prefs, save_prefs

    password = "pw-from-the-keyring"
    emu = make_emulator(password=password)
    (tmp_path / "savedpw.py").write_text(
        SAVED_KEYRING.replace("{PASSWORD!r}", repr(password)).replace("{URL!r}", repr(emu.url)),
        encoding="utf-8")
    config = tmp_path / "config"
    save_prefs(Prefs(url=emu.url, recent_urls=[emu.url], keyring_urls=[emu.url]),
               config / "kobold_gui" / "settings.json")
    env = {k: v for k, v in os.environ.items() if k not in ("KOBOLD_URL", "KOBOLD_PASSWORD")}
    env.update({"XDG_CONFIG_HOME": str(config), "PYTHON_KEYRING_BACKEND": "savedpw.Keyring",
                "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])})
    proc = subprocess.run([sys.executable, "-c", SPY, "--self-test"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    lines = proc.stdout.splitlines()
    assert "at-first-paint loaded=" in lines, proc.stdout
    assert "at-first-paint import-hook=__feature_import__" not in lines, proc.stdout
    assert "at-first-paint frame-title=Kobold GUI" in lines, proc.stdout
    assert "in-frame=True" in lines, proc.stdout
    assert "window-paint password-field=''" in lines, proc.stdout  # not looked up yet
    assert "window-paint finished=False" in lines, proc.stdout
    assert "connect unnamed=0 finished=True" in lines, proc.stdout
    assert "self-test: generated" in proc.stdout  # the protected server took the password


@pytest.fixture
def unshown_window(qtbot, qloop):
    """Factory: a MainWindow not shown yet; closed, and its controller closed, afterwards."""
    import asyncio

    from kobold_gui.ui.controller import Controller
    from kobold_gui.ui.main_window import MainWindow

    made: list[MainWindow] = []

    def factory() -> MainWindow:
        window = MainWindow(Controller())
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield factory
    for window in made:
        window.close()
        closing = asyncio.ensure_future(window.controller.aclose())
        qtbot.waitUntil(closing.done, timeout=10_000)


def test_accessible_names_come_just_after_the_first_frame(qtbot, unshown_window) -> None:
    from PySide6.QtCore import QEvent, QObject

    from kobold_gui.ui.accessibility import unnamed

    window = unshown_window()
    painted: list[bool] = []

    class Paints(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint and watched is window:
                painted.append(True)
            return False

    window.installEventFilter(Paints(window))
    assert not window.start_finished
    assert unnamed(window)  # the hint-named controls wait for the first frame
    window.show()
    qtbot.waitUntil(lambda: window.start_finished, timeout=5000)
    assert painted  # after the first paint, not before
    assert unnamed(window) == []
    window.finish_start()  # once only: a second call changes nothing
    assert unnamed(window) == []


def test_a_window_never_painted_still_finishes_starting(qtbot, monkeypatch,
                                                        unshown_window) -> None:
    from kobold_gui.ui import main_window
    from kobold_gui.ui.accessibility import unnamed

    monkeypatch.setattr(main_window, "FINISH_FALLBACK_MS", 50)
    window = unshown_window()
    qtbot.waitUntil(lambda: window.start_finished, timeout=5000)
    assert unnamed(window) == []


def test_the_feature_import_hook_is_dropped_and_no_source_is_read() -> None:
    proc = python(
        "import builtins, linecache, sys\n"
        "import PySide6.QtWidgets\n"
        "from kobold_gui.ui.qtimports import drop_feature_import_hook, "
        "feature_import_hook_installed\n"
        "assert feature_import_hook_installed()\n"
        "assert drop_feature_import_hook()\n"
        "assert not feature_import_hook_installed()\n"
        "assert not drop_feature_import_hook()  # once\n"
        "import calendar, kobold_gui.ui.main_window\n"
        "read = [f for f in linecache.cache if 'calendar' in f or 'main_window' in f]\n"
        "assert not read, read\n"
        "from PySide6.QtWidgets import QLabel  # PySide's own import still works\n"
        "print('ok')")
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


def test_a_process_that_selected_a_feature_keeps_the_hook() -> None:
    proc = python(
        "import PySide6.QtWidgets\n"
        "from __feature__ import snake_case  # noqa\n"
        "from kobold_gui.ui.qtimports import drop_feature_import_hook, "
        "feature_import_hook_installed\n"
        "assert not drop_feature_import_hook()\n"
        "assert feature_import_hook_installed()\n"
        "print('ok')")
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


def test_hidden_side_panels_are_built_when_first_shown(qtbot, unshown_window) -> None:
    """A panel never opened costs nothing; its tab, its shortcut and its menu action are
    there from the start, and opening it (the tab clicked, the shortcut) builds it, named
    and as wide as the others."""
    from kobold_gui.ui.accessibility import unnamed
    from kobold_gui.ui.context_panel import ContextPanel
    from kobold_gui.ui.server_panel import ServerPanel

    window = unshown_window()
    docks = (window.context.dock, window.mode_dock, window.server_dock)
    assert window._pending_panels.keys() == set(docks)  # the tabs are there, not the panels
    assert [window.panel_actions[d.objectName()].shortcut().toString() for d in docks] == [
        "Ctrl+Shift+2", "Ctrl+Shift+3", "Ctrl+Shift+4"]
    window.show()
    qtbot.waitUntil(lambda: window.start_finished, timeout=5000)
    qtbot.wait(50)
    assert window._pending_panels.keys() == set(docks)  # still not built: never shown
    window.context.dock.raise_()  # what clicking its tab does
    qtbot.waitUntil(lambda: isinstance(window.context.dock.widget(), ContextPanel),
                    timeout=5000)
    window.panel_actions["serverDock"].trigger()  # Ctrl+Shift+4
    assert isinstance(window.server_dock.widget(), ServerPanel)
    assert window.mode_dock in window._pending_panels
    panel = window.mode_panel  # asked for: built
    assert window.mode_dock.widget().widget() is panel
    assert not window._pending_panels
    assert unnamed(window) == []
    assert all(dock.minimumWidth() == window.settings_dock.minimumWidth() for dock in docks)


def test_a_side_panel_shown_before_the_start_finished_is_built_and_named(
        qtbot, unshown_window) -> None:
    from kobold_gui.ui.accessibility import unnamed

    window = unshown_window()
    window.focus_panel(window.server_dock)  # the Ctrl+Shift+4 / F6 path
    assert window.server_dock not in window._pending_panels
    assert window.server_dock.widget() is window.server_panel
    window.finish_start()
    assert unnamed(window.server_panel) == []


def test_tab_reaches_a_late_panel_where_it_would_have_been_built(qtbot, unshown_window) -> None:
    """The Mode panel's controls come before the dock's tab bar and the Retry buttons in
    the focus chain, as when it was built with the window; Context, then Server, last."""
    from PySide6.QtWidgets import QToolButton

    window = unshown_window()
    window.finish_start()
    window.build_panels()  # each one as if opened: Mode, Context, Server
    chain = []
    widget = window.nextInFocusChain()
    while widget is not window:
        chain.append(widget)
        widget = widget.nextInFocusChain()
    retry = window.findChild(QToolButton, "retryButton")
    first_mode = next(w for w in chain if window.mode_panel.isAncestorOf(w))
    assert chain.index(first_mode) < chain.index(retry)
    context = [i for i, w in enumerate(chain) if window.context.panel.isAncestorOf(w)]
    server = [i for i, w in enumerate(chain) if window.server_panel.isAncestorOf(w)]
    assert chain.index(retry) < min(context) and max(context) < min(server)


def test_memory_is_given_back_once_after_the_start(qtbot, monkeypatch, unshown_window) -> None:
    """One release (core/memory.py) a while after finish_start: not per turn, not again when
    finish_start is called again."""
    from kobold_gui.ui import main_window

    calls: list[bool] = []
    monkeypatch.setattr(main_window, "SETTLE_AFTER_START_MS", 20)
    monkeypatch.setattr(main_window, "settle_after_start", lambda: calls.append(True))
    window = unshown_window()
    window.show()
    qtbot.waitUntil(lambda: window.start_finished, timeout=5000)
    qtbot.waitUntil(lambda: bool(calls), timeout=5000)
    window.finish_start()
    qtbot.wait(100)  # many turns of the event loop, and the timer again
    assert calls == [True]
