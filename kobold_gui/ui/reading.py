"""The reading look shared by the story view, the prompt box and the style sheet: book faces,
a comfortable column width, and colours blended from the palette so light and dark both read."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont

#: Tried in order; the first one installed wins. Prose reads best in a book face.
SERIF_FAMILIES = ["Literata", "Charter", "Georgia", "Source Serif 4", "Source Serif Pro",
                  "Noto Serif", "DejaVu Serif", "Liberation Serif", "serif"]
#: Lines longer than this (in pixels) are hard to read; wider views get side margins instead.
READING_WIDTH = 820
MONO_FAMILIES = ["JetBrains Mono", "Cascadia Mono", "SF Mono", "Menlo", "Consolas",
                 "DejaVu Sans Mono", "Liberation Mono", "monospace"]


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """`a` blended towards `b` by `t` (0 = a, 1 = b); keeps light and dark palettes readable."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def reading_font(kind: str = "serif", point_size: float = 12.5) -> QFont:
    font = QFont()
    font.setFamilies(SERIF_FAMILIES if kind == "serif" else MONO_FAMILIES)
    font.setStyleHint(QFont.StyleHint.Serif if kind == "serif" else QFont.StyleHint.Monospace)
    font.setPointSizeF(point_size)
    return font
