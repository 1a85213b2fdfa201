"""OutputView: the read-only transcript that generated text streams into.

Why a widget of its own: appending tokens is the hot path of the app. Text goes in through a
private QTextCursor parked at the end of the document, so the cost of an append does not grow
with the transcript (no setPlainText/toPlainText per token), the user's own cursor and selection
are left alone, undo history is off (it would grow forever), and the view only follows the
stream while the user is looking at the bottom. The prompt of each generation is shown muted and
the generated text in the normal colour; text recovered from the server after a broken stream is
tinted, so a person can see which words came back by the recovery path.

Continue carries on the same section (no copy of the story so far). A generation that failed or
was stopped before any text gets a mark ("[generation failed: …]") on a line of its own, in a
format of its own; a mark is not part of the story (`plain_text()`), and Continue removes it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

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


class OutputView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("outputView")
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setFrameShape(QPlainTextEdit.Shape.NoFrame)
        self.setPlaceholderText("Generated text appears here.\n\n"
                                "Write a prompt below and press Ctrl+Enter.")
        self.document().setDocumentMargin(22)
        self.set_font_kind("serif")
        self._end = QTextCursor(self.document())
        self._generated_chunks: list[str] = []
        self._prompt = ""
        #: the marks in order: (start, end) in Python characters, then in document positions
        #: (UTF-16: an emoji counts twice there)
        self._marks: list[tuple[int, int, int, int]] = []
        self._chars = 0
        self._update_formats()

    # ------------------------------------------------------------------ appearance
    def set_font_kind(self, kind: str, point_size: float = 12.5) -> None:
        """'serif' for prose, 'mono' for code and chat logs."""
        self.setFont(reading_font(kind, point_size))

    def _update_formats(self) -> None:
        pal = self.palette()
        text, base = pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base)
        self.prompt_format = QTextCharFormat()
        self.prompt_format.setForeground(mix(text, base, 0.48))
        self.generated_format = QTextCharFormat()
        self.generated_format.setForeground(text)
        self.recovered_format = QTextCharFormat()
        self.recovered_format.setForeground(text)
        self.recovered_format.setBackground(mix(base, QColor("#f2b441"), 0.22))
        self.recovered_format.setToolTip("Recovered from the server after the stream broke")
        self.mark_format = QTextCharFormat()
        self.mark_format.setForeground(mix(text, base, 0.4))
        self.mark_format.setFontItalic(True)
        self.mark_format.setToolTip("A note from Kobold GUI, not part of the story")

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """Keep a comfortable reading column in a wide window.

        The viewport's resizes arrive here too, so measure the widget, not the event.
        """
        side = max(0, (self.width() - READING_WIDTH) // 2)
        if self.viewportMargins().left() != side:
            self.setViewportMargins(side, 0, side, 0)
        super().resizeEvent(event)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange:
            self._update_formats()

    # ------------------------------------------------------------------ appending
    def begin_generation(self, prompt: str) -> None:
        """Start a new section: a blank line after earlier output, then the prompt, muted."""
        self._generated_chunks.clear()
        self._prompt = prompt
        if not self.document().isEmpty():
            self._insert("\n\n", self.generated_format)
        self._insert(prompt, self.prompt_format)

    def continue_generation(self) -> str:
        """Carry on the latest section: its story so far becomes the prompt, and the new text
        will follow it in place. Returns that prompt."""
        self._remove_last_mark()
        self._prompt = self._prompt + self.last_generated()
        self._generated_chunks.clear()
        return self._prompt

    def add_mark(self, text: str) -> None:
        """A note such as "[generation failed: …]" on its own line, outside the story."""
        start, doc_start = self._chars, self._doc_end()
        self._insert(("\n" if start > 0 else "") + text, self.mark_format)
        self._marks.append((start, self._chars, doc_start, self._doc_end()))

    def _doc_end(self) -> int:
        return self.document().characterCount() - 1

    def _remove_last_mark(self) -> None:
        if self._marks and self._marks[-1][1] == self._chars:
            start, _end, doc_start, doc_end = self._marks.pop()
            cursor = QTextCursor(self.document())
            cursor.setPosition(doc_start)
            cursor.setPosition(doc_end, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            self._chars = start

    def append_generated(self, text: str) -> None:
        self._generated_chunks.append(text)
        self._insert(text, self.generated_format)

    def append_recovered(self, text: str) -> None:
        self._generated_chunks.append(text)
        self._insert(text, self.recovered_format)

    def _insert(self, text: str, fmt: QTextCharFormat) -> None:
        if not text:
            return
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 4
        self._end.movePosition(QTextCursor.MoveOperation.End)
        self._end.insertText(text, fmt)
        self._chars += len(text)
        if follow:
            bar.setValue(bar.maximum())

    # ------------------------------------------------------------------ reading
    def plain_text(self) -> str:
        """The whole story without the marks (not for the hot path: it copies the document)."""
        text = self.document().toPlainText()
        for start, end, _ds, _de in reversed(self._marks):
            text = text[:start] + text[end:]
        return text

    def shown_text(self) -> str:
        """Everything the view shows, marks included."""
        return self.document().toPlainText()

    def marks(self) -> list[str]:
        text = self.document().toPlainText()
        return [text[start:end].strip("\n") for start, end, _ds, _de in self._marks]

    def last_prompt(self) -> str:
        return self._prompt

    def last_generated(self) -> str:
        """The generated (and recovered) text of the latest generation."""
        if len(self._generated_chunks) > 1:
            self._generated_chunks[:] = ["".join(self._generated_chunks)]
        return self._generated_chunks[0] if self._generated_chunks else ""

    def clear_output(self) -> None:
        self._generated_chunks.clear()
        self._prompt = ""
        self._marks.clear()
        self._chars = 0
        self.clear()
        self._end = QTextCursor(self.document())
