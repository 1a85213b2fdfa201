"""Tokens into the window: per-token appends vs the controller's per-frame batching.

Both runs stream the same tokens from the emulator (in a separate process, as fast as the
client can take them) into a shown StoryView on the qasync loop, through the real
KoboldClient. A 5 ms heartbeat timer measures how long the event loop is blocked: the longest
gap is what a user feels as a frozen window; CPU time of the GUI process is the other cost.
Prints both modes and their ratio.

Run: .venv/bin/python bench/bench_stream_to_view.py [--tokens 16000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from kobold_gui.core import settings as S  # noqa: E402
from kobold_gui.core.events import Tokens  # noqa: E402
from kobold_gui.core.generation import Generation  # noqa: E402
from kobold_gui.core.protocol import KoboldClient  # noqa: E402
from kobold_gui.core.story import Story  # noqa: E402
from kobold_gui.ui.controller import FRAME_MS  # noqa: E402
from kobold_gui.ui.qtloop import install_loop  # noqa: E402
from kobold_gui.ui.story_view import StoryView  # noqa: E402

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


async def run_once(url: str, view: StoryView, tokens: int, batched: bool) -> dict[str, float]:
    gaps: list[float] = []
    last = time.perf_counter()

    def beat() -> None:
        nonlocal last
        now = time.perf_counter()
        gaps.append(now - last)
        last = now

    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(beat)
    pending: list[str] = []
    flush = QTimer()
    flush.setSingleShot(True)
    flush.setInterval(FRAME_MS)

    def do_flush() -> None:
        if pending:
            view.story().append_text(-1, "".join(pending))
            pending.clear()

    flush.timeout.connect(do_flush)

    def on_event(event: object) -> None:
        if isinstance(event, Tokens):
            if batched:
                pending.append(event.text)
                if not flush.isActive():
                    flush.start()
            else:
                view.story().append_text(-1, event.text)

    client = KoboldClient(url)
    story = Story()
    story.append_segment("user", "Bench:")
    story.append_segment("model")
    view.set_story(story)
    values = S.defaults() | {"max_length": tokens, "max_context_length": 100000}
    gen = Generation(client, f"bench {batched}", values, on_event)
    heartbeat.start()
    started = time.perf_counter()
    cpu_started = time.process_time()
    await gen.run()
    do_flush()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    heartbeat.stop()
    await client.aclose()
    ordered = sorted(gaps) or [0.0]
    return {"seconds": elapsed, "gui_cpu_s": cpu, "tok_s": tokens / elapsed,
            "max_gap_ms": ordered[-1] * 1000,
            "p99_gap_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "median_gap_ms": statistics.median(ordered) * 1000}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=16000)
    p.add_argument("--rate", type=float, default=5000.0, help="emulator tokens per second")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    app = QApplication([])
    loop = install_loop(app)
    view = StoryView()
    view.resize(800, 600)
    view.show()
    proc, url = start_emulator(args.rate)
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    try:
        with loop:
            loop.run_until_complete(run_once(url, view, 200, True))  # warm-up
            for _ in range(args.repeat):
                for batched in (False, True):
                    results[batched].append(
                        loop.run_until_complete(run_once(url, view, args.tokens, batched)))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)

    def med(batched: bool, key: str) -> float:
        return statistics.median(r[key] for r in results[batched])

    print(f"{args.tokens} tokens at up to {args.rate:.0f} tok/s, median of {args.repeat} runs")
    for key in ("seconds", "gui_cpu_s", "tok_s", "max_gap_ms", "p99_gap_ms"):
        per, bat = med(False, key), med(True, key)
        print(f"  {key:12s} per-token {per:10.2f}   batched {bat:10.2f}   "
              f"ratio per/batched {per / bat if bat else float('nan'):6.2f}")


if __name__ == "__main__":
    main()
