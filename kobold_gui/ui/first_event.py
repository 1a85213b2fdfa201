"""Run something once, the first time a widget gets one of some events (its first paint, its
first focus), then get out of the way.

One mechanism for the start-up's "after the first frame" steps and for work put off until a
control is first used; only QtCore, so the window frame can use it before the rest is imported.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject


class _Once(QObject):
    def __init__(self, widget: QObject, types: tuple[QEvent.Type, ...],
                 callback: Callable[[], None]) -> None:
        super().__init__(widget)
        self._widget = widget
        self._types = types
        self._callback = callback
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
        if watched is self._widget and event.type() in self._types:
            watched.removeEventFilter(self)
            self.deleteLater()
            self._callback()
        return False


def on_first_event(widget: QObject, types: tuple[QEvent.Type, ...],
                   callback: Callable[[], None]) -> None:
    """Call `callback` once, as `widget` first gets an event of one of `types` (before the
    widget handles it)."""
    _Once(widget, types, callback)


def on_first_paint(widget: QObject, callback: Callable[[], None]) -> None:
    on_first_event(widget, (QEvent.Type.Paint,), callback)
