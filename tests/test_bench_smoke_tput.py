"""The throughput, latency and stream-to-view benchmarks keep running: a tiny run of each, in
its own process, checking that every row it owns is printed (no thresholds)."""

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

CASES = {
    "bench_throughput.py": (["--tokens", "300", "--repeat", "1"],
                            ["throughput ratio pipeline/bare",
                             "pipeline ÷ bare httpx-sse consumer, flat-out:",
                             "longest 5 ms heartbeat gap, flat-out:"]),
    "bench_latency.py": (["--tokens", "20", "--rate", "200", "--repeat", "1",
                          "--load-tokens", "300"],
                         ["latency p99 window/direct",
                          "event received → text in the document, 200 tok/s:",
                          "longest 5 ms heartbeat gap, 200 tok/s:",
                          "event received → text in the document, flat-out (under load):"]),
    "bench_stream_to_view.py": (["--tokens", "200", "--rate", "2000", "--repeat", "1"],
                                ["GUI CPU, appending every network read ÷ batched, 2000 tok/s:"]),
}


@pytest.mark.parametrize("script", list(CASES))
def test_benchmark_runs_and_prints_its_rows(script: str) -> None:
    args, starts = CASES[script]
    root = str(BENCH.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    r = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                       text=True, timeout=120, cwd=BENCH,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": path})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for start in starts:
        assert any(line.startswith(start) for line in lines), (start, r.stdout)
