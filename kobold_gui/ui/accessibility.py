"""Accessible names: every control a keyboard reaches says what it is to a screen reader; and
the Tab order of controls built after the window (`chain_after`).

Why here: Qt names a button by its text and a field by the label whose buddy it is; controls
without either (a bare field, a scroll area, a list) are silent. `unnamed` finds them (the test
walks the whole window with it) and `name_from_hints` gives them a name from their own
placeholder or tooltip, so a control a part adds later is not left silent either.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDockWidget,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

_TAG = re.compile(r"<[^>]+>")


def accessible_name(widget: QWidget) -> str:
    """The name assistive technology reads for `widget` (its own, a label's, its text)."""
    interface = QAccessible.queryAccessibleInterface(widget)
    name = interface.text(QAccessible.Text.Name) if interface is not None else ""
    return name or widget.accessibleName()


def _inside_composite(widget: QWidget) -> bool:
    """The line edit inside a spin box, a combo box's line edit or its drop-down list: the
    outer control is what is named."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractSpinBox | QComboBox):
            return True
        parent = parent.parentWidget()
    return False


def keyboard_widgets(root: QWidget) -> list[QWidget]:
    """The controls Tab reaches in `root` (shown or in a hidden tab), outer controls only."""
    return [w for w in root.findChildren(QWidget)
            if w.focusPolicy() & Qt.FocusPolicy.TabFocus and not _inside_composite(w)
            and w.isEnabledTo(root) and not w.isHidden()]


def unnamed(root: QWidget) -> list[QWidget]:
    return [w for w in keyboard_widgets(root) if not accessible_name(w).strip()]


def _hint(widget: QWidget) -> str:
    parent = widget.parentWidget()
    if isinstance(parent, QDockWidget) and parent.widget() is widget and parent.windowTitle():
        return f"{parent.windowTitle()} panel"  # a side panel's body: named by its tab
    if isinstance(widget, QLineEdit | QPlainTextEdit | QTextEdit):
        text = widget.placeholderText()
        if text:
            return text
    tip = html.unescape(_TAG.sub("", widget.toolTip())).strip()
    return tip.splitlines()[0].split(";")[0].strip() if tip else ""


def name_from_hints(root: QWidget) -> None:
    """Give each unnamed control a name from its placeholder text or its tooltip."""
    for widget in unnamed(root):
        hint = _hint(widget)
        if hint:
            widget.setAccessibleName(hint[:80])


def takes_focus(widget: QWidget) -> bool:
    return widget.focusPolicy() != Qt.FocusPolicy.NoFocus


def focus_block(root: QWidget) -> list[QWidget]:
    """`root` and what is inside it that takes the focus, in focus-chain order (a part built
    after the window: what `chain_after` moves)."""
    block = [root] if takes_focus(root) else []
    widget = root.nextInFocusChain()
    while widget is not None and widget is not root:
        if takes_focus(widget) and root.isAncestorOf(widget):
            block.append(widget)
        widget = widget.nextInFocusChain()
    return block


def chain_after(anchor: QWidget, block: list[QWidget]) -> None:
    """Tab goes from `anchor` through `block` (widgets that take the focus, in order), then on
    to what followed `anchor`. Qt puts a widget built later at the end of the focus chain; this
    puts it where it would have been had it been built with the rest. Qt orders only widgets
    that take the focus: `anchor` does for the reordering only."""
    policy = anchor.focusPolicy()
    anchor.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    prev = anchor
    for widget in block:
        QWidget.setTabOrder(prev, widget)
        prev = widget
    anchor.setFocusPolicy(policy)
