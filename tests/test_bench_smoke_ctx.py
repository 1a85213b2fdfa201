"""The context, story-file and window-file benchmarks keep running: tiny sizes, no thresholds;
every row they own is printed."""

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
ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
       "PYTHONPATH": os.pathsep.join([str(BENCH.parent),
                                      *filter(None, [os.environ.get("PYTHONPATH")])])}


def run(*args: str) -> list[str]:
    r = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]], capture_output=True,
                       text=True, timeout=180, env=ENV, cwd=BENCH)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_context_benchmark_prints_every_row() -> None:
    lines = run("bench_context.py", "--megabytes", "0.05", "--entries", "20", "--repeat", "1",
                "--typing-megabytes", "0.05", "--bursts", "2")
    for name in ("meter cold", "meter edit", "show request", "generate"):
        for metric in (f"{name} 0.05 MB", f"{name} gap 0.05 MB"):
            assert any(line.startswith(metric) for line in lines), (metric, lines)
    for metric in ("tokencount requests per typing pause", "largest tokencount text",
                   "typing gap"):
        assert any(line.startswith(metric) for line in lines), (metric, lines)


def test_window_files_benchmark_prints_the_autosave_rows() -> None:
    lines = run("bench_window_files.py", "--megabytes", "0.05", "--repeat", "1",
                "--stream-seconds", "0.2")
    for metric in ("open 0.05 MB:", "save gap 0.05 MB:", "stream gap (journal on)",
                   "autosave 0.05 MB:", "autosave gap 0.05 MB:", "keep at quit (session.json)",
                   "keep gap 0.05 MB:"):
        assert any(line.startswith(metric) for line in lines), (metric, lines)


def test_story_files_benchmark_prints_its_rows() -> None:
    lines = run("bench_story_files.py", "--megabytes", "0.05", "--repeat", "1")
    for metric in ("save 0.05 MB", "open 0.05 MB", "lite 0.05 MB", "journal 0.05 MB"):
        assert any(line.startswith(metric) for line in lines), (metric, lines)
