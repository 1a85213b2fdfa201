"""Fixtures for window tests: a MainWindow on a real Controller, connected to the emulator.

Tests are sync pytest-qt tests on the `qloop` fixture (a qasync loop marked running), so the
controller's asyncio tasks advance while qtbot waits. The window is closed and the controller's
client closed (awaited by pumping Qt events) before the loop goes away.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent

from kobold_gui.core.generation import ResilienceConfig
from kobold_gui.core.protocol import DEFAULT_URL
from kobold_gui.ui.controller import Controller
from kobold_gui.ui.main_window import MainWindow

WAIT_MS = 10_000


@pytest.fixture(autouse=True)
def _collect_qt_garbage_here() -> Iterator[None]:
    """Collect cycles on the main thread once the loop is gone.

    qasync's timer QObject keeps cancelled Qt timers registered after `loop.close()`; if the
    cyclic GC later frees it on an emulator thread, Qt warns "Timers cannot be stopped from
    another thread" and the warning fails whichever test is running then. Autouse fixtures are
    torn down last, after `qloop`.
    """
    yield
    gc.collect()


@pytest.fixture
def make_window(qtbot, qloop) -> Iterator[Callable[..., MainWindow]]:
    """Factory: make_window(url=None, password=None, connect=True) -> a shown MainWindow.

    `config` (e.g. short stall and retry delays) and `health_interval` (seconds between the
    idle health checks) go to the Controller; None keeps its defaults.
    """
    windows: list[MainWindow] = []

    def factory(url: str | None = None, password: str | None = None,
                connect: bool = True, *, config: ResilienceConfig | None = None,
                health_interval: float | None = None) -> MainWindow:
        controller = Controller(url or DEFAULT_URL, password, config=config,
                                health_interval=health_interval)
        window = MainWindow(controller)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        # what the window does just after its first frame (accessible names from hints)
        qtbot.waitUntil(lambda: window.start_finished, timeout=WAIT_MS)
        if connect and url:
            window.url_edit.setText(url)
            if password:
                window.password_edit.setText(password)
            window.connect_to_server()
        windows.append(window)
        return window

    yield factory
    for window in windows:
        controller = window.controller
        if shiboken6.isValid(window):  # a window pytest-qt already deleted needs no close
            window.close()
        closing = asyncio.ensure_future(controller.aclose())
        qtbot.waitUntil(closing.done, timeout=WAIT_MS)


def wait_connected(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.controller.server is not None, timeout=WAIT_MS)


@pytest.fixture
def window(make_window, emulator, qtbot) -> MainWindow:
    """A window connected to the default (fast) emulator."""
    w = make_window(emulator.url)
    wait_connected(qtbot, w)
    return w


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens: bind port 0, read the port, close the socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.json"


@pytest.fixture
def settings_window(qtbot, qloop) -> Iterator[Callable[[str, str | None], MainWindow]]:
    """Windows as `kobold-gui` makes them (app settings attached by the test: several per
    test, a start and then the next start), closed and deleted afterwards."""
    made: list[MainWindow] = []

    def factory(url: str, password: str | None) -> MainWindow:
        window = MainWindow(Controller(url, password))
        made.append(window)
        return window

    yield factory
    for window in made:
        window.close()
    for window in made:
        closing = asyncio.ensure_future(window.controller.aclose())
        qtbot.waitUntil(closing.done, timeout=WAIT_MS)
    for window in made:
        window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
