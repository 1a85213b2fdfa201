"""Event received → text in the story, through a shown window: idle at a model's pace, and
under load (flat out).

At 50 tok/s two runs side by side: the Controller as the window uses it (at most one append a
frame, with no wait when the last append is a frame ago), and the same Controller appending
every token the moment it arrives (the floor). Latency is measured per event from the moment
the controller receives it to the moment its text is in the story (`text_appended`); a 5 ms
heartbeat runs through the window's runs (the longest gap at 50 tok/s).

Under load the replay server (bench/replay_server.py) sends a whole reply at once: the
latency then, and how many appends a second reach the story for how many stream events,
show that batching kicks in under load only (at 50 tok/s every event is its own append).

Rows (bench/report.py): p99 at 50 tok/s (goal ≤ 5 ms), the longest heartbeat gap at 50 tok/s
(goal < 25 ms), p99 under load with appends/s vs events/s (no goal).

Run: .venv/bin/python bench/bench_latency.py [--tokens 200] [--rate 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import report  # noqa: E402
from measure import Heartbeat  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from replay_server import ReplayServer  # noqa: E402

from kobold_gui.core import settings as S  # noqa: E402
from kobold_gui.core.events import Tokens  # noqa: E402
from kobold_gui.core.story import Story  # noqa: E402
from kobold_gui.emulator import Emulator, EmulatorConfig  # noqa: E402
from kobold_gui.ui.controller import Controller  # noqa: E402
from kobold_gui.ui.main_window import MainWindow  # noqa: E402
from kobold_gui.ui.qtloop import install_loop  # noqa: E402


@dataclass
class Run:
    #: seconds from the controller receiving an event to its text in the story, per event
    latencies: list[float] = field(default_factory=list)
    #: Tokens the controller received, stream events they carried, appends to the story
    tokens: int = 0
    events: int = 0
    appends: int = 0
    #: from the first event to the last append
    seconds: float = 0.0
    longest_gap_ms: float = 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def one_run(window: MainWindow, tokens: int, direct: bool) -> Run:
    """One generation through the window; `direct`: every Tokens appended at once."""
    controller = window.controller
    run = Run()
    arrivals: list[tuple[float, int]] = []
    first = last = 0.0
    receive = Controller._on_event

    def on_event(event: Any) -> None:
        nonlocal first
        if isinstance(event, Tokens):
            now = time.perf_counter()
            first = first or now
            arrivals.append((now, event.events))
            run.tokens += 1
            run.events += event.events
        receive(controller, event)
        if direct and isinstance(event, Tokens):
            controller._flush()

    def appended(_text: str) -> None:
        nonlocal last
        now = last = time.perf_counter()
        for at, events in arrivals:
            run.latencies.extend([now - at] * events)
        arrivals.clear()
        run.appends += 1

    controller._on_event = on_event  # type: ignore[method-assign]
    controller.text_appended.connect(appended)
    story = Story()
    story.append_segment("user", "Latency")
    window.set_story(story)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def finished(*_a: object) -> None:
        if not done.done():
            done.set_result(None)

    controller.generation_finished.connect(finished)
    controller.generation_failed.connect(finished)
    with Heartbeat() as beat:
        assert controller.generate("", S.defaults() | {"max_length": tokens,
                                                       "max_context_length": 100_000})
        await done
    run.longest_gap_ms = beat.longest_ms
    controller.generation_finished.disconnect(finished)
    controller.generation_failed.disconnect(finished)
    controller.text_appended.disconnect(appended)
    del controller._on_event
    while controller.busy:
        await asyncio.sleep(0.01)
    run.seconds = last - first
    return run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--rate", type=float, default=50.0, help="emulator tokens per second")
    p.add_argument("--load-tokens", type=int, default=16000,
                   help="events of the flat-out reply (under load)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    app = QApplication([])
    loop = install_loop(app)
    emu = Emulator(EmulatorConfig(token_rate=args.rate, first_poll_delay=0.0,
                                  poll_interval=0.005)).start()
    replay = ReplayServer(args.load_tokens).start()
    window = MainWindow(Controller(emu.url))
    window.show()
    results: dict[str, list[Run]] = {"window": [], "direct": [], "load": []}

    async def run_all() -> None:
        window.connect_to_server()
        await asyncio.sleep(0.5)
        await one_run(window, 20, False)  # warm-up: imports, first layout
        for _ in range(args.repeat):
            for direct in (False, True):
                results["direct" if direct else "window"].append(
                    await one_run(window, args.tokens, direct))
        window.controller.connect_to(replay.url)
        await asyncio.sleep(0.3)
        await one_run(window, 200, False)  # warm-up against this server
        for _ in range(args.repeat):
            results["load"].append(await one_run(window, args.load_tokens, False))
        await window.controller.aclose()

    with loop:
        loop.run_until_complete(run_all())
    emu.stop()
    replay.stop()
    print_rows(results, args)


def print_rows(results: dict[str, list[Run]], args: argparse.Namespace) -> None:
    def every(name: str) -> list[float]:
        return [x for r in results[name] for x in r.latencies]

    print(f"{args.tokens} tokens at {args.rate:.0f} tok/s, {args.repeat} runs, ms from the "
          "event to the text in the story")
    for name in ("window", "direct"):
        values = every(name)
        print(f"  {name:7s} p50 {statistics.median(values) * 1000:6.2f}   p99 "
              f"{pct(values, 0.99):6.2f}   max {max(values) * 1000:6.2f}")
    ratio = pct(every("window"), 0.99) / max(pct(every("direct"), 0.99), 1e-6)
    print(f"latency p99 window/direct {ratio:.2f} (goal: window p99 ≤ 5 ms)")

    idle, direct, load = results["window"], results["direct"], results["load"]
    p99 = [r.pct(0.99) for r in idle]
    per_event = sum(r.appends for r in idle) / max(1, sum(r.events for r in idle))
    report.row("latency", f"event received → text in the document, {args.rate:.0f} tok/s",
               p99, goal="p99 ≤ 5 ms", unit="ms",
               detail=f"p99 per run; p50 {statistics.median(every('window')) * 1000:.2f} ms; "
               f"appending every event at once: p99 "
               f"{statistics.median(r.pct(0.99) for r in direct):.2f} ms; "
               f"{per_event:.2f} appends per event (no batching when idle)",
               met=statistics.median(p99) <= 5)
    gaps = [r.longest_gap_ms for r in idle]
    report.row("latency", f"longest 5 ms heartbeat gap, {args.rate:.0f} tok/s", gaps,
               goal="< 25 ms", unit="ms",
               detail=f"the window streaming {args.tokens} tokens; appending every event at "
               f"once: {statistics.median(r.longest_gap_ms for r in direct):.1f} ms",
               met=statistics.median(gaps) < 25)
    appends = statistics.median(r.appends / r.seconds for r in load if r.seconds > 0)
    events = statistics.median(r.events / r.seconds for r in load if r.seconds > 0)
    report.row("latency", "event received → text in the document, flat-out (under load)",
               [r.pct(0.99) for r in load], unit="ms",
               detail=f"p99 per run of {args.load_tokens} events; {appends:.0f} appends/s "
               f"for {events:.0f} events/s ({statistics.median(r.tokens for r in load):.0f} "
               "network reads a reply): batching under load")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


if __name__ == "__main__":
    main()
