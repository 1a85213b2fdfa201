"""Retry, reply versions and branches in the window (issue 8, H3).

Retry (Ctrl+Shift+R) generates the story's last reply again and keeps every earlier version
(core/story.py: Alternatives); Alt+Left / Alt+Right show the previous / next version of the
reply under the story view's cursor, or of the last reply when the cursor is in none; "2 / 5"
beside the Generate buttons says which one is shown. Branch from Here (Ctrl+B) makes the story
up to and including that reply a new branch; Edit > Branches switches between them. Every
one of these is an undo step of the story.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLabel, QLayout, QMenu, QToolButton, QWidget

from ..core.story import ReplyError, Story, StoryEvent, TextAppended

if TYPE_CHECKING:
    from .main_window import MainWindow


def _menu(window: MainWindow, title: str) -> QMenu:
    """The window's menu `title` ("&Edit"): through `window.menu` where the window has it,
    else found in the menu bar, else added."""
    finder = getattr(window, "menu", None)
    if callable(finder):
        try:
            found = finder(title)
            if isinstance(found, QMenu):
                return found
        except KeyError:
            pass
    plain = title.replace("&", "").lower()
    for action in window.menuBar().actions():
        menu = action.menu()
        if isinstance(menu, QMenu) and action.text().replace("&", "").lower() == plain:
            return menu
    return window.menuBar().addMenu(title)


def _row_holding(widget: QWidget) -> QBoxLayout | None:
    """The box layout `widget` sits in (the row of Generate buttons)."""
    parent = widget.parentWidget()
    top = parent.layout() if parent is not None else None
    layouts: list[QLayout] = [top] if top is not None else []
    while layouts:
        layout = layouts.pop()
        if isinstance(layout, QBoxLayout) and layout.indexOf(widget) >= 0:
            return layout
        for i in range(layout.count()):
            item = layout.itemAt(i)
            inner = item.layout() if item is not None else None
            if inner is not None:
                layouts.append(inner)
    return None


class RetryActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._story: Story | None = None
        self._unsubscribe: object = None

        def action(text: str, keys: str, slot: object, tip: str) -> QAction:
            made = QAction(text, window)
            made.setShortcut(QKeySequence(keys))
            made.setToolTip(f"{tip} ({keys})")
            made.setStatusTip(tip)
            made.triggered.connect(slot)
            window.addAction(made)  # the shortcut works with the menu bar hidden too
            return made

        self.retry_action = action("Retry", "Ctrl+Shift+R", self.retry,
                                   "Generate the last reply again; every version is kept")
        self.previous_action = action("Previous Version", "Alt+Left", lambda: self.flip(-1),
                                      "Show the previous version of this reply")
        self.next_action = action("Next Version", "Alt+Right", lambda: self.flip(+1),
                                  "Show the next version of this reply")
        self.branch_action = action("Branch from Here", "Ctrl+B", self.branch,
                                    "A new branch: the story up to and including this reply")
        self.branches_menu = QMenu("&Branches", window)
        self.branches_menu.aboutToShow.connect(self._fill_branches_menu)
        self._fill_branches_menu()

        _menu(window, "&Generate").addAction(self.retry_action)
        edit = _menu(window, "&Edit")
        edit.addSeparator()
        for item in (self.previous_action, self.next_action, self.branch_action):
            edit.addAction(item)
        edit.addMenu(self.branches_menu)

        self._make_indicator()
        window.controller.busy_changed.connect(lambda _busy: self.update())
        window.output.cursorPositionChanged.connect(self._cursor_moved)
        window.story_replaced.connect(self._follow)
        self._follow(window.story)

    # ------------------------------------------------------------------ building
    def _make_indicator(self) -> None:
        """‹ 2 / 5 › and Retry, beside Continue / Stop / Generate."""
        self.indicator = QWidget()
        self.indicator.setObjectName("replyVersions")
        box = QHBoxLayout(self.indicator)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        self.previous_button = self._button(self.previous_action, "‹", "previousVersionButton")
        self.next_button = self._button(self.next_action, "›", "nextVersionButton")
        self.version_label = QLabel()
        self.version_label.setObjectName("versionLabel")
        self.version_label.setTextFormat(Qt.TextFormat.PlainText)
        self.branch_label = QLabel()
        self.branch_label.setObjectName("branchLabel")
        self.branch_label.setTextFormat(Qt.TextFormat.PlainText)
        box.addWidget(self.branch_label)
        box.addWidget(self.previous_button)
        box.addWidget(self.version_label)
        box.addWidget(self.next_button)
        self.retry_button = self._button(self.retry_action, "Retry", "retryButton")
        self.retry_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        row = _row_holding(self.window.continue_button)
        if row is not None:
            at = row.indexOf(self.window.continue_button)
            row.insertWidget(at, self.retry_button)
            row.insertWidget(at, self.indicator)

    def _button(self, action: QAction, text: str, name: str) -> QToolButton:
        button = QToolButton()
        button.setObjectName(name)
        button.setDefaultAction(action)
        button.setText(text)
        button.setAccessibleName(action.text())
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        return button

    # ------------------------------------------------------------------ state
    def _follow(self, story: Story) -> None:
        if callable(self._unsubscribe):
            self._unsubscribe()
        self._story = story
        self._unsubscribe = story.subscribe(self._story_changed)
        self.update()

    # While a generation runs, a streamed token changes nothing this bar shows (its actions
    # wait, the reply under the cursor only grows) and busy_changed brings it up to date at
    # the end; refreshing it for every token was a sixth of a streaming window's Python time.
    def _story_changed(self, event: StoryEvent) -> None:
        if shiboken6.isValid(self.window) and not (
                self.window.controller.busy and isinstance(event, TextAppended)):
            self.update()

    def _cursor_moved(self) -> None:
        """Not for the view's cursor carried along by a streamed token."""
        if shiboken6.isValid(self.window) and not (
                self.window.controller.busy and self.window.output.writing()):
            self.update()

    @property
    def story(self) -> Story:
        return self.window.story

    def target_reply(self) -> int | None:
        """The reply under the view's cursor, else the one the story ends with."""
        story = self.story
        view = self.window.output
        position = view.textCursor().position()
        mapping = getattr(view, "_map", None)  # view (UTF-16, view-only breaks) -> story
        if mapping is not None:
            position = mapping.story_of(position, len(story))[0]
        position = min(position, len(story))
        reply = story.reply_at(position)
        return reply if reply is not None else story.last_reply()

    def version_text(self) -> str:
        """"2 / 5" for the target reply, "" when it has one version only."""
        reply = self.target_reply()
        alts = self.story.alternatives(reply) if reply is not None else None
        if alts is None or len(alts) < 2 or self.story.reply_span(reply or 0) is None:
            return ""
        return f"{alts.current + 1} / {len(alts)}"

    def update(self) -> None:
        if not shiboken6.isValid(self.window):
            return
        story = self.story
        idle = not self.window.controller.busy
        reply = self.target_reply()
        alts = story.alternatives(reply) if reply is not None else None
        text = self.version_text()
        self.version_label.setText(text)
        if text:
            current, count = text.split(" / ")
            self.version_label.setAccessibleName(f"Reply version {current} of {count}")
            self.version_label.setToolTip(f"Version {current} of {count} of this reply "
                                          "(Alt+Left / Alt+Right)")
        self.indicator.setVisible(bool(text) or bool(story.branches))
        for widget in (self.previous_button, self.next_button, self.version_label):
            widget.setVisible(bool(text))
        shown = alts.current if alts is not None else 0
        self.previous_action.setEnabled(idle and bool(text) and shown > 0)
        self.next_action.setEnabled(idle and bool(text) and alts is not None
                                    and shown < len(alts) - 1)
        self.retry_action.setEnabled(idle and story.last_reply() is not None)
        self.branch_action.setEnabled(idle and len(story) > 0)
        self.branches_menu.setEnabled(idle)
        if story.branches:
            label = f"branch {story.active_branch + 1} of {len(story.branches)}"
            self.branch_label.setText(label)
            self.branch_label.setAccessibleName(label.capitalize())
        self.branch_label.setVisible(bool(story.branches))

    # ------------------------------------------------------------------ doing
    def retry(self) -> bool:
        """Check the settings as Generate does, then retry the last reply."""
        window = self.window
        if window.controller.busy:
            return False
        story = self.story
        reply = story.last_reply()
        span = story.reply_text_range(reply) if reply is not None else None
        if span is not None and span[0] == 0 and not story.memory:
            window.status.show_error("Nothing comes before this reply to generate it from")
            return False
        values = window.settings_panel.values()
        if reply is not None and not window.settings_ready(values):
            return False
        return window.controller.retry(values)

    def flip(self, step: int) -> bool:
        if self.window.controller.busy:
            return False
        reply = self.target_reply()
        if reply is None or not self.story.flip(reply, step):
            return False
        self.window.status.show_info(f"Reply version {self.version_text()} (Ctrl+Z goes back)")
        return True

    def branch(self) -> int | None:
        """A new branch from the reply under the cursor (or the last one), shown at once."""
        if self.window.controller.busy or not len(self.story):
            return None
        try:
            index = self.story.branch_from(self.target_reply())
        except ReplyError as err:
            self.window.status.show_error(str(err))
            return None
        self.window.status.show_info(
            f"Now on branch {index + 1} of {len(self.story.branches)}; the story as it was "
            "is kept (Edit > Branches)")
        return index

    def switch(self, index: int) -> None:
        if self.window.controller.busy:
            return
        try:
            self.story.switch_branch(index)
        except ReplyError as err:
            self.window.status.show_error(str(err))
            return
        self.window.status.show_info(f"Branch {index + 1} of {len(self.story.branches)}")

    def delete(self, index: int) -> None:
        if self.window.controller.busy:
            return
        try:
            self.story.delete_branch(index)
        except ReplyError as err:
            self.window.status.show_error(str(err))
            return
        self.window.status.show_info(f"Deleted branch {index + 1} (Ctrl+Z brings it back)")

    def _fill_branches_menu(self) -> None:
        menu = self.branches_menu
        menu.clear()
        menu.addAction(self.branch_action)
        branches = self.story.branches if self._story is not None else ()
        if not branches:
            none = menu.addAction("(one branch only)")
            none.setEnabled(False)
            return
        menu.addSeparator()
        for index, branch in enumerate(branches):
            item = menu.addAction(f"Branch {index + 1}" + (f" — {branch.name}"
                                                             if branch and branch.name else ""))
            item.setCheckable(True)
            item.setChecked(branch is None)
            item.triggered.connect(lambda _checked=False, i=index: self.switch(i))
        delete = menu.addMenu("Delete Branch")
        for index, branch in enumerate(branches):
            if branch is not None:
                item = delete.addAction(f"Branch {index + 1}")
                item.triggered.connect(lambda _checked=False, i=index: self.delete(i))


def install_retry(window: MainWindow) -> RetryActions:
    """Retry, versions and branches: actions in Generate and Edit, "2 / 5" by the buttons."""
    actions = RetryActions(window)
    window.retry_actions = actions  # type: ignore[attr-defined]
    return actions
