"""Does opening or saving a big story freeze the window?

Drives the File menu's own code path (`FileActions.open_path` / `save_to`, with the session
journal installed, so an open also writes the journal's snapshot) on a shown MainWindow on the
qasync loop, for an empty story and for one of --megabytes. A 5 ms heartbeat timer runs all the
time: its longest gap during the operation is how long the window was frozen (one frame is
~16 ms); the wall time is from the menu call until the story is shown / the file is written.
Then tokens stream into the opened story (50/s, journalled): "stream gap" is the longest gap
then.
Prints medians (min–max) of --repeat runs and the big/empty ratios.

Run: .venv/bin/python bench/bench_window_files.py [--megabytes 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_TMP = tempfile.TemporaryDirectory(prefix="bench_window_files-")
for _name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
              "KOBOLD_GUI_LOG_DIR"):
    os.environ[_name] = str(Path(_TMP.name) / _name.lower())  # never the user's own files

import report  # noqa: E402  (sibling scripts, by name)
from bench_story_files import make_story as story_of  # noqa: E402
from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from kobold_gui.core import storage  # noqa: E402
from kobold_gui.core.protocol import DEFAULT_URL  # noqa: E402
from kobold_gui.core.story import Story  # noqa: E402
from kobold_gui.ui.controller import Controller  # noqa: E402
from kobold_gui.ui.file_actions import FileActions  # noqa: E402
from kobold_gui.ui.main_window import MainWindow  # noqa: E402
from kobold_gui.ui.qtloop import install_loop  # noqa: E402
from kobold_gui.ui.session import Session, install_session  # noqa: E402


def make_story(megabytes: float) -> Story:
    """The same story bench_story_files.py measures (same words, seed 7)."""
    return story_of(megabytes, random.Random(7))


class Heartbeat:
    """A 5 ms timer; `longest()` is the longest time between two ticks since `reset()`."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.reset()
        self.timer.start()

    def reset(self) -> None:
        self._last = time.perf_counter()
        self._longest = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self._longest = max(self._longest, now - self._last)
        self._last = now

    def longest(self) -> float:
        return max(self._longest, time.perf_counter() - self._last) * 1000


async def settle() -> None:
    """Let pending paints and timers run, so one measurement does not bleed into the next."""
    for _ in range(5):
        await asyncio.sleep(0.01)


async def measure(files: FileActions, beat: Heartbeat,
                  start: Callable[[], None]) -> tuple[float, float]:
    await settle()
    beat.reset()
    began = time.perf_counter()
    start()
    assert files.task is not None
    await files.task
    wall = (time.perf_counter() - began) * 1000
    await asyncio.sleep(0.02)  # the frame right after (the view showing the story) counts too
    return wall, beat.longest()


async def stream(window: MainWindow, beat: Heartbeat, seconds: float,
                 rate: float = 50.0) -> float:
    """Tokens into the shown story at `rate` per second with the journal following (it
    flushes and fsyncs about once a second): the longest heartbeat gap meanwhile."""
    await settle()
    index = window.story.append_segment("model")
    beat.reset()
    for _ in range(max(1, int(seconds * rate))):
        window.story.append_text(index, " word")
        await asyncio.sleep(1 / rate)
    return beat.longest()


async def autosave(window: MainWindow, session: Session, beat: Heartbeat) -> tuple[float, float]:
    """The window's autosave: a word typed into the story is journalled, and the session's
    timer (every FLUSH_TIMER_MS) writes and fsyncs it once JOURNAL_INTERVAL has passed. The
    wall time is that flush (the timer's own call, timed); the gap is the longest stall from
    the edit until the flush is done."""
    await settle()
    journal = session.journal
    assert journal is not None
    flushes: list[float] = []
    real = journal.flush

    def timed_flush() -> None:
        began = time.perf_counter()
        real()
        flushes.append((time.perf_counter() - began) * 1000)

    journal.flush = timed_flush  # type: ignore[method-assign]
    try:
        beat.reset()
        window.story.edit(len(window.story), len(window.story), " autosaved")
        deadline = time.perf_counter() + 5
        while not flushes and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)
    finally:
        del journal.flush
    assert flushes, "the session never flushed the journal"
    return flushes[0], beat.longest()


async def keep(window: MainWindow, session: Session, beat: Heartbeat) -> tuple[float, float]:
    """Quitting with unsaved work ("Keep for Next Start"): what closing the window runs (the
    `closing` signal: `Session.shutdown`, here without closing the window), until the writer
    thread has written session.json and dropped the journal (`wait_written`, what the app
    waits for before it exits). Then a session follows the story again, for the next run.
    Measured once the view shows the whole story: a view still rendering a long story
    stalls the window by itself (its decorations poll it from a 0 ms timer)."""
    while window.output.rendering():
        await asyncio.sleep(0.05)
    await settle()
    beat.reset()
    began = time.perf_counter()
    window.file_actions.window_closing()
    assert session.written is not None
    assert await asyncio.wrap_future(session.written), "the session was not kept"
    wall = (time.perf_counter() - began) * 1000
    await asyncio.sleep(0.02)
    gap = beat.longest()
    install_session(window, fresh=True)  # journalled again (the story stays: no re-render)
    return wall, gap


async def run(window: MainWindow, folder: Path, megabytes: float, repeat: int,
              stream_seconds: float) -> dict[str, dict[str, list[float]]]:
    files = window.file_actions
    beat = Heartbeat()
    results: dict[str, dict[str, list[float]]] = {}
    for label, story in (("empty", Story()), ("big", make_story(megabytes))):
        source = folder / f"{label}.kstory"
        storage.save_story(source, story, force=True)
        rows: dict[str, list[float]] = {"open": [], "open gap": [], "save": [], "save gap": [],
                                        "stream gap": [], "autosave": [], "autosave gap": [],
                                        "keep": [], "keep gap": []}
        for n in range(repeat):
            wall, gap = await measure(files, beat,
                                      functools.partial(files.open_path, source, asked=True))
            assert window.story.text == story.text, files.window.status_message()
            rows["open"].append(wall)
            rows["open gap"].append(gap)
            rows["stream gap"].append(await stream(window, beat, stream_seconds))
            session = window.file_actions.session
            if session is not None and session.journal is not None:
                for name, measured in (("autosave", autosave), ("keep", keep)):
                    wall, gap = await measured(window, session, beat)
                    rows[name].append(wall)
                    rows[f"{name} gap"].append(gap)
            window.story.append_segment("user", ".")  # something to save
            target = folder / f"{label}-copy-{n}.kstory"
            wall, gap = await measure(files, beat, functools.partial(files.save_to, target,
                                                                     "kobold"))
            assert target.exists(), files.window.status_message()
            rows["save"].append(wall)
            rows["save gap"].append(gap)
            window.story.mark_saved()
        results[label] = rows
    beat.timer.stop()
    return results


def show(results: dict[str, dict[str, list[float]]], megabytes: float) -> None:
    print(f"story sizes: empty and {megabytes:g} MB; medians (min–max) in ms; "
          "gap = longest stall of a 5 ms heartbeat")
    for row in ("open", "open gap", "save", "save gap", "stream gap", "autosave",
                "autosave gap", "keep", "keep gap"):
        empty, big = results["empty"][row], results["big"][row]
        if not big:
            continue  # --no-session: nothing autosaves
        me, mb = statistics.median(empty), statistics.median(big)
        print(f"{row:9} empty {me:8.1f} ({min(empty):.1f}–{max(empty):.1f})   "
              f"{megabytes:g} MB {mb:8.1f} ({min(big):.1f}–{max(big):.1f})   "
              f"ratio {mb / me:6.2f}")
        limit = 25.0 if row.endswith("gap") else 1000.0
        what = {"keep": "keep at quit (session.json)", "stream gap": "stream gap (journal on)",
                }.get(row, row)
        report.row("window_files", f"{what} {megabytes:g} MB", big, goal=f"< {limit:g} ms",
                   unit="ms", met=mb < limit,
                   detail=f"empty story {me:.1f} ms; ratio {mb / max(me, 1e-3):.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--megabytes", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-session", action="store_true",
                   help="without the session journal (to see what the journal costs)")
    p.add_argument("--stream-seconds", type=float, default=3.0,
                   help="how long tokens stream (50/s) into the opened story, journalled")
    args = p.parse_args()
    app = QApplication(sys.argv[:1])
    loop = install_loop(app)
    window = MainWindow(Controller(DEFAULT_URL, None))
    window.show()
    if not args.no_session:
        install_session(window)
    with tempfile.TemporaryDirectory() as tmp, loop:
        results = loop.run_until_complete(run(window, Path(tmp), args.megabytes, args.repeat,
                                                 args.stream_seconds))
        window.file_actions.close_answer = "discard"
        window.close()
        loop.run_until_complete(window.controller.aclose())
        if window.file_actions.session is not None:
            window.file_actions.session.wait_written()
    show(results, args.megabytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
