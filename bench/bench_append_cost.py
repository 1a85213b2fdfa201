"""Does an append cost more when the story is long? OutputView at 0 MB vs after N MB.

Appends ~6-character tokens (with a newline about every 80 characters, like prose) to a shown
OutputView, processing events every 100 appends so layout and paint are counted. Measures the
cost per token over the first 20,000 tokens of an empty view, then over 20,000 tokens after the
view already holds --megabytes of text, in the same run, and prints the ratio (1.0 = the cost
does not grow with the document).

Run: .venv/bin/python bench/bench_append_cost.py [--megabytes 2]
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from kobold_gui.ui.output_view import OutputView  # noqa: E402

WORDS = [" the", " lighthouse", " keeper", " São", " über", " sea", ",", ".", " storm", " café"]


def tokens(n: int, rng: random.Random) -> list[str]:
    out, line = [], 0
    for _ in range(n):
        tok = rng.choice(WORDS)
        line += len(tok)
        if line > 80:
            tok, line = tok + "\n", 0
        out.append(tok)
    return out


def timed_appends(app: QApplication, view: OutputView, toks: list[str]) -> float:
    started = time.perf_counter()
    for i, tok in enumerate(toks, 1):
        view.append_generated(tok)
        if i % 100 == 0:
            app.processEvents()
    app.processEvents()
    return (time.perf_counter() - started) / len(toks) * 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--megabytes", type=float, default=2.0)
    p.add_argument("--sample", type=int, default=20000)
    args = p.parse_args()
    app = QApplication([])
    view = OutputView()
    view.resize(800, 600)
    view.show()
    rng = random.Random(1)
    view.begin_generation("Bench:")
    early = timed_appends(app, view, tokens(args.sample, rng))
    filler = "".join(tokens(int(args.megabytes * 1_000_000 / 6), rng))
    for i in range(0, len(filler), 50_000):  # grow the document in big steps (not timed)
        view.append_generated(filler[i:i + 50_000])
        app.processEvents()
    late = timed_appends(app, view, tokens(args.sample, rng))
    size_mb = view.document().characterCount() / 1e6
    print(f"append cost per token: {early:.1f} µs at start, {late:.1f} µs at {size_mb:.1f} M "
          f"characters; ratio late/early {late / early:.2f}")


if __name__ == "__main__":
    main()
