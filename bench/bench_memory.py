"""Resident memory after streaming a long story: the real window vs a bare QPlainTextEdit.

Each case runs in a fresh process (a child of this script), so one case's heap cannot hold the
next one's figure down or up: a shown MainWindow (its Story and StoryView, as the window uses
them) gets a model segment and the text streamed into it in chunks of a few tokens, following
the end (scrolled to the bottom, painted as it goes); the bare case is a QMainWindow with a
QPlainTextEdit fed the same chunks the same way. The figure is the process RSS at the end
(bench/measure.py rss_mb), after the event loop has settled; the child also reports its Python
heap (tracemalloc, in a separate run with --trace, as tracing slows everything) so the split
between Python and Qt is known.

The text is prose (a newline about every 80 characters) with accents, CJK and emoji, as a
model writes: one emoji is enough to make a Python str 4 bytes a character.

Run: .venv/bin/python bench/bench_memory.py [--megabytes 5 10] [--repeat 3] [--chunk 120]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
from measure import rss_mb  # noqa: E402

WORDS = ["the", "lighthouse", "keeper", "São", "über", "sea", "storm", "café", "東京", "🙂"]
GOALS = {5.0: 200.0, 10.0: 250.0}  # MB of RSS after streaming that many M characters


def prose_chunks(chars: int, chunk: int, seed: int = 7) -> Iterator[str]:
    """`chars` characters of prose (a newline about every 80) in pieces of `chunk`, made as
    they are streamed so the benchmark holds no copy of its own in the memory measured."""
    rng = random.Random(seed)
    pending = ""
    left = chars
    while left > 0:
        while len(pending) < chunk:
            words: list[str] = []
            n = 0
            while n < 80:
                w = rng.choice(WORDS)
                words.append(w)
                n += len(w) + 1
            pending += " ".join(words) + "\n"
        piece, pending = pending[:min(chunk, left)], pending[min(chunk, left):]
        left -= len(piece)
        yield piece


def child(case: str, megabytes: float, chunk: int, trace: bool) -> dict[str, float]:
    """Stream the text into one case in this process; the figures, as a dict."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if trace:
        import tracemalloc
        tracemalloc.start()
    from PySide6.QtGui import QTextCursor
    from PySide6.QtWidgets import QApplication, QMainWindow, QPlainTextEdit

    app = QApplication([])
    if case == "window":
        from kobold_gui.core.protocol import DEFAULT_URL
        from kobold_gui.ui.controller import Controller
        from kobold_gui.ui.main_window import MainWindow
        window: QMainWindow = MainWindow(Controller(DEFAULT_URL, None))
        edit: QPlainTextEdit = window.output  # type: ignore[attr-defined]
        story = window.story  # type: ignore[attr-defined]
        story.append_segment("user", "Tell me a long story.\n")
        index = story.append_segment("model")
        # the window as it is while a reply streams: the controller busy (its task running),
        # so the parts that follow the cursor between generations stay quiet, as they do
        window.controller._running = True  # type: ignore[attr-defined]
        assert window.controller.busy, "the stand-in for a running generation is stale"  # type: ignore[attr-defined]

        def append(piece: str) -> None:
            story.append_text(index, piece)
    else:
        window = QMainWindow()
        window.resize(1100, 720)
        edit = QPlainTextEdit()
        edit.setUndoRedoEnabled(False)
        window.setCentralWidget(edit)
        cursor = QTextCursor(edit.document())

        def append(piece: str) -> None:
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(piece)
    window.show()
    app.processEvents()
    idle = rss_mb()
    bar = edit.verticalScrollBar()
    started = time.perf_counter()
    crc = 0
    for n, piece in enumerate(prose_chunks(int(megabytes * 1_000_000), chunk)):
        append(piece)
        crc = zlib.crc32(piece.encode(), crc)
        if n % 8 == 7:
            bar.setValue(bar.maximum())  # the reader follows the stream
            app.processEvents()
    bar.setValue(bar.maximum())
    for _ in range(20):
        app.processEvents()
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    out = {"rss": rss_mb(), "idle": idle, "seconds": seconds}
    if trace:
        import tracemalloc
        current, _peak = tracemalloc.get_traced_memory()
        out["python"] = current / 1e6
        snapshot = tracemalloc.take_snapshot()
        top = snapshot.statistics("lineno")[:5]
        out["top"] = [f"{s.size / 1e6:.1f} MB {s.traceback[0].filename.rsplit('/', 1)[-1]}:"
                      f"{s.traceback[0].lineno}" for s in top]  # type: ignore[assignment]
    shown = story.segment(index).text if case == "window" else edit.toPlainText()
    assert zlib.crc32(shown.encode()) == crc, "the text streamed is not the text kept"
    return out


def run_child(case: str, megabytes: float, chunk: int, trace: bool = False) -> dict[str, float]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    env.pop(report.RESULTS_ENV, None)  # the child's figures are printed by the parent
    args = [sys.executable, str(Path(__file__).resolve()), "--child", case,
            "--megabytes", str(megabytes), "--chunk", str(chunk)]
    if trace:
        args.append("--trace")
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{case} {megabytes} MB failed:\n{r.stderr}")
    result: dict[str, float] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--megabytes", type=float, nargs="+", default=[5.0, 10.0],
                   help="M characters streamed, one row each")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--chunk", type=int, default=120, help="characters per append")
    p.add_argument("--trace", action="store_true",
                   help="also one traced run of the window per size: the Python heap")
    p.add_argument("--child", choices=["window", "bare"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.megabytes[0], args.chunk, args.trace)))
        return 0
    for mb in args.megabytes:
        ours: list[float] = []
        bare: list[float] = []
        for _ in range(args.repeat):  # interleaved: a busy spell slows both alike
            ours.append(run_child("window", mb, args.chunk)["rss"])
            bare.append(run_child("bare", mb, args.chunk)["rss"])
        goal = GOALS.get(mb)
        median = sorted(ours)[len(ours) // 2]
        bare_median = sorted(bare)[len(bare) // 2]
        detail = f"bare QMainWindow+QPlainTextEdit {bare_median:.0f} MB ({min(bare):.0f}–" \
                 f"{max(bare):.0f}); {args.chunk}-character appends"
        if args.trace:
            traced = run_child("window", mb, args.chunk, trace=True)
            detail += f"; Python heap {traced['python']:.0f} MB of it"
        report.row("memory", f"RSS after streaming {mb:g} M characters", ours,
                   goal=f"< {goal:.0f} MB" if goal else "", unit="MB", detail=detail,
                   met=None if goal is None else median < goal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
