"""Does a streamed token cost StoryView more in a long paragraph or a long story?

Times single appends of a 4-character token (" abc") into a shown StoryView scrolled to the end
(so every append is laid out and painted, as for a reader following the stream), each followed
by processing events, and prints medians, in one run:
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


def median_us(app: QApplication, append: Callable[[], None], repeat: int) -> float:
    for _ in range(10):  # warm up (first layout, caches)
        append()
        app.processEvents()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        append()
        app.processEvents()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def story_view_case(app: QApplication, text: str,
                    repeat: int) -> tuple[float, float, float, float]:
    """With `text` as the story so far: median µs per append; then, for set_story, seconds
    until the first screen is shown, the longest event-loop turn while the rest is rendered,
    and the total until all is shown."""
    view = StoryView()
    view.resize(900, 700)
    view.show()
    story = Story([Segment("user", text)] if text else [])
    started = time.perf_counter()
    view.set_story(story)
    app.processEvents()
    first = time.perf_counter() - started
    longest = 0.0
    while view.rendering():
        turn = time.perf_counter()
        app.processEvents()
        longest = max(longest, time.perf_counter() - turn)
    total = time.perf_counter() - started
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum())  # a reader follows the stream: every append is painted
    index = story.append_segment("model")
    cost = median_us(app, lambda: story.append_text(index, TOKEN), repeat)
    assert view.plain_text() == story.text
    view.close()
    view.deleteLater()
    app.processEvents()
    return cost, first, longest, total


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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--kilobytes", type=float, default=200.0, help="the long paragraph")
    p.add_argument("--megabytes", type=float, default=10.0, help="the long story")
    p.add_argument("--repeat", type=int, default=300, help="appends timed per case")
    args = p.parse_args()
    app = QApplication([])
    rng = random.Random(7)
    long_paragraph = paragraph(int(args.kilobytes * 1000), rng)
    long_story = prose(int(args.megabytes * 1_000_000), rng)

    story_view_case(app, "", args.repeat)  # warm up: fonts, first paint
    empty, *_ = story_view_case(app, "", args.repeat)
    screen, *_ = story_view_case(app, prose(6000, rng), args.repeat)
    in_paragraph, *_ = story_view_case(app, long_paragraph, args.repeat)
    in_story, first, longest, total = story_view_case(app, long_story, args.repeat)
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
    print(f"render: set_story of the {mb:.1f} M-character story: first screen in "
          f"{first * 1000:.0f} ms, all shown in {total * 1000:.0f} ms, longest event-loop turn "
          f"meanwhile {longest * 1000:.0f} ms")


if __name__ == "__main__":
    main()
