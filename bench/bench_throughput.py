"""Flat-out throughput: the whole window pipeline vs a bare httpx-sse consumer, same source.

The source is bench/replay_server.py, which writes a whole reply's SSE events in one go, so it
outruns any client: the ratio of the two event rates is what our pipeline (KoboldClient,
Generation, the Controller's batching, the Story and the StoryView of a shown MainWindow) costs
over the cheapest possible consumer, not how fast a server paces its events. A 5 ms heartbeat
timer runs through both and reports the longest gap (a frozen window).

Run: .venv/bin/python bench/bench_throughput.py [--tokens 16000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import httpx  # noqa: E402
import httpx_sse  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from replay_server import ReplayServer  # noqa: E402

from kobold_gui.core import settings as S  # noqa: E402
from kobold_gui.core.story import Story  # noqa: E402
from kobold_gui.ui.controller import Controller  # noqa: E402
from kobold_gui.ui.main_window import MainWindow  # noqa: E402
from kobold_gui.ui.qtloop import install_loop  # noqa: E402


class Heartbeat:
    """The longest time the event loop went without running a 5 ms timer."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def __enter__(self) -> Heartbeat:
        self.gaps.clear()
        self._last = time.perf_counter()
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.stop()

    @property
    def longest_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000


async def bare(url: str, tokens: int) -> tuple[float, str]:
    """Seconds to read every event and join its text: the floor for any client."""
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        parts: list[str] = []
        async with httpx_sse.aconnect_sse(client, "POST", url + "/api/extra/generate/stream",
                                          json={"prompt": "bench", "max_length": tokens}) as es:
            async for event in es.aiter_sse():
                parts.append(event.json()["token"])
        return time.perf_counter() - started, "".join(parts)


async def pipeline(window: MainWindow, tokens: int) -> tuple[float, str]:
    """Seconds from Continue to the reply ended in the window's story."""
    story = Story()
    story.append_segment("user", "bench")
    window.set_story(story)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def finished(*_args: object) -> None:
        if not done.done():
            done.set_result(None)

    controller = window.controller
    controller.generation_finished.connect(finished)
    controller.generation_failed.connect(finished)
    values = S.defaults() | {"max_length": tokens, "max_context_length": 500_000}
    errors: list[str] = []
    controller.error.connect(errors.append)
    started = time.perf_counter()
    assert controller.generate("", values), f"the window refused to generate: {errors}"
    controller.error.disconnect(errors.append)
    await done
    elapsed = time.perf_counter() - started
    controller.generation_finished.disconnect(finished)
    controller.generation_failed.disconnect(finished)
    while controller.busy:
        await asyncio.sleep(0.01)
    return elapsed, story.text[len("bench"):]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=16000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    app = QApplication([])
    loop = install_loop(app)
    server = ReplayServer(args.tokens).start()
    window = MainWindow(Controller(server.url))
    window.resize(1100, 720)
    window.show()
    rows: dict[str, list[tuple[float, float]]] = {"bare": [], "pipeline": []}

    async def run_all() -> None:
        window.connect_to_server()
        await asyncio.sleep(0.5)
        await pipeline(window, 200)  # warm-up: imports, first layout
        for _ in range(args.repeat):
            for name in ("bare", "pipeline"):
                with Heartbeat() as beat:
                    if name == "bare":
                        seconds, text = await bare(server.url, args.tokens)
                    else:
                        seconds, text = await pipeline(window, args.tokens)
                assert text == server.reply.text, f"{name} lost or changed text"
                rows[name].append((args.tokens / seconds, beat.longest_ms))
        await window.controller.aclose()

    with loop:
        loop.run_until_complete(run_all())
    server.stop()
    report(rows, args.tokens, args.repeat)


def report(rows: dict[str, list[tuple[float, float]]], tokens: int, repeat: int) -> None:
    def med(name: str, column: int) -> float:
        return statistics.median(r[column] for r in rows[name])

    def spread(name: str, column: int) -> str:
        values = [r[column] for r in rows[name]]
        return f"{min(values):.0f}–{max(values):.0f}"

    print(f"{tokens} events flat out from the replay server, median of {repeat} runs")
    for name in ("bare", "pipeline"):
        print(f"  {name:9s} {med(name, 0):9.0f} events/s ({spread(name, 0)})   "
              f"longest gap {med(name, 1):6.1f} ms ({spread(name, 1)})")
    print(f"throughput ratio pipeline/bare {med('pipeline', 0) / med('bare', 0):.2f}")


if __name__ == "__main__":
    main()
