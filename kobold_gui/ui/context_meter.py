"""The context meter: how many of the tokens beside the reply the next request uses, what it
is made of, and what of the story is left out.

It shows a ContextPlan (core/context.py), never an estimate of its own: the numbers are the
server's count of exactly what is sent (flagged "estimated" while the server cannot count).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from ..core.context import ContextPlan
from .plain import set_plain_tooltip


def thousands(n: int) -> str:
    """1 240 — a thin space between thousands, the way the meter writes numbers."""
    return f"{n:,}".replace(",", "\u2009")


def cut_words(plan: ContextPlan) -> str:
    if not plan.cut_chars:
        return "All of the story fits."
    kept = " (same start as last time: the server reuses its cache)" if plan.cut_kept else ""
    return f"{thousands(plan.cut_chars)} chars of the oldest text left out{kept}."


def breakdown(plan: ContextPlan) -> str:
    """The tooltip: each part's tokens, the world-info entries, what was left out."""
    estimated = " (estimated: the server could not count)" if plan.estimated else ""
    n = len(plan.world_info)
    lines = [
        f"{thousands(plan.used_tokens)} of {thousands(plan.available_tokens)} tokens "
        f"beside the reply{estimated}",
        f"memory: {thousands(plan.memory_tokens)}",
        f"world info ({n} {'entry' if n == 1 else 'entries'}): {thousands(plan.wi_tokens)}",
        f"author's note: {thousands(plan.note_tokens)}",
        f"story: {thousands(plan.story_tokens)}",
        cut_words(plan),
    ]
    if plan.wi_left_out:
        names = ", ".join(entry_name(e.comment, e.keys) for e in plan.wi_left_out)
        lines.append(f"left out, over the world-info limit (50 %): {names}")
    return "\n".join(lines)


def entry_name(comment: str, keys: tuple[str, ...]) -> str:
    return comment or ", ".join(k for k in keys if k) or "(no keys)"


class ContextMeter(QWidget):
    """Used / available tokens, a bar and one line about the cut; tooltip for the parts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.bar.setAccessibleName("Context used")
        self.numbers = QLabel("context: not counted yet", self)
        self.numbers.setTextFormat(Qt.TextFormat.PlainText)
        self.numbers.setAccessibleName("Context tokens")
        self.cut = QLabel("", self)
        self.cut.setTextFormat(Qt.TextFormat.PlainText)
        self.cut.setWordWrap(True)
        self.cut.setAccessibleName("Context cut")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.numbers)
        layout.addWidget(self.bar)
        layout.addWidget(self.cut)
        self.plan: ContextPlan | None = None

    def show_plan(self, plan: ContextPlan) -> None:
        self.plan = plan
        estimated = " (estimated)" if plan.estimated else ""
        self.numbers.setText(f"context {thousands(plan.used_tokens)} / "
                             f"{thousands(plan.available_tokens)} tokens{estimated}")
        self.bar.setRange(0, max(1, plan.available_tokens))
        self.bar.setValue(min(plan.used_tokens, plan.available_tokens))
        self.cut.setText(cut_words(plan))
        tip = breakdown(plan)
        for widget in (self, self.numbers, self.bar, self.cut):
            set_plain_tooltip(widget, tip)

    def show_problem(self, message: str) -> None:
        """The next request could not be built: why (nothing would be sent)."""
        self.plan = None
        self.numbers.setText("context: not sendable")
        self.bar.setValue(0)
        self.cut.setText(message)
        for widget in (self, self.numbers, self.bar, self.cut):
            set_plain_tooltip(widget, message)


__all__ = ["ContextMeter", "breakdown", "cut_words", "thousands"]
