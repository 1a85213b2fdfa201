"""bench/bench_startup.py still runs (tiny sizes, no thresholds): every row it owns is printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

#: each test waits for a benchmark in a child process (its own timeout below); a loaded CI
#: machine can take longer than the suite's default per-test limit
pytestmark = pytest.mark.timeout(360)
ROWS = ("start to first frame ÷ bare QMainWindow + QPlainTextEdit:", "RSS idle:",
        "CPU of an idle connected window over 1 s:")


def test_bench_startup_quick() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("KOBOLD_BENCH_RESULTS", None)
    proc = subprocess.run([sys.executable, "bench_startup.py", "--runs", "1", "--idle", "1",
                           "--settle", "0.5"], cwd=BENCH, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for metric in ROWS:
        assert metric in proc.stdout, proc.stdout
