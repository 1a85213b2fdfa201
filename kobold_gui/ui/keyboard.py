"""The keyboard path through the window, and Help > Keyboard Shortcuts (issue 8 #8).

Why: everything must be reachable without a mouse. F6 / Shift+F6 move between the areas of the
window (story, prompt, the side panel in front, the server address), Ctrl+Shift+0 and
Ctrl+Shift+P go straight to the story and the prompt, Ctrl+Shift+1…4 to each side panel (made
by MainWindow.add_side_panel), Ctrl+L to the address; menus open with Alt and their underlined
letter. The shortcut list is generated from the menus, so it can never leave an action out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QHeaderView,
    QLineEdit,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from .main_window import MainWindow

#: keys that are not menu actions but work all the same (shown at the end of the list)
OTHER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Keyboard", "Open a menu", "Alt + its underlined letter"),
    ("Keyboard", "Next control in a panel", "Tab / Shift+Tab"),
    ("Keyboard", "Story view: new line", "Enter / Shift+Enter"),
)


def plain(text: str) -> str:
    """A menu text without its mnemonic marks ("Save &As…" -> "Save As…")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def shortcut_rows(window: MainWindow) -> list[tuple[str, str, str]]:
    """(menu path, action, shortcuts) for every action in the menus, in menu order; the
    shortcuts in the platform's words, several joined by ", "."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.isSeparator():
                continue
            sub = action.menu()
            if isinstance(sub, QMenu):
                walk(sub, f"{path} > {plain(action.text())}")
                continue
            if not action.text():
                continue
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                             for k in action.shortcuts() if not k.isEmpty())
            rows.append((path, plain(action.text()), keys))

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            walk(menu, plain(top.text()))
    return rows


class ShortcutsDialog(QDialog):
    """Every action with its menu and keys, filterable; not modal to the event loop."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(620, 560)
        box = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setObjectName("shortcutFilter")
        self.filter.setPlaceholderText("Type to filter…")
        self.filter.setAccessibleName("Filter shortcuts")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        box.addWidget(self.filter)
        rows = [*shortcut_rows(window), *OTHER_KEYS]
        self.table = QTableWidget(len(rows), 3)
        self.table.setObjectName("shortcutTable")
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Shortcut"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        box.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        box.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def _row(self, r: int) -> tuple[str, str, str]:
        menu, action, keys = (item.text() if (item := self.table.item(r, c)) else ""
                              for c in range(3))
        return menu, action, keys

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        for r in range(self.table.rowCount()):
            line = " ".join(self._row(r)).lower()
            self.table.setRowHidden(r, not all(w in line for w in words))

    def visible_rows(self) -> list[tuple[str, str, str]]:
        return [self._row(r) for r in range(self.table.rowCount())
                if not self.table.isRowHidden(r)]


class KeyboardPath:
    """Focus actions (View menu) and the shortcuts dialog (Help menu) of one window."""

    def __init__(self, window: MainWindow, view_menu: QMenu, help_menu: QMenu) -> None:
        self.window = window
        self._dialog: ShortcutsDialog | None = None
        focus_menu = view_menu.addMenu("&Go To")
        focus_menu.setObjectName("focusMenu")
        self.focus_story_action = self._action(
            "&Story", ["Ctrl+Shift+0"], lambda: self.focus(window.output),
            "Put the keyboard focus in the story")
        self.focus_prompt_action = self._action(
            "&Prompt", ["Ctrl+Shift+P"], lambda: self.focus(window.editor),
            "Put the keyboard focus in the prompt box")
        self.next_area_action = self._action(
            "&Next Area", ["F6"], lambda: self.cycle(1),
            "Story, prompt, side panel, server address, in turn (F6)")
        self.previous_area_action = self._action(
            "P&revious Area", ["Shift+F6"], lambda: self.cycle(-1),
            "The same, backwards (Shift+F6)")
        for action in (self.focus_story_action, self.focus_prompt_action,
                       self.next_area_action, self.previous_area_action):
            focus_menu.addAction(action)
        focus_menu.addAction(window.focus_url_action)
        self.shortcuts_action = self._action(
            "&Keyboard Shortcuts", ["F1"], self.show_shortcuts,
            "Every action and its shortcut (F1)")
        help_menu.addAction(self.shortcuts_action)

    def _action(self, text: str, keys: list[str], slot: object, tip: str) -> QAction:
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setToolTip(tip)
        assert callable(slot)
        action.triggered.connect(lambda _c=False: slot())
        self.window.addAction(action)
        return action

    @staticmethod
    def focus(widget: QWidget) -> None:
        widget.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ------------------------------------------------------------------ areas
    def front_panel(self) -> QDockWidget | None:
        """The side panel whose tab is in front (None when every panel is closed)."""
        # A tab behind another is "visible" to Qt; only the one in front is on screen.
        docks = [d for d in self.window.findChildren(QDockWidget)
                 if d.isVisible() and d.widget() is not None
                 and not d.visibleRegion().isEmpty()]
        return docks[0] if docks else None

    def areas(self) -> list[QWidget]:
        w = self.window
        out: list[QWidget] = [w.output, w.editor]
        dock = self.front_panel()
        if dock is not None and dock.widget() is not None:
            out.append(dock)
        out.append(w.url_edit)
        return out

    def current_area(self) -> int | None:
        focused = self.window.focusWidget()
        for index, area in enumerate(self.areas()):
            if focused is not None and (focused is area or area.isAncestorOf(focused)):
                return index
        return None

    def cycle(self, step: int) -> None:
        areas = self.areas()
        now = self.current_area()
        target = areas[((now if now is not None else -1 if step > 0 else 0) + step)
                       % len(areas)]
        if isinstance(target, QDockWidget):
            self.window.focus_panel(target)
        else:
            self.focus(target)
            if target is self.window.url_edit:
                self.window.url_edit.selectAll()

    # ------------------------------------------------------------------ help
    def show_shortcuts(self) -> ShortcutsDialog:
        if self._dialog is not None and shiboken6.isValid(self._dialog):
            self._dialog.activateWindow()  # (raise() is the platform's: not everywhere)
            return self._dialog
        self._dialog = ShortcutsDialog(self.window)
        self._dialog.open()
        self._dialog.filter.setFocus()
        return self._dialog
