"""Start-up order (issue 9): the window's first frame comes before any network or TLS work,
httpx is imported by the first connect, not by the window, and the app still connects alone."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kobold_gui.app import FIRST_FRAME_ENV, connect_after_first_frame
from kobold_gui.core import errors as E
from kobold_gui.core.serverinfo import normalize_url

ROOT = Path(__file__).resolve().parents[2]

#: the app entry, with a look at the process as the window is first painted
SPY = """
import sys, kobold_gui.app as app
real = app.after_first_paint
def spy(widget, callback):
    def report():
        print("at-first-paint httpx=%s" % ("httpx" in sys.modules), flush=True)
        callback()
    real(widget, report)
app.after_first_paint = spy
sys.exit(app.main())
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


class Requests(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.times: list[float] = []
        self.lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:
            self.times.append(time.monotonic())


@pytest.fixture
def request_log() -> Iterator[Requests]:
    handler = Requests()
    log = logging.getLogger("kobold_gui.emulator.http_handler")
    level, propagate = log.level, log.propagate
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)
    yield handler
    log.removeHandler(handler)
    log.setLevel(level)
    log.propagate = propagate


def test_the_app_paints_before_any_request_and_then_connects(make_emulator, request_log,
                                                             tmp_path: Path) -> None:
    emulator = make_emulator()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **{FIRST_FRAME_ENV: "1"})
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
                 "KOBOLD_GUI_LOG_DIR"):
        env[name] = str(tmp_path / name)
    env.pop("KOBOLD_PASSWORD", None)
    proc = subprocess.Popen([sys.executable, "-c", SPY, "--url", emulator.url], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE,
                            stderr=(tmp_path / "stderr").open("w"), text=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("first-frame "):
            lines.append(proc.stdout.readline())
            assert lines[-1], (lines, (tmp_path / "stderr").read_text())
        frame = float(lines[-1].split()[1])
        assert "at-first-paint httpx=False\n" in lines, lines
        deadline = time.monotonic() + 20
        while not request_log.times and time.monotonic() < deadline:
            time.sleep(0.05)
        assert request_log.times, ("the app did not connect on its own",
                                   (tmp_path / "stderr").read_text())
        assert min(request_log.times) > frame
    finally:
        proc.terminate()
        proc.wait(10)
