""""Show request": the exact JSON body the next Generate would send, copyable.

The body comes from the same planning call the Generate button uses (core/request.py), so it is
what goes over the wire: only the genkey differs, as every request gets a fresh one. The
password travels in a header, never in the body, so it cannot appear here.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


def body_text(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, indent=2)


class RequestDialog(QDialog):
    """Non-modal (opened with `show()`: a nested exec() would deadlock the qasync loop)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("requestDialog")
        self.setWindowTitle("Request the next Generate sends")
        self.resize(640, 560)
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Request body")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("&Copy", self)
        self.copy_button.setAccessibleName("Copy the request body")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        self.copy_button.clicked.connect(self.copy)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.body: dict[str, Any] | None = None

    def show_body(self, body: dict[str, Any], note: str) -> None:
        self.body = body
        self.text.setPlainText(body_text(body))
        self.note.setText(note)

    def show_problem(self, message: str) -> None:
        self.body = None
        self.text.setPlainText("")
        self.note.setText(f"Nothing would be sent: {message}")

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())


__all__ = ["RequestDialog", "body_text"]
