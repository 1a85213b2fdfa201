"""PromptEditor: where the user writes the prompt.

Why a subclass: Ctrl+Enter must generate, never insert a newline, and Esc must stop. The
window's actions own those shortcuts; when a key still reaches the editor (the shortcut did not
match, e.g. the window is not active), the editor turns it into a signal instead of typing it, so
exactly one of the two paths handles each key press.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from .reading import reading_font

_ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


class PromptEditor(QPlainTextEdit):
    #: Ctrl+Enter reached the editor
    submit_requested = Signal()
    #: Esc reached the editor
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptEditor")
        self.setPlaceholderText("Write what comes next: Ctrl+Enter adds it to the story and "
                                "generates (empty: the story just goes on). Esc stops.")
        self.setTabChangesFocus(True)
        self.setFont(reading_font("serif", 12.0))
        self.document().setDocumentMargin(12)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if event.key() in _ENTER_KEYS and mods == Qt.KeyboardModifier.ControlModifier:
            event.accept()
            self.submit_requested.emit()
            return
        if event.key() == Qt.Key.Key_Escape and mods == Qt.KeyboardModifier.NoModifier:
            event.accept()
            self.stop_requested.emit()
            return
        super().keyPressEvent(event)

    def prompt(self) -> str:
        return self.toPlainText()

    def set_prompt(self, text: str) -> None:
        """Replace the prompt (one undo step) and put the cursor at its end."""
        cursor = self.textCursor()
        cursor.select(cursor.SelectionType.Document)
        cursor.insertText(text)
        self.setTextCursor(cursor)
        self.ensureCursorVisible()
