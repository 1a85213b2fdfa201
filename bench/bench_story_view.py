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

Run: .venv/bin/python bench/bench_story_view.py [--kilobytes 200] [--megabytes 10]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtWidgets import QApplication, QPlainTextEdit  # noqa: E402

from kobold_gui.core.story import Segment, Story  # noqa: E402
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--kilobytes", type=float, default=200.0, help="the long paragraph")
    p.add_argument("--megabytes", type=float, default=10.0, help="the long story")
    p.add_argument("--repeat", type=int, default=300, help="appends timed per case")
    p.add_argument("--stream-megabytes", type=float, default=1.0,
                   help="streamed to measure memory (0: skip)")
    args = p.parse_args()
    app = QApplication([])
    rng = random.Random(7)
    long_paragraph = paragraph(int(args.kilobytes * 1000), rng)
    long_story = prose(int(args.megabytes * 1_000_000), rng)

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
