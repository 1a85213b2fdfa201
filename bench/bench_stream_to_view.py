"""What batching saves: CPU of the GUI process appending every network read vs the Controller's
batching, through a shown MainWindow (KoboldClient, Generation, Controller, Story, StoryView).

The emulator runs in its own process (so the CPU measured is the window's alone) at a fast
model's pace, about one event per network read: with `direct` the same Controller appends
every Tokens (one per network read, whatever events it carried) the moment it arrives
(bench_latency's floor), otherwise at most one append a frame.
Both stream the same tokens, alternately, repeated; a 5 ms heartbeat reports the longest gap.

Row (bench/report.py, no goal): GUI CPU per-read ÷ batched (one ratio per repeat), with the
appends per second each made and their longest heartbeat gaps.

Run: .venv/bin/python bench/bench_stream_to_view.py [--tokens 3000] [--rate 800] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import report  # noqa: E402
from bench_latency import Run, one_run  # noqa: E402
from measure import cpu_seconds  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from kobold_gui.ui.controller import Controller  # noqa: E402
from kobold_gui.ui.main_window import MainWindow  # noqa: E402
from kobold_gui.ui.qtloop import install_loop  # noqa: E402

EMULATOR = """
import sys, time
from kobold_gui.emulator import Emulator, EmulatorConfig
emu = Emulator(EmulatorConfig(token_rate=float(sys.argv[1]), first_poll_delay=0.0,
                              poll_interval=0.001, context_length=100000)).start()
print(emu.url, flush=True)
sys.stdin.read()
emu.stop()
"""


def start_emulator(rate: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", EMULATOR, str(rate)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=3000)
    p.add_argument("--rate", type=float, default=800.0, help="emulator tokens per second")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    app = QApplication([])
    loop = install_loop(app)
    proc, url = start_emulator(args.rate)
    window = MainWindow(Controller(url))
    window.resize(1100, 720)
    window.show()
    runs: dict[bool, list[tuple[Run, float, float]]] = {False: [], True: []}

    async def run_all() -> None:
        window.connect_to_server()
        await asyncio.sleep(0.5)
        await one_run(window, 100, False)  # warm-up: imports, first layout
        for _ in range(args.repeat):
            for direct in (True, False):
                cpu, wall = cpu_seconds(), time.perf_counter()
                run = await one_run(window, args.tokens, direct)
                runs[direct].append((run, cpu_seconds() - cpu, time.perf_counter() - wall))
        await window.controller.aclose()

    try:
        with loop:
            loop.run_until_complete(run_all())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)

    def med(direct: bool, what: str) -> float:
        values = []
        for run, cpu, wall in runs[direct]:
            values.append({"cpu": cpu, "share": cpu / wall,
                           "appends": run.appends / run.seconds if run.seconds else 0.0,
                           "events": run.events / run.seconds if run.seconds else 0.0,
                           "gap": run.longest_gap_ms}[what])
        return statistics.median(values)

    print(f"{args.tokens} tokens at up to {args.rate:.0f} tok/s, median of {args.repeat} runs")
    for direct, name in ((True, "per-read"), (False, "batched")):
        print(f"  {name:9s} GUI CPU {med(direct, 'cpu'):6.2f} s "
              f"({med(direct, 'share'):4.0%} of a core) "
              f"{med(direct, 'appends'):6.0f} appends/s for {med(direct, 'events'):6.0f} "
              f"events/s, longest gap {med(direct, 'gap'):5.1f} ms")
    ratios = [d[1] / b[1] for d, b in zip(runs[True], runs[False], strict=True) if b[1] > 0]
    report.row("stream_to_view", f"GUI CPU, appending every network read ÷ batched, "
               f"{args.rate:.0f} tok/s", ratios or [float("nan")],
               detail=f"{args.tokens} tokens; per-read {med(True, 'cpu'):.2f} s "
               f"({med(True, 'appends'):.0f} appends/s) vs batched {med(False, 'cpu'):.2f} s "
               f"({med(False, 'appends'):.0f} appends/s); longest gap "
               f"{med(True, 'gap'):.1f} vs {med(False, 'gap'):.1f} ms")


if __name__ == "__main__":
    main()
