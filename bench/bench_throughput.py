"""Flat-out throughput: the whole window pipeline vs a bare httpx-sse consumer, same source.

The source is bench/replay_server.py, which writes a whole reply's SSE events in one go, so it
outruns any client: the ratio of the two event rates is what our pipeline (KoboldClient,
Generation, the Controller's batching, the Story and the StoryView of a shown MainWindow) costs
over the cheapest possible consumer, not how fast a server paces its events. A 5 ms heartbeat
timer runs through both and reports the longest gap (a frozen window).

Rows: the ratio of the two event rates (goal >= 0.7) and the pipeline's longest heartbeat gap
(goal < 25 ms), one sample per repeat, through bench/report.py. KoboldCPP caps a request at
16384 tokens, so that is the largest reply.

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
import report  # noqa: E402
from measure import Heartbeat  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from replay_server import ReplayServer  # noqa: E402

from kobold_gui.core import settings as S  # noqa: E402
from kobold_gui.core.story import Story  # noqa: E402
from kobold_gui.ui.controller import Controller  # noqa: E402
from kobold_gui.ui.main_window import MainWindow  # noqa: E402
from kobold_gui.ui.qtloop import install_loop  # noqa: E402


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
    print_rows(rows, args.tokens, args.repeat)


def print_rows(rows: dict[str, list[tuple[float, float]]], tokens: int, repeat: int) -> None:
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
    # One ratio per repeat: bare and pipeline ran back to back, so each pair shares the
    # machine's state of the moment.
    ratios = [p[0] / b[0] for p, b in zip(rows["pipeline"], rows["bare"], strict=True)]
    ratio = statistics.median(ratios)
    report.row("throughput", "pipeline ÷ bare httpx-sse consumer, flat-out", ratios,
               goal="≥ 0.7", detail=f"{tokens} events; pipeline {med('pipeline', 0):.0f} "
               f"vs bare {med('bare', 0):.0f} events/s", met=ratio >= 0.7)
    gaps = [r[1] for r in rows["pipeline"]]
    report.row("throughput", "longest 5 ms heartbeat gap, flat-out", gaps, goal="< 25 ms",
               unit="ms", detail=f"the window streaming {tokens} events flat out; the bare "
               f"consumer's own gap {med('bare', 1):.1f} ms", met=statistics.median(gaps) < 25)


if __name__ == "__main__":
    main()
