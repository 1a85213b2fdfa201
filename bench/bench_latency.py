"""Event received → text in the story, at a model's pace (50 tok/s), through a shown window.

Two runs side by side: the Controller as the window uses it (at most one append a frame, with
no wait when the last append is a frame ago), and the same Controller appending every token the
moment it arrives (the floor). Latency is measured per token from the moment the controller
receives the event to the moment its text is in the story (`text_appended`).

Run: .venv/bin/python bench/bench_latency.py [--tokens 200] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from kobold_gui.core import settings as S  # noqa: E402
from kobold_gui.core.events import Tokens  # noqa: E402
from kobold_gui.core.story import Story  # noqa: E402
from kobold_gui.emulator import Emulator, EmulatorConfig  # noqa: E402
from kobold_gui.ui.controller import Controller  # noqa: E402
from kobold_gui.ui.main_window import MainWindow  # noqa: E402
from kobold_gui.ui.qtloop import install_loop  # noqa: E402


async def one_run(window: MainWindow, tokens: int, direct: bool) -> list[float]:
    controller = window.controller
    arrivals: list[float] = []
    latencies: list[float] = []
    receive = Controller._on_event

    def on_event(event: Any) -> None:
        if isinstance(event, Tokens):
            arrivals.append(time.perf_counter())
        receive(controller, event)
        if direct and isinstance(event, Tokens):
            controller._flush()

    def appended(_text: str) -> None:
        now = time.perf_counter()
        latencies.extend(now - t for t in arrivals)
        arrivals.clear()

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
    assert controller.generate("", S.defaults() | {"max_length": tokens})
    await done
    controller.generation_finished.disconnect(finished)
    controller.generation_failed.disconnect(finished)
    controller.text_appended.disconnect(appended)
    del controller._on_event
    while controller.busy:
        await asyncio.sleep(0.01)
    return latencies


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--rate", type=float, default=50.0, help="emulator tokens per second")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    app = QApplication([])
    loop = install_loop(app)
    emu = Emulator(EmulatorConfig(token_rate=args.rate, first_poll_delay=0.0,
                                  poll_interval=0.005)).start()
    window = MainWindow(Controller(emu.url))
    window.show()
    results: dict[bool, list[float]] = {False: [], True: []}

    async def run_all() -> None:
        window.connect_to_server()
        await asyncio.sleep(0.5)
        for _ in range(args.repeat):
            for direct in (False, True):
                results[direct].extend(await one_run(window, args.tokens, direct))
        await window.controller.aclose()

    with loop:
        loop.run_until_complete(run_all())
    emu.stop()

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    print(f"{args.tokens} tokens at {args.rate:.0f} tok/s, {args.repeat} runs, ms from the "
          "event to the text in the story")
    for direct, name in ((False, "window"), (True, "direct")):
        values = results[direct]
        print(f"  {name:7s} p50 {statistics.median(values) * 1000:6.2f}   p99 "
              f"{pct(values, 0.99):6.2f}   max {max(values) * 1000:6.2f}")
    ratio = pct(results[False], 0.99) / max(pct(results[True], 0.99), 1e-6)
    print(f"latency p99 window/direct {ratio:.2f} (goal: window p99 ≤ 5 ms)")


if __name__ == "__main__":
    main()
