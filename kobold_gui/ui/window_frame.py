"""The app's top-level window, on screen before the rest of the app is even imported.

Why: the window a user waits for is the first thing they judge, and what it needs to exist is
a fraction of what drives it. Importing asyncio, qasync, the client and every panel, then
building them, costs two to three times the first frame of a bare Qt window; so `kobold-gui`
shows this frame first (the saved size and place, the title, the icon, "Starting…" where the
status bar will be), paints it, and only then imports and builds the main window into it
(`set_content`). Only PySide6 is imported here, nothing else of the app.

Closing the frame closes its content first (which may ask about unsaved changes and say no);
the content closes the window through `window().close()`, which reaches this frame when it is
inside one and itself when it stands alone (as in the tests).
"""

from __future__ import annotations

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

TITLE = "Kobold GUI"
#: the main window's first size (MainWindow is built to it as well)
START_SIZE = (1100, 720)
STARTING_NOTE = "Starting…"


class WindowFrame(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("windowFrame")
        self.setWindowTitle(TITLE)
        self.resize(*START_SIZE)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._layout.addStretch(1)
        #: where the status bar will be: what the window is doing until its content is in
        self.note = QLabel(STARTING_NOTE)
        self.note.setObjectName("startingNote")
        self.note.setContentsMargins(8, 4, 8, 4)
        self._layout.addWidget(self.note)
        self.content: QWidget | None = None

    def set_content(self, widget: QWidget) -> None:
        """Put the main window in; the starting note goes. The frame keeps its size (it may
        have been restored or changed by the user meanwhile): the content fills it."""
        if self.content is not None:
            raise RuntimeError("the frame already has its content")
        self.content = widget
        while self._layout.count():
            self._layout.takeAt(0)
        self.note.hide()
        self.note.deleteLater()
        self._layout.addWidget(widget)
        self.setMinimumSize(widget.minimumSize())
        widget.show()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """The content decides: it asks about unsaved changes, and closes again once
        answered (reaching this frame through `window().close()`)."""
        content = self.content
        if content is not None and content.isVisible() and not content.close():
            event.ignore()
            return
        super().closeEvent(event)
