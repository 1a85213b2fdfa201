"""What do opening, saving and journalling a big story cost, next to the floor?

Builds a story of --megabytes of prose (with emoji and accents, in a few hundred segments),
then, in the same run and --repeat times each:
- save: `storage.save_story` (our format, atomic, with backup) vs writing the same number of
  bytes with a plain `write_bytes` — the ratio is what safety and JSON cost;
- open: `storyfiles.load_story_bytes` (format detection + parse) vs reading those bytes;
- Lite: `dump_story(..., "lite")` and reading it back;
- journal: streaming 2,000 tokens into an empty story vs into the big one with a journal
  attached and flushed every 100 tokens: the ratio says whether journalling cost follows the
  story's size (1.0 = it does not).
Prints medians (and min–max) in milliseconds and the ratios.

Run: .venv/bin/python bench/bench_story_files.py [--megabytes 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import report  # a sibling script, by name

from kobold_gui.core import storage
from kobold_gui.core.story import Author, Story
from kobold_gui.core.storyfiles import dump_story, load_story_bytes

WORDS = [" the", " lighthouse", " keeper", " São", " über", " sea", ",", ".", " storm",
         " café", " 🌙", " 世界", "\n"]


def make_story(megabytes: float, rng: random.Random) -> Story:
    story = Story(memory="The keeper is called Mira.")
    target = int(megabytes * 1_000_000)
    size = 0
    while size < target:
        words = "".join(rng.choice(WORDS) for _ in range(4000))
        author: Author = "user" if len(story.segments) % 2 == 0 else "model"
        story.append_segment(author, words)
        size += len(words)
    return story


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def stream(story: Story, journal: storage.Journal, tokens: list[str]) -> None:
    index = story.append_segment("model", "")
    for i, tok in enumerate(tokens):
        story.append_text(index, tok)
        if i % 100 == 99:
            journal.flush()
    journal.flush()


def show(name: str, a: list[float], b: list[float], a_name: str, b_name: str, *,
         megabytes: float, goal_ms: float = 1000.0) -> None:
    """The side-by-side line, and one row: `a` (what the window does) must stay under
    `goal_ms`; `b` (the floor, or the empty story) is the comparison."""
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:8} {a_name:>28} {ma:9.1f} ms ({min(a):.1f}–{max(a):.1f})   "
          f"{b_name:>22} {mb:9.1f} ms ({min(b):.1f}–{max(b):.1f})   ratio {ma / mb:6.2f}")
    report.row("story_files", f"{name} {megabytes:g} MB ({a_name})", a,
               goal=f"< {goal_ms:g} ms", unit="ms", met=ma < goal_ms,
               detail=f"{b_name} {mb:.1f} ms; ratio {ma / max(mb, 1e-3):.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--megabytes", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    rng = random.Random(7)
    story = make_story(args.megabytes, rng)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours, raw = folder / "story.kstory", folder / "raw.bin"
        data = story.to_json()
        print(f"story: {len(story):,} characters in {len(story.segments)} segments, "
              f"{len(data) / 1e6:.1f} MB as our JSON")
        save = timed(lambda: storage.save_story(ours, story), args.repeat)
        plain = timed(lambda: raw.write_bytes(data), args.repeat)
        show("save", save, plain, "save_story (atomic+backup)", "write_bytes",
             megabytes=args.megabytes)
        loaded = timed(lambda: load_story_bytes(ours.read_bytes()), args.repeat)
        read = timed(lambda: raw.read_bytes(), args.repeat)
        show("open", loaded, read, "load_story_bytes", "read_bytes", megabytes=args.megabytes)
        lite = dump_story(story, "lite")
        lite_save = timed(lambda: dump_story(story, "lite"), args.repeat)
        lite_open = timed(lambda: load_story_bytes(lite), args.repeat)
        show("lite", lite_save, lite_open, "dump as Lite", "open Lite", megabytes=args.megabytes)

        tokens = [rng.choice(WORDS) for _ in range(2000)]
        small_costs, big_costs = [], []
        for n in range(args.repeat):
            small = Story()
            journal = storage.Journal(folder / f"small{n}.journal")
            journal.attach(small)
            small_costs += timed(lambda: stream(small, journal, tokens), 1)  # noqa: B023
            journal.close()
            big = Story.from_json(data)
            journal = storage.Journal(folder / f"big{n}.journal")
            journal.attach(big)  # the snapshot line is written once, before streaming
            big_costs += timed(lambda: stream(big, journal, tokens), 1)  # noqa: B023
            journal.close()
        show("journal", big_costs, small_costs, f"2k tokens into {args.megabytes:g} MB",
             "2k tokens into empty", megabytes=args.megabytes)


if __name__ == "__main__":
    main()
