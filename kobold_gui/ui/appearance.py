"""View > Theme and the story's font: light or dark following the system, or chosen; the
font's family and size (View > Font…, Ctrl+= / Ctrl+- / Ctrl+0). App settings remember both.

Why palettes and not only `QStyleHints.setColorScheme`: the colour-scheme request is honoured by
some platform themes only (not by the offscreen or many X11 ones), so Light and Dark also set a
palette of their own; System gives the platform's palette back. The window's style sheet and
the story's formats are built from the palette, so they follow on the palette change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QFont, QKeySequence
from PySide6.QtWidgets import QFontDialog, QMenu

from .reading import reading_font
from .theme import THEMES, apply_theme

if TYPE_CHECKING:
    from .main_window import MainWindow

THEME_LABELS = {"system": "&System", "light": "&Light", "dark": "&Dark"}
#: the story's font size, points: default, smallest, largest, one step of Ctrl+= / Ctrl+-
DEFAULT_SIZE = 12.5
MIN_SIZE = 7.0
MAX_SIZE = 40.0
STEP = 1.0
#: the prompt box's size beside the story's (12 pt beside 12.5 pt)
PROMPT_RATIO = 12.0 / 12.5


class Appearance:
    """The theme and font actions of one window, and what they have chosen."""

    def __init__(self, window: MainWindow, view_menu: QMenu) -> None:
        self.window = window
        self.theme = "system"
        #: the story's font: kind (serif / mono), a family the user picked (None: the kind's),
        #: its size in points
        self.kind = "serif"
        self.family: str | None = None
        self.size = DEFAULT_SIZE

        theme_menu = view_menu.addMenu("&Theme")
        theme_menu.setObjectName("themeMenu")
        group = QActionGroup(window)
        #: "system" / "light" / "dark" -> its View > Theme action
        self.theme_actions: dict[str, QAction] = {}
        for theme in THEMES:
            action = QAction(THEME_LABELS[theme], window, checkable=True)
            action.setObjectName(f"theme{theme.title()}")
            action.setChecked(theme == "system")
            action.setToolTip({"system": "Light or dark, as the desktop is",
                               "light": "Always light", "dark": "Always dark"}[theme])
            action.triggered.connect(lambda _c=False, t=theme: self.set_theme(t))
            group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[theme] = action

        self.font_action = self._action("&Font…", None, self.choose_font,
                                        "Choose the story's font and size")
        self.bigger_action = self._action(
            "&Bigger Text", [QKeySequence("Ctrl+="), QKeySequence("Ctrl++"),
                             QKeySequence(QKeySequence.StandardKey.ZoomIn)],
            lambda: self.set_size(self.size + STEP), "Make the text bigger (Ctrl+=)")
        self.smaller_action = self._action(
            "&Smaller Text", [QKeySequence("Ctrl+-"),
                              QKeySequence(QKeySequence.StandardKey.ZoomOut)],
            lambda: self.set_size(self.size - STEP), "Make the text smaller (Ctrl+-)")
        self.reset_size_action = self._action(
            "&Normal Size", [QKeySequence("Ctrl+0")], lambda: self.set_size(DEFAULT_SIZE),
            "Back to the normal text size (Ctrl+0)")
        for action in (self.font_action, self.bigger_action, self.smaller_action,
                       self.reset_size_action):
            view_menu.addAction(action)
        self._dialog: QFontDialog | None = None

    def _action(self, text: str, keys: list[QKeySequence] | None, slot: object,
                tip: str) -> QAction:
        action = QAction(text, self.window)
        if keys:
            unique: list[QKeySequence] = []
            for key in keys:
                if not key.isEmpty() and key not in unique:
                    unique.append(key)
            action.setShortcuts(unique)
        action.setToolTip(tip)
        assert callable(slot)
        action.triggered.connect(lambda _c=False: slot())
        self.window.addAction(action)  # works with the menu bar hidden
        return action

    # ------------------------------------------------------------------ theme
    def set_theme(self, theme: str) -> None:
        apply_theme(theme)
        self.theme = theme
        action = self.theme_actions[theme]
        if not action.isChecked():
            action.setChecked(True)

    # ------------------------------------------------------------------ font
    def story_font(self) -> QFont:
        font = reading_font(self.kind, self.size)
        if self.family:
            font.setFamilies([self.family])
        return font

    def apply_font(self) -> None:
        w = self.window
        w.output.setFont(self.story_font())
        prompt = w.editor.font()
        prompt.setPointSizeF(round(self.size * PROMPT_RATIO, 1))
        w.editor.setFont(prompt)
        self.reset_size_action.setEnabled(self.size != DEFAULT_SIZE)

    def set_kind(self, kind: str) -> None:
        """Serif or monospace (View menu): the size stays, a picked family goes."""
        self.kind, self.family = kind, None
        self.apply_font()

    def set_size(self, size: float) -> None:
        self.size = max(MIN_SIZE, min(MAX_SIZE, round(size * 2) / 2))
        self.apply_font()
        self.window.status.show_info(f"Text size {self.size:g} pt")

    def set_font(self, family: str | None, size: float) -> None:
        self.family = family or None
        self.set_size(size)

    def choose_font(self) -> None:
        """A font dialog, not modal to the event loop (open(), never exec())."""
        if self._dialog is not None and shiboken6.isValid(self._dialog):
            self._dialog.activateWindow()
            return
        dialog = QFontDialog(self.story_font(), self.window)
        dialog.setObjectName("fontDialog")
        dialog.setWindowTitle("Story Font")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fontSelected.connect(
            lambda font: self.set_font(font.family(), font.pointSizeF()))
        self._dialog = dialog
        dialog.open()
