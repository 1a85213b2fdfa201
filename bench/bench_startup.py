"""Start-up as a user sees it, memory and CPU of the idle connected window, each against a bare
Qt window (QApplication + QMainWindow + QPlainTextEdit) started the same way.

Every run starts two fresh processes, interleaved (which goes first alternates): the real app
entry (`kobold-gui --url <emulator>`, its folders in a fresh temporary directory) and the bare
script. "First frame" is the first paint event of the top-level window (the app's is its
window frame, ui/window_frame.py: title, saved size and theme, "Starting…"), seen by an event
filter the child turns on when $KOBOLD_GUI_FIRST_FRAME is set; the child prints its
`time.monotonic()` then ("first-frame"), and the parent took its own just before `Popen`
(CLOCK_MONOTONIC is one clock for every process), so the figure includes the interpreter's start
and every import. The app prints "window-ready" too, at the first paint of the main window built
into the frame (every control there): the second row. Then each process is
left alone: its RSS a few seconds after start, and its CPU time over the idle span. The emulator
runs in this process and logs every request it answers, so the app's requests are counted too.

    python bench/bench_startup.py                       # 5 runs, 30 s idle each
    python bench/bench_startup.py --runs 1 --idle 1 --settle 0.5   # smoke
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import report
from measure import cpu_seconds, rss_mb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kobold_gui.app import FIRST_FRAME_ENV  # noqa: E402
from kobold_gui.emulator import Emulator, EmulatorConfig  # noqa: E402

BENCH = "startup"

#: the `kobold-gui` console script, as setuptools writes it
APP_CODE = "import sys; from kobold_gui.app import main; sys.exit(main())"
#: the floor: the least a Qt window with a text box costs, with the same first-paint report
BARE_CODE = """
import sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow, QPlainTextEdit

app = QApplication(sys.argv[:1])
window = QMainWindow()
window.setCentralWidget(QPlainTextEdit())
window.resize(1100, 720)

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and watched is window:
            window.removeEventFilter(self)
            print(f"first-frame {time.monotonic():.6f}", flush=True)
        return False

hook = FirstPaint()
window.installEventFilter(hook)
window.show()
sys.exit(app.exec())
"""


class RequestLog(logging.Handler):
    """Every request the emulator answered: (time.monotonic(), request line)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.lines.append((time.monotonic(), record.getMessage()))

    def between(self, start: float, end: float) -> list[str]:
        with self._lock:
            return [line for t, line in self.lines if start <= t < end]

    def first_after(self, start: float) -> float | None:
        with self._lock:
            return next((t for t, _line in self.lines if t >= start), None)


#: compiled bytecode for the children, as an installed app has it (this machine may set
#: PYTHONDONTWRITEBYTECODE); the warm-up pair fills it, and the file cache
PYCACHE = Path(tempfile.gettempdir()) / f"kobold_gui-bench-pycache-{os.getuid()}"


def child_env(home: Path) -> dict[str, str]:
    """The app's folders in `home` (as tests/conftest.py does), no keyring, offscreen Qt."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
        "QT_QPA_PLATFORM": env.get("QT_QPA_PLATFORM", "offscreen"),
        "KOBOLD_GUI_LOG_DIR": str(home / "log"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]),
        FIRST_FRAME_ENV: "1",
    })
    env.pop("KOBOLD_URL", None)
    env.pop("KOBOLD_PASSWORD", None)
    return env


class Sample:
    def __init__(self, kind: str, first_frame_ms: float, ready_ms: float, rss: float,
                 cpu_share: float, requests: list[str], first_request_ms: float | None) -> None:
        self.kind = kind
        self.first_frame_ms = first_frame_ms
        #: the app: the main window's first paint inside the frame (the bare: its first frame)
        self.ready_ms = ready_ms
        self.rss = rss
        self.cpu_share = cpu_share
        self.requests = requests
        self.first_request_ms = first_request_ms


def run_one(kind: str, url: str, requests: RequestLog, settle: float, idle: float) -> Sample:
    code = APP_CODE if kind == "app" else BARE_CODE
    argv = [sys.executable, "-c", code] + (["--url", url] if kind == "app" else [])
    with tempfile.TemporaryDirectory(prefix="kobold_gui-bench-") as home:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=child_env(Path(home)), cwd=home)
        try:
            marks = _marks(proc, ("first-frame", "window-ready") if kind == "app"
                           else ("first-frame",), timeout=60.0)
            first_frame_ms = (marks["first-frame"] - started) * 1000
            ready_ms = (marks.get("window-ready", marks["first-frame"]) - started) * 1000
            time.sleep(max(0.0, started + settle - time.monotonic()))
            rss = rss_mb(proc.pid)
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(idle)
            cpu1, wall1 = cpu_seconds(proc.pid), time.monotonic()
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited early: {_stderr(proc)}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        first_request = requests.first_after(started) if kind == "app" else None
        return Sample(kind, first_frame_ms, ready_ms, rss, (cpu1 - cpu0) / (wall1 - wall0),
                      requests.between(wall0, wall1) if kind == "app" else [],
                      None if first_request is None else (first_request - started) * 1000)


def _marks(proc: subprocess.Popen[bytes], names: tuple[str, ...],
           timeout: float) -> dict[str, float]:
    """The times the child printed as "<name> <time.monotonic()>", once all `names` came."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
            for line in buffer.decode(errors="replace").splitlines():
                name, _, value = line.partition(" ")
                if name in names and value:
                    seen[name] = float(value)
            if all(name in seen for name in names):
                return seen
        elif proc.poll() is not None:
            break
    err = _stderr(proc) if proc.poll() is not None else ""
    missing = ", ".join(name for name in names if name not in seen)
    raise RuntimeError(f"{missing} not reported (exit {proc.poll()}): {err[-2000:]}")


def _stderr(proc: subprocess.Popen[bytes]) -> str:
    return proc.stderr.read().decode(errors="replace") if proc.stderr is not None else ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="pairs of fresh processes (default 5)")
    p.add_argument("--settle", type=float, default=4.0,
                   help="seconds after start at which RSS is read and the idle span begins")
    p.add_argument("--idle", type=float, default=30.0, help="idle span for CPU, seconds")
    args = p.parse_args()

    requests = RequestLog()
    emulator_log = logging.getLogger("kobold_gui.emulator.http_handler")
    emulator_log.setLevel(logging.DEBUG)
    emulator_log.addHandler(requests)
    emulator_log.propagate = False
    emulator = Emulator(EmulatorConfig(model="bench/Startup-7B", token_rate=0.0))
    emulator.start()
    samples: dict[str, list[Sample]] = {"app": [], "bare": []}
    try:
        for kind in ("app", "bare"):  # warm-up, not counted: bytecode and file caches
            run_one(kind, emulator.url, requests, 0.0, 0.0)
        for i in range(args.runs):
            order = ("app", "bare") if i % 2 == 0 else ("bare", "app")
            for kind in order:
                s = run_one(kind, emulator.url, requests, args.settle, args.idle)
                samples[kind].append(s)
                extra = (f", first request at {s.first_request_ms:.0f} ms, "
                         f"{len(s.requests)} requests while idle"
                         if kind == "app" and s.first_request_ms is not None else "")
                print(f"  run {i + 1} {kind}: first frame {s.first_frame_ms:.0f} ms, "
                      f"RSS {s.rss:.1f} MB, CPU {s.cpu_share * 100:.2f} %{extra}", flush=True)
    finally:
        emulator.stop()

    app, bare = samples["app"], samples["bare"]
    ratios = [a.first_frame_ms / b.first_frame_ms for a, b in zip(app, bare, strict=True)]
    med = sorted(ratios)[len(ratios) // 2]
    report.row(BENCH, "start to first frame ÷ bare QMainWindow + QPlainTextEdit", ratios,
               goal="≤ 1.5", unit="×", met=med <= 1.5 if len(ratios) else None,
               detail=_detail(app, bare, "first_frame_ms", "ms", "{:.0f}")
               + "; fresh processes, real entry with --url, offscreen")
    whole = [a.ready_ms / b.first_frame_ms for a, b in zip(app, bare, strict=True)]
    report.row(BENCH, "start to the whole window (every control) ÷ bare", whole, unit="×",
               detail=_detail(app, bare, "ready_ms", "ms", "{:.0f}")
               + "; the main window's first paint inside the frame (the first frame is the "
               "frame: title, saved size and theme, \"Starting…\")")
    rss = [a.rss for a in app]
    report.row(BENCH, "RSS idle", rss, goal="< 100 MB", unit="MB",
               met=sorted(rss)[len(rss) // 2] < 100,
               detail=_detail(app, bare, "rss", "MB", "{:.1f}")
               + f"; {args.settle:g} s after start, connected")
    cpu = [a.cpu_share * 100 for a in app]
    per_interval = [len(a.requests) for a in app]
    report.row(BENCH, f"CPU of an idle connected window over {args.idle:g} s", cpu,
               goal="< 1 %", unit="%", met=sorted(cpu)[len(cpu) // 2] < 1.0,
               detail=_detail(app, bare, "cpu_share", "%", "{:.2f}", scale=100)
               + f"; requests in the span {min(per_interval)}–{max(per_interval)}")
    return 0


def _detail(app: list[Sample], bare: list[Sample], name: str, unit: str, fmt: str,
            scale: float = 1.0) -> str:
    def median(xs: list[Sample]) -> str:
        values = sorted(getattr(s, name) * scale for s in xs)
        return fmt.format(values[len(values) // 2])

    return f"app {median(app)} {unit} vs bare {median(bare)} {unit} (medians)"


if __name__ == "__main__":
    sys.exit(main())
