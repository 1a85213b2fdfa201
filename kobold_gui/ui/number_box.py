"""NumberBox: a number field that keeps exactly what was typed.

Why not QSpinBox/QDoubleSpinBox: they validate every key against their range and decimals and
fix the text up when the field loses focus, so typing changes numbers out of sight — "9" in a
0–5 field is swallowed, 1.5 becomes 1.00, 99999 becomes 9999, 8192 becomes 819. Here any text is
accepted as typed; the settings panel says at the field what is wrong with it, and the window
refuses to send it. The arrows and Up/Down still step, from a valid number and within the range.
"""

from __future__ import annotations

import math
import re

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator, QWheelEvent
from PySide6.QtWidgets import QAbstractSpinBox, QWidget

_WHOLE = re.compile(r"[+-]?\d+")


def parse_number(text: str, whole: bool) -> int | float | None:
    """The number `text` spells (an int for a whole number in a whole field), else None."""
    t = text.strip()
    if whole and _WHOLE.fullmatch(t):
        return int(t)
    try:
        value = float(t)
    except ValueError:
        return None
    if whole and math.isfinite(value) and value == int(value):
        return int(value)
    return value


def format_number(value: float, decimals: int, whole: bool) -> str:
    """`value` as text that reads back as exactly `value` (at least `decimals` decimals)."""
    if whole and value == int(value):
        return str(int(value))
    text = f"{value:.{decimals}f}"
    return text if float(text) == value else repr(float(value))


class NumberBox(QAbstractSpinBox):
    #: the text changed (typed, stepped or set); blocked by QSignalBlocker(box) like any signal
    edited = Signal()

    def __init__(self, *, whole: bool, step: float = 1.0, decimals: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.whole, self.step, self.decimals = whole, step, decimals
        self._low, self._high = -math.inf, math.inf
        self.lineEdit().setTextMargins(4, 0, 4, 0)
        self.lineEdit().textChanged.connect(lambda _t: self.edited.emit())
        self.setMinimumWidth(90)

    # ------------------------------------------------------------------ value and range
    def value(self) -> int | float | None:
        return parse_number(self.text(), self.whole)

    def setValue(self, value: float) -> None:  # noqa: N802 (Qt naming, like QSpinBox)
        self.lineEdit().setText(format_number(value, self.decimals, self.whole))

    def setRange(self, low: float, high: float) -> None:  # noqa: N802
        self._low, self._high = low, high
        self.update()

    def minimum(self) -> float:
        return self._low

    def maximum(self) -> float:
        return self._high

    # ------------------------------------------------------------------ QAbstractSpinBox
    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        return QValidator.State.Acceptable, text, pos  # all typed text stays; the panel judges

    def fixup(self, text: str) -> str:
        return text

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:  # noqa: N802
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        value = self.value()
        if value is None or not math.isfinite(value):
            return flags
        if value < self._high:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if value > self._low:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags

    def stepBy(self, steps: int) -> None:  # noqa: N802
        value = self.value()
        if value is None or not math.isfinite(value):
            return
        new = min(max(value + steps * self.step, self._low), self._high)
        self.setValue(round(new) if self.whole else round(new, self.decimals))

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        """Scrolling the panel must not change the number under the mouse pointer."""
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()
