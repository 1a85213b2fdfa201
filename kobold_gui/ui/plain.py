"""Plain-text labels and tooltips: the one way the window shows text it did not write itself.

Why: Qt renders a label's or tooltip's text as HTML whenever it merely looks like HTML
(`Qt.mightBeRichText`), so a model name or a server's error message holding
`<img src="file:///…">` would load and show a local file. Labels get `Qt.PlainText`; a tooltip
cannot be told to be plain, so its text is escaped inside a wrapper of our own and every
character shows literally (line breaks kept).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

#: Our wrapper: the only markup a tooltip ever carries. `pre-wrap` keeps line breaks and spaces.
_TIP_OPEN = '<p style="white-space: pre-wrap">'
_TIP_CLOSE = "</p>"


def plain_tooltip(text: str) -> str:
    """`text` as tooltip markup that shows it literally ("" stays "", i.e. no tooltip)."""
    if not text:
        return ""
    return f"{_TIP_OPEN}{html.escape(text, quote=False)}{_TIP_CLOSE}"


def set_plain_tooltip(widget: QWidget, text: str) -> None:
    widget.setToolTip(plain_tooltip(text))


def tooltip_text(widget: QWidget) -> str:
    """The text a tooltip set by `set_plain_tooltip` shows (for tests and inspection)."""
    tip = widget.toolTip()
    if tip.startswith(_TIP_OPEN) and tip.endswith(_TIP_CLOSE):
        return html.unescape(tip[len(_TIP_OPEN):-len(_TIP_CLOSE)])
    return tip


def make_plain(label: QLabel) -> QLabel:
    """Never interpret this label's text as markup, whatever it will hold."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    return make_plain(QLabel(text, parent))
