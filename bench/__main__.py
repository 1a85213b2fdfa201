"""`python -m bench`: every benchmark in one command, each in its own process (a fresh
interpreter and QApplication, so one cannot warm the caches of the next), printed one after
the other. Every benchmark compares two things measured in the same run and prints the ratio.

    .venv/bin/python -m bench            # the sizes the README's figures come from
    .venv/bin/python -m bench --quick    # tiny sizes, seconds: checks they all still run
    .venv/bin/python -m bench throughput story_view   # only these
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scripts' siblings, by name
import report  # noqa: E402

HERE = Path(__file__).resolve().parent

#: name -> (script, full-size arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "throughput": ("bench_throughput.py", ["--tokens", "16000", "--repeat", "5"],
                   ["--tokens", "300", "--repeat", "1"]),
    "latency": ("bench_latency.py", ["--tokens", "200", "--repeat", "3"],
                ["--tokens", "20", "--rate", "200", "--repeat", "1", "--load-tokens", "300"]),
    "stream_to_view": ("bench_stream_to_view.py",
                       ["--tokens", "3000", "--rate", "800", "--repeat", "3"],
                       ["--tokens", "200", "--rate", "2000", "--repeat", "1"]),
    "story_view": ("bench_story_view.py", [],
                   ["--kilobytes", "5", "--megabytes", "0.05", "--repeat", "5",
                    "--stream-megabytes", "0.01", "--absorb-tokens", "50",
                    "--stream-seconds", "0.3", "--rows-repeat", "1"]),
    "memory": ("bench_memory.py", [], ["--megabytes", "0.02", "--repeat", "1"]),
    "startup": ("bench_startup.py", ["--runs", "5"],
                ["--runs", "1", "--settle", "0.5", "--idle", "1"]),
    "context": ("bench_context.py", [],
                ["--megabytes", "0.05", "--entries", "20", "--repeat", "1",
                 "--typing-megabytes", "0.05", "--bursts", "2"]),
    "story_files": ("bench_story_files.py", ["--megabytes", "10"],
                    ["--megabytes", "0.05", "--repeat", "1"]),
    "window_files": ("bench_window_files.py", ["--megabytes", "10"],
                     ["--megabytes", "0.05", "--repeat", "1", "--stream-seconds", "0.2"]),
}


def run(name: str, quick: bool, results: str) -> int:
    script, full, small = BENCHMARKS[name]
    print(f"== {name} ({script})", flush=True)
    started = time.perf_counter()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", report.RESULTS_ENV: results}
    result = subprocess.run([sys.executable, str(HERE / script), *(small if quick else full)],
                            cwd=HERE, env=env)
    print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
    return result.returncode


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], metavar="NAME",
                   help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    p.add_argument("--markdown", metavar="FILE", help="also write the table there (markdown)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = str(Path(folder) / "rows.jsonl")
        Path(results).touch()
        failed = [name for name in (args.names or BENCHMARKS)
                  if run(name, args.quick, results) != 0]
        rows = report.load(results)
    table = report.markdown(rows)
    print("every row, as the README shows them:\n" + table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", encoding="utf-8")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
