"""The memory benchmark and the issue-9 rows of the story-view benchmark keep running: tiny
sizes, no thresholds (the figures are `python -m bench`'s job)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

#: each test waits for a benchmark in a child process (its own timeout below); a loaded CI
#: machine can take longer than the suite's default per-test limit
pytestmark = pytest.mark.timeout(360)
ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def test_memory_benchmark_runs_and_prints_its_rows() -> None:
    r = subprocess.run([sys.executable, str(BENCH / "bench_memory.py"), "--megabytes", "0.02",
                        "--repeat", "1"], capture_output=True, text=True, timeout=180,
                       env=ENV, cwd=BENCH)
    assert r.returncode == 0, r.stderr
    assert any(line.startswith("RSS after streaming 0.02 M characters")
               for line in r.stdout.splitlines()), r.stdout


def test_story_view_rows_run() -> None:
    r = subprocess.run([sys.executable, str(BENCH / "bench_story_view.py"), "--kilobytes", "5",
                        "--megabytes", "0.05", "--repeat", "5", "--stream-megabytes", "0.01",
                        "--absorb-tokens", "50", "--stream-seconds", "0.3",
                        "--rows-repeat", "1"], capture_output=True, text=True, timeout=180,
                       env=ENV, cwd=BENCH)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for metric in ("absorb 50 tokens into a", "one 5 KB paragraph without newlines, 50 tok/s: "
                   "longest gap", "one 5 KB paragraph without newlines, 50 tok/s: CPU"):
        assert any(line.startswith(metric) for line in lines), r.stdout
