"""Does planning the next request freeze the window or flood the server, however long the story?

Drives a shown MainWindow connected (its real Controller and KoboldClient) to the emulator,
which runs in its own process (bench/counting_emulator.py) and reports every tokencount
request it receives, so the window's heartbeat measures the window and the request count is
the server's.

1. Context assembly, each for a small story and for one of --megabytes, both with
   --entries world-info entries, --repeat times, a 5 ms heartbeat running:
   - "meter cold": the context meter's plan (ContextWiring.preview_now, the call its 600 ms
     timer makes) right after the story is opened, the token cache empty;
   - "meter edit": the same after one character was typed at the end (the cache warm);
   - "show request": Generate ▸ Show Request until the dialog shows the body;
   - "generate": Generate until the request is planned (Controller.context_planned), then the
     reply is stopped.
   Each: wall time and the longest heartbeat gap (goal < 1 s, < 25 ms on the big story).
2. Typing: a story of --typing-megabytes; --bursts bursts of QTest key clicks into the story
   view (5 words, 40 ms apart), each followed by a pause in which the meter plans again.
   Rows: tokencount requests per pause (goal 1), the longest text one asked about (never
   the story: only the paragraph typed in, and the prompt's final check), the heartbeat gap.

Run: .venv/bin/python bench/bench_context.py [--megabytes 10] [--entries 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_TMP = tempfile.TemporaryDirectory(prefix="bench_context-")
for _name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
              "KOBOLD_GUI_LOG_DIR"):
    os.environ[_name] = str(Path(_TMP.name) / _name.lower())  # never the user's own files

import report  # noqa: E402  (siblings, by name)
from bench_story_files import make_story  # noqa: E402
from measure import Heartbeat  # noqa: E402
from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from kobold_gui.core.story import Story, WorldInfoEntry  # noqa: E402
from kobold_gui.ui.controller import Controller  # noqa: E402
from kobold_gui.ui.main_window import MainWindow  # noqa: E402
from kobold_gui.ui.qtloop import install_loop  # noqa: E402

HERE = Path(__file__).resolve().parent
#: BENCH_PROFILE=FILE: cProfile the measured plans (not the setup) into FILE
PROFILE = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
BENCH = "context"
GAP_GOAL = 25.0
WALL_GOAL = 1000.0


class CountingServer:
    """The emulator in a subprocess; `requests` holds (time, characters asked about)."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "counting_emulator.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None
        first = self.process.stdout.readline().split()
        if first[:1] != ["url"]:
            raise RuntimeError(f"the emulator did not start: {first}")
        self.url = first[1]
        self.requests: list[tuple[float, int]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "tokencount" and parts[1].lstrip("-").isdigit():
                self.requests.append((time.perf_counter(), int(parts[1])))

    def since(self, mark: int) -> list[int]:
        return [chars for _t, chars in self.requests[mark:]]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def world_info(entries: int, rng: random.Random) -> tuple[WorldInfoEntry, ...]:
    """A quarter keyed on words the story uses (they match), the rest on names it never
    mentions (each is looked for and not found: the costly case)."""
    out = []
    for i in range(entries):
        keys = (("keeper", "storm", "café")[i % 3],) if i % 4 == 0 else (f"zephyrine{i}",
                                                                            f"quillon{i}")
        content = " ".join(rng.choice(["Mira", "tends", "the", "light", "on", "Skerry"])
                           for _ in range(30))
        out.append(WorldInfoEntry(keys=keys, content=f"[{i}] {content}.", comment=f"entry {i}"))
    return tuple(out)


def with_entries(story: Story, entries: tuple[WorldInfoEntry, ...]) -> Story:
    story.set_fields(world_info=entries)
    story.mark_saved()
    return story


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the window did not get there in time")
        await asyncio.sleep(0.001)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


class Planned:
    """Counts the meter's finished previews (ContextWiring.preview_done)."""

    def __init__(self, window: MainWindow) -> None:
        self.count = 0
        window.context.preview_done.connect(self._done)

    def _done(self, _plan: object) -> None:
        self.count += 1

    def another(self) -> Callable[[], bool]:
        """True once a preview finished after this call."""
        n = self.count
        return lambda: self.count > n


async def timed(beat: Heartbeat, start: Callable[[], object],
                done: Callable[[], bool]) -> tuple[float, float]:
    await settle()
    if PROFILE is not None:
        PROFILE.enable()
    beat.start()
    began = time.perf_counter()
    start()
    await until(done)
    wall = (time.perf_counter() - began) * 1000
    await asyncio.sleep(0.02)  # the frame right after counts too
    beat.stop()
    if PROFILE is not None:
        PROFILE.disable()
    return wall, beat.longest_ms


async def shown_whole(window: MainWindow) -> None:
    """The view renders a long story a piece per turn after it is opened: wait for it, so
    what is measured is the plan, not the view (bench_window_files.py measures opening)."""
    await until(lambda: not window.output.rendering(), timeout=120)
    await settle()


async def assembly(window: MainWindow, stories: dict[str, Story], repeat: int,
                   ) -> dict[str, dict[str, list[float]]]:
    beat = Heartbeat()
    planned = Planned(window)
    context = window.context
    controller = window.controller
    out: dict[str, dict[str, list[float]]] = {}
    for label, story in stories.items():
        rows: dict[str, list[float]] = {}

        def add(name: str, wall: float, gap: float, rows: dict[str, list[float]] = rows) -> None:
            rows.setdefault(name, []).append(wall)
            rows.setdefault(f"{name} gap", []).append(gap)

        window.set_story(story)
        await shown_whole(window)
        for _ in range(repeat):
            context._timer.stop()  # noqa: SLF001  (the bench starts each plan itself)
            controller._cache_key = None  # noqa: SLF001  (a fresh token cache: cold)
            controller._anchors.pop(story, None)  # noqa: SLF001  (and no cut yet: as opened)
            add("meter cold", *await timed(beat, context.preview_now, planned.another()))
            story.edit(len(story), len(story), "x")
            context._timer.stop()  # noqa: SLF001
            add("meter edit", *await timed(beat, context.preview_now, planned.another()))

            def shown() -> bool:
                d = context.dialog
                return d is not None and d.note.text() != "Counting the tokens…"

            add("show request", *await timed(beat, context.show_request, shown))
            assert context.dialog is not None
            context.dialog.hide()
            got: list[object] = []
            controller.context_planned.connect(got.append)
            add("generate", *await timed(beat, window.generate, functools.partial(bool, got)))
            controller.context_planned.disconnect(got.append)
            window.stop()
            await until(lambda: not controller.busy)
            context._timer.stop()  # noqa: SLF001
        out[label] = rows
    return out


async def typing(window: MainWindow, server: CountingServer, story: Story, bursts: int,
                 ) -> dict[str, list[float]]:
    planned = Planned(window)
    window.set_story(story)
    await shown_whole(window)
    await until(lambda: planned.count > 0)  # the first plan after opening: counts the tail
    view = window.output
    view.setFocus()
    cursor = view.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    view.setTextCursor(cursor)
    beat = Heartbeat()
    rows: dict[str, list[float]] = {"requests": [], "largest": [], "gap": []}
    for b in range(bursts):
        await settle()
        mark, another = len(server.requests), planned.another()
        beat.start()
        for word in range(5):
            for ch in f" w{b}x{word}":
                QTest.keyClicks(view, ch)
                await asyncio.sleep(0.04)
        await until(another, timeout=10)
        await asyncio.sleep(0.3)  # anything late would be counted too
        beat.stop()
        sizes = server.since(mark)
        if os.environ.get("BENCH_DEBUG"):
            print("pause", b, sizes, window.context.panel.meter.numbers.text(),
                  window.context.panel.meter.cut.text()[:200])
        rows["requests"].append(len(sizes))
        rows["largest"].append(max(sizes, default=0))
        rows["gap"].append(beat.longest_ms)
    typed = story.text[-40:]
    assert f"w{bursts - 1}x4" in typed, f"the typing did not reach the story: {typed!r}"
    return rows


def show(results: dict[str, dict[str, list[float]]], typed: dict[str, list[float]],
         megabytes: float, entries: int, typing_mb: float) -> None:
    for name in ("meter cold", "meter edit", "show request", "generate"):
        for metric, goal, limit in ((name, "< 1 s", WALL_GOAL),
                                    (f"{name} gap", f"< {GAP_GOAL:g} ms", GAP_GOAL)):
            small, big = results["small"][metric], results["big"][metric]
            ms, mb = statistics.median(small), statistics.median(big)
            report.row(BENCH, f"{metric} {megabytes:g} MB + {entries} WI", big, goal=goal,
                       unit="ms", met=mb < limit,
                       detail=f"small story {ms:.1f} ms; ratio {mb / max(ms, 0.01):.2f}")
    pauses = len(typed["requests"])
    report.row(BENCH, f"tokencount requests per typing pause ({typing_mb:g} MB)",
               typed["requests"], goal="1", met=statistics.median(typed["requests"]) <= 1,
               detail=f"{pauses} pauses; ratio to the goal "
                      f"{statistics.median(typed['requests']):.2f}")
    report.row(BENCH, f"largest tokencount text per pause ({typing_mb:g} MB)",
               typed["largest"], unit="chars", goal="the paragraph, not the story",
               met=(max(typed["largest"]) < typing_mb * 1e6 / 10) if typing_mb >= 0.5 else None,
               detail="the prompt's final check is at most the context")
    report.row(BENCH, f"typing gap ({typing_mb:g} MB)", typed["gap"], unit="ms",
               goal=f"< {GAP_GOAL:g} ms", met=statistics.median(typed["gap"]) < GAP_GOAL,
               detail="QTest key clicks into the story view, 25 chars/s, then a pause")


async def connect(window: MainWindow, url: str) -> None:
    window.url_edit.setText(url)
    window.connect_to_server()
    await until(lambda: window.controller.server is not None)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--megabytes", type=float, default=10.0)
    p.add_argument("--entries", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--typing-megabytes", type=float, default=1.0)
    p.add_argument("--bursts", type=int, default=5)
    args = p.parse_args()
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the bench closes the window, then its client
    loop = install_loop(app)
    server = CountingServer()
    window = MainWindow(Controller(server.url, None))
    window.show()
    rng = random.Random(11)
    entries = world_info(args.entries, rng)
    small = Story()
    small.append_segment("user", "The keeper climbs the stair. " * 60)
    stories = {"small": with_entries(small, entries),
               "big": with_entries(make_story(args.megabytes, random.Random(7)), entries)}
    typing_story = make_story(args.typing_megabytes, random.Random(5))
    typing_story.mark_saved()
    async def everything() -> tuple[dict[str, dict[str, list[float]]], dict[str, list[float]]]:
        await connect(window, server.url)
        results = await assembly(window, stories, args.repeat)
        typed = await typing(window, server, typing_story, args.bursts)
        window.story.mark_saved()
        window.close()
        await window.controller.aclose()
        return results, typed

    try:
        with loop:
            results, typed = loop.run_until_complete(everything())
    finally:
        server.close()
    print(f"stories: small {len(stories['small']):,} chars and {args.megabytes:g} MB, "
          f"{args.entries} world-info entries each; medians (min–max)")
    show(results, typed, args.megabytes, args.entries, args.typing_megabytes)
    if PROFILE is not None:
        PROFILE.dump_stats(os.environ["BENCH_PROFILE"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
