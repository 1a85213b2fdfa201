"""Does a streamed token cost StoryView more in a long paragraph or a long story?

Times single appends of a 4-character token (" abc") into shown StoryViews scrolled to the end
(so every append is laid out and painted, as for a reader following the stream), each followed
by processing events, one view after the other in turn (a busy machine slows all of them
alike), and prints medians, in one run:
(a) an empty story vs. one whose last paragraph is --kilobytes of text without a newline;
(b) an empty story vs. a --megabytes story of prose (newlines about every 80 characters);
(c) for comparison, the same long paragraph in a bare QPlainTextEdit (what OutputView did);
(d) a one-screen story, since painting a full screen costs more than painting an empty one;
and how set_story shows the big story (in chunks, over several event-loop turns).
Ratios near 1.0 mean the cost does not grow (goal ≤ 1.5).

The issue-9 rows (bench/report.py, in `python -m bench`), each repeated --rows-repeat times:
- "absorb 10k tokens into a 10 MB view ÷ empty": a run of --absorb-tokens appends, each with
  an event-loop turn, timed whole, into the 10 MB story and into an empty one, alternating;
- "one 200 KB paragraph …, 50 tok/s": a shown MainWindow (its Story and StoryView) whose
  story ends in a --kilobytes paragraph without newlines gets --rate tokens a second from a
  QTimer into its model segment (story.append_text, as the controller appends) for
  --stream-seconds: the longest 5 ms heartbeat gap and the CPU share, vs the same stream
  into an empty story, alternating.

Run: .venv/bin/python bench/bench_story_view.py [--kilobytes 200] [--megabytes 10]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmark helpers, by name

import report  # noqa: E402
from measure import CpuMeter, Heartbeat  # noqa: E402
from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtWidgets import QApplication, QPlainTextEdit  # noqa: E402

from kobold_gui.core.protocol import DEFAULT_URL  # noqa: E402
from kobold_gui.core.story import Segment, Story  # noqa: E402
from kobold_gui.ui.controller import Controller  # noqa: E402
from kobold_gui.ui.main_window import MainWindow  # noqa: E402
from kobold_gui.ui.story_view import StoryView  # noqa: E402

TOKEN = " abc"
WORDS = ["the", "lighthouse", "keeper", "São", "über", "sea", "storm", "café", "東京", "🙂"]


def paragraph(chars: int, rng: random.Random) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def prose(chars: int, rng: random.Random) -> str:
    lines = [paragraph(80, rng) for _ in range(chars // 81 + 1)]
    return "\n".join(lines)


class Case:
    """A shown StoryView holding a story, scrolled to the end, with a reply to stream into."""

    def __init__(self, app: QApplication, text: str) -> None:
        self.view = StoryView()
        self.view.resize(900, 700)
        self.view.show()
        self.story = Story([Segment("user", text)] if text else [])
        started = time.perf_counter()
        self.view.set_story(self.story)
        app.processEvents()
        #: set_story: until the first screen shows, the longest turn after, until all shows
        self.first = time.perf_counter() - started
        self.longest = 0.0
        while self.view.rendering():
            turn = time.perf_counter()
            app.processEvents()
            self.longest = max(self.longest, time.perf_counter() - turn)
        self.total = time.perf_counter() - started
        bar = self.view.verticalScrollBar()
        bar.setValue(bar.maximum())  # a reader follows the stream: every append is painted
        self.index = self.story.append_segment("model")
        self.samples: list[float] = []

    def append(self) -> None:
        self.story.append_text(self.index, TOKEN)

    def median_us(self) -> float:
        assert self.view.plain_text() == self.story.text
        return statistics.median(self.samples) * 1e6

    def close(self, app: QApplication) -> None:
        self.view.close()
        self.view.deleteLater()
        app.processEvents()


def interleaved(app: QApplication, cases: list[Case], repeat: int) -> None:
    """Time one append per case per round, in turn, so a busy machine slows all alike."""
    for _ in range(10):  # warm up (first layout, caches)
        for case in cases:
            case.append()
            app.processEvents()
    for _ in range(repeat):
        for case in cases:
            started = time.perf_counter()
            case.append()
            app.processEvents()
            case.samples.append(time.perf_counter() - started)


def median_us(app: QApplication, append: Callable[[], None], repeat: int) -> float:
    for _ in range(10):
        append()
        app.processEvents()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        append()
        app.processEvents()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def bare_case(app: QApplication, text: str, repeat: int) -> float:
    edit = QPlainTextEdit()
    edit.resize(900, 700)
    edit.show()
    edit.setPlainText(text)
    cursor = QTextCursor(edit.document())
    bar = edit.verticalScrollBar()

    def append() -> None:
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(TOKEN)
        bar.setValue(bar.maximum())

    cost = median_us(app, append, repeat)
    edit.close()
    edit.deleteLater()
    app.processEvents()
    return cost


def rss_mb() -> float | None:
    """Resident memory in MB (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError):
        return None


def streamed_memory(app: QApplication, text: str, bare: bool) -> float | None:
    """MB of memory that streaming `text` (60-character chunks, shown, following) adds."""
    before = rss_mb()
    if before is None:
        return None
    widget: QPlainTextEdit
    if bare:
        widget = QPlainTextEdit()
        widget.setUndoRedoEnabled(False)
        cursor = QTextCursor(widget.document())
        append: Callable[[str], None] = cursor.insertText
    else:
        view = StoryView()
        widget = view
        story = Story()
        view.set_story(story)
        index = story.append_segment("model")
        append = lambda chunk: story.append_text(index, chunk)  # noqa: E731
    widget.resize(900, 700)
    widget.show()
    for n, start in enumerate(range(0, len(text), 60)):
        append(text[start:start + 60])
        if n % 10 == 0:
            app.processEvents()
    app.processEvents()
    grown = (rss_mb() or before) - before
    widget.close()
    widget.deleteLater()
    app.processEvents()
    return grown


def absorb_rows(app: QApplication, long_story: str, tokens: int, repeat: int) -> None:
    """Issue 9 row: the time to absorb a run of `tokens` appends (each followed by an
    event-loop turn, shown and followed) into a 10 MB story ÷ into an empty one; the two runs
    alternate, `repeat` times, so a busy spell slows both alike."""
    cases = [Case(app, ""), Case(app, long_story)]
    ratios: list[float] = []
    pairs: list[tuple[float, float]] = []
    for case in cases:  # warm up
        for _ in range(20):
            case.append()
            app.processEvents()
    for _ in range(repeat):
        times = []
        for case in cases:
            started = time.perf_counter()
            for _ in range(tokens):
                case.append()
                app.processEvents()
            times.append(time.perf_counter() - started)
        pairs.append((times[0], times[1]))
        ratios.append(times[1] / times[0])
    for case in cases:
        assert case.view.plain_text() == case.story.text
        case.close(app)
    empty = statistics.median(p[0] for p in pairs)
    big = statistics.median(p[1] for p in pairs)
    mb = len(long_story) / 1e6
    median = statistics.median(ratios)
    report.row("story_view", f"absorb {tokens} tokens into a {mb:.3g} MB view ÷ empty", ratios,
               goal="≤ 1.5", detail=f"{big * 1000:.0f} ms vs {empty * 1000:.0f} ms a run",
               met=median <= 1.5)


def stream_at_rate(app: QApplication, window: MainWindow, seconds: float,
                   rate: float) -> tuple[float, int, float]:
    """Tokens at `rate` a second into the window's last (model) segment for `seconds`, by a
    QTimer as the controller appends them: (longest heartbeat gap ms, gaps over 25 ms, CPU
    share of one core)."""
    story = window.story
    interval = 1000.0 / rate
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(round(interval))
    timer.timeout.connect(lambda: story.append_text(-1, TOKEN))
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    with CpuMeter() as cpu, Heartbeat() as beat:
        timer.start()
        loop.exec()
        timer.stop()
    return beat.longest_ms, beat.over(25), cpu.share


def paragraph_rows(app: QApplication, long_paragraph: str, seconds: float, rate: float,
                   repeat: int) -> None:
    """Issue 9 rows: one long paragraph without newlines, streamed into at `rate` tokens a
    second through a shown MainWindow (its Story and StoryView), vs the same stream into an
    empty story, alternating, `repeat` times: the longest heartbeat gap and the CPU share."""
    window = MainWindow(Controller(DEFAULT_URL, None))
    window.show()
    app.processEvents()
    results: dict[str, list[tuple[float, int, float]]] = {"paragraph": [], "empty": []}
    for _ in range(repeat):
        for name in ("paragraph", "empty"):
            story = Story([Segment("user", "Go on.\n"),
                           Segment("model", long_paragraph if name == "paragraph" else "")])
            window.controller._running = False
            window.set_story(story)
            # the window as it is while a reply streams (busy), so what follows the cursor
            # between generations stays quiet, as it does
            window.controller._running = True
            assert window.controller.busy, "the stand-in for a running generation is stale"
            view = window.output
            while view.rendering():
                app.processEvents()
            app.processEvents()
            bar = view.verticalScrollBar()
            bar.setValue(bar.maximum())  # the reader follows the stream
            app.processEvents()
            results[name].append(stream_at_rate(app, window, seconds, rate))
            assert view.plain_text() == story.text
    window.controller._running = False
    window.close()
    window.deleteLater()
    app.processEvents()
    kb = len(long_paragraph) / 1000
    para, empty = results["paragraph"], results["empty"]
    gaps = [r[0] for r in para]
    cpu = [r[2] * 100 for r in para]
    what = f"one {kb:.0f} KB paragraph without newlines, {rate:.0f} tok/s"
    report.row("story_view", f"{what}: longest gap", gaps, goal="< 25 ms", unit="ms",
               detail=f"empty story {statistics.median(r[0] for r in empty):.1f} ms; gaps over "
                      f"25 ms: {sum(r[1] for r in para)} in {repeat} × {seconds:g} s "
                      f"(empty {sum(r[1] for r in empty)})",
               met=statistics.median(gaps) < 25)
    report.row("story_view", f"{what}: CPU", cpu, goal="< 15 %", unit="%",
               detail=f"empty story {statistics.median(r[2] * 100 for r in empty):.1f} %",
               met=statistics.median(cpu) < 15)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--kilobytes", type=float, default=200.0, help="the long paragraph")
    p.add_argument("--megabytes", type=float, default=10.0, help="the long story")
    p.add_argument("--repeat", type=int, default=300, help="appends timed per case")
    p.add_argument("--stream-megabytes", type=float, default=1.0,
                   help="streamed to measure memory (0: skip)")
    p.add_argument("--absorb-tokens", type=int, default=10_000,
                   help="appends in one timed run of the absorb row (0: skip the row)")
    p.add_argument("--stream-seconds", type=float, default=6.0,
                   help="seconds of the 50 tok/s stream into the long paragraph (0: skip)")
    p.add_argument("--rate", type=float, default=50.0, help="tokens a second for that stream")
    p.add_argument("--rows-repeat", type=int, default=3, help="repeats of the issue-9 rows")
    args = p.parse_args()
    app = QApplication([])
    rng = random.Random(7)
    long_paragraph = paragraph(int(args.kilobytes * 1000), rng)
    long_story = prose(int(args.megabytes * 1_000_000), rng)
    if args.absorb_tokens > 0:
        absorb_rows(app, long_story, args.absorb_tokens, args.rows_repeat)
    if args.stream_seconds > 0:
        paragraph_rows(app, long_paragraph, args.stream_seconds, args.rate, args.rows_repeat)

    cases = [Case(app, ""), Case(app, prose(6000, rng)), Case(app, long_paragraph),
             Case(app, long_story)]
    interleaved(app, cases, args.repeat)
    empty, screen, in_paragraph, in_story = (case.median_us() for case in cases)
    first, longest, total = cases[-1].first, cases[-1].longest, cases[-1].total
    for case in cases:
        case.close(app)
    bare_short = bare_case(app, "", args.repeat)
    bare_long = bare_case(app, long_paragraph, max(5, args.repeat // 10))  # slow: fewer
    kb, mb = len(long_paragraph) / 1000, len(long_story) / 1e6
    print(f"paragraph: StoryView append {empty:.0f} µs into an empty story, {in_paragraph:.0f} µs "
          f"into a {kb:.0f} K-character paragraph; ratio {in_paragraph / empty:.2f} (goal ≤ 1.5)")
    print(f"story: StoryView append {empty:.0f} µs into an empty story, {in_story:.0f} µs into "
          f"a {mb:.1f} M-character story; ratio {in_story / empty:.2f} (goal ≤ 1.5)")
    print(f"screen: StoryView append {screen:.0f} µs into a one-screen story (6 K characters: "
          f"painting a full screen costs more than an empty one); {kb:.0f} K paragraph / screen "
          f"{in_paragraph / screen:.2f}, {mb:.1f} M story / screen {in_story / screen:.2f}")
    print(f"bare: QPlainTextEdit append {bare_short:.0f} µs into an empty document, "
          f"{bare_long:.0f} µs into the {kb:.0f} K paragraph; ratio {bare_long / bare_short:.2f}")
    if args.stream_megabytes > 0:
        streamed = prose(int(args.stream_megabytes * 1_000_000), rng)
        ours = streamed_memory(app, streamed, bare=False)
        theirs = streamed_memory(app, streamed, bare=True)
        if ours is not None and theirs is not None:
            print(f"memory: streaming {len(streamed) / 1e6:.1f} M characters adds {ours:.0f} MB "
                  f"to a StoryView, {theirs:.0f} MB to a bare QPlainTextEdit (which keeps "
                  f"~40 bytes a character of layout for every paragraph it ever laid out)")
    print(f"render: set_story of the {mb:.1f} M-character story: first screen in "
          f"{first * 1000:.0f} ms, all shown in {total * 1000:.0f} ms, longest event-loop turn "
          f"meanwhile {longest * 1000:.0f} ms")


if __name__ == "__main__":
    main()
