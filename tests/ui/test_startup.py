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
