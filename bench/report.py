"""One benchmark row: a metric measured repeatedly, with its median, spread and goal.

Every benchmark prints its rows through `row()`, which also appends them as JSON lines to the
file named by $KOBOLD_BENCH_RESULTS when `python -m bench` runs it, so one command can print
the whole table (and the README's performance table is a copy of that output).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

RESULTS_ENV = "KOBOLD_BENCH_RESULTS"


@dataclass
class Row:
    bench: str
    metric: str
    goal: str
    median: float
    low: float
    high: float
    runs: int
    unit: str
    detail: str
    met: bool | None  # None: no goal, or not decidable from this run

    def value(self) -> str:
        def fmt(x: float) -> str:
            return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"

        spread = f" ({fmt(self.low)}–{fmt(self.high)})" if self.runs > 1 else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{fmt(self.median)}{unit}{spread}"

    def line(self) -> str:
        mark = {True: "met", False: "MISSED", None: "-"}[self.met]
        goal = f"goal {self.goal}, {mark}" if self.goal else mark
        detail = f"; {self.detail}" if self.detail else ""
        return f"{self.metric}: {self.value()} [{self.runs} runs; {goal}]{detail}"


def row(bench: str, metric: str, samples: Sequence[float], *, goal: str = "",
        unit: str = "", detail: str = "", met: bool | None = None) -> Row:
    """Print a row and record it for `python -m bench`; `met` is the caller's verdict on the
    median (it knows whether lower or higher is better)."""
    if not samples:
        raise ValueError(f"{metric}: no samples")
    r = Row(bench, metric, goal, statistics.median(samples), min(samples), max(samples),
            len(samples), unit, detail, met)
    print(r.line(), flush=True)
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
    return r


def load(path: str) -> list[Row]:
    with open(path, encoding="utf-8") as f:
        return [Row(**json.loads(line)) for line in f if line.strip()]


def markdown(rows: Sequence[Row]) -> str:
    """The table the README shows."""
    lines = ["| benchmark | metric | goal | median (min–max) | runs | met | detail |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "–"}[r.met]
        lines.append(f"| {r.bench} | {r.metric} | {r.goal or '–'} | {r.value()} | {r.runs} "
                     f"| {met} | {r.detail} |")
    return "\n".join(lines)
