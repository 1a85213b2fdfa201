"""The benchmarks must keep running: a tiny run of each one that needs no window, no thresholds."""

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


def test_story_files_benchmark_runs_and_prints_its_ratios() -> None:
    r = subprocess.run([sys.executable, str(BENCH / "bench_story_files.py"), "--megabytes",
                        "0.05", "--repeat", "1"], capture_output=True, text=True, timeout=120,
                       env=os.environ.copy())
    assert r.returncode == 0, r.stderr
    for row in ("save", "open", "lite", "journal"):
        assert any(line.startswith(row) and "ratio" in line for line in r.stdout.splitlines())


def test_window_files_benchmark_runs_and_prints_its_gaps() -> None:
    r = subprocess.run([sys.executable, str(BENCH / "bench_window_files.py"), "--megabytes",
                        "0.05", "--repeat", "1", "--stream-seconds", "0.2"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert r.returncode == 0, r.stderr
    for row in ("open", "open gap", "save", "save gap", "stream gap"):
        assert any(line.startswith(f"{row} ") and "ratio" in line
                   for line in r.stdout.splitlines()), r.stdout


def test_throughput_benchmark_runs_and_prints_its_ratio() -> None:
    r = subprocess.run([sys.executable, str(BENCH / "bench_throughput.py"), "--tokens", "300",
                        "--repeat", "1"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, cwd=BENCH)
    assert r.returncode == 0, r.stderr
    assert any(line.startswith("throughput ratio pipeline/bare") for line in r.stdout.splitlines())


def test_one_command_runs_every_benchmark() -> None:
    r = subprocess.run([sys.executable, "-m", "bench", "--quick"], capture_output=True,
                       text=True, timeout=300, cwd=BENCH.parent,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    headers = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("== ")]
    assert headers == ["throughput", "latency", "stream_to_view", "story_view", "memory",
                       "startup", "context", "story_files", "window_files"]
    assert "| benchmark | metric | goal |" in r.stdout  # the summary table of every row
