"""The Mode panel: story / instruct / chat, the instruct template, system prompt, chat names.

Everything here belongs to the story (`Story.mode`, `Story.mode_options`, saved with it), so
every change goes to `story.set_fields` and the panel re-reads the story when it changes or is
replaced. The tags are shown with the same escapes the stop-sequence fields use (`\\n` for a
line break); editing a built-in template's tags turns them into the story's "Custom" template,
so Lite's templates are never changed.

`install_modes(window)` adds the panel as a side tab, the mode actions (Ctrl+Alt+1/2/3) to the
Generate menu and "Show Thinking" (Ctrl+Shift+T) to the View menu.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ..core import modes
from ..core.escapes import escape, unescape
from ..core.serverinfo import ServerInfo, ServerVersion
from ..core.story import FieldsChanged, Mode, Reset, Story, StoryEvent
from .plain import plain_label

if TYPE_CHECKING:
    from .main_window import MainWindow

MODES: tuple[tuple[Mode, str, str], ...] = (
    ("story", "Story", "Plain continuation: the model carries the text on"),
    ("instruct", "Instruct", "You give instructions, the model answers, in the template's tags"),
    ("chat", "Chat", "A conversation between two named participants"),
)
TAG_LABELS = {
    "system_start": "System start", "system_end": "System end",
    "user_start": "User start", "user_end": "User end",
    "assistant_start": "Assistant start", "assistant_end": "Assistant end",
}
PLACEHOLDER_CHOICES = (
    ("auto", "Server fills in the model's tags (KoboldCpp 1.88+)"),
    ("literal", "Always send literal tags"),
)


class ModePanel(QWidget):
    """The story's mode settings; see the module docstring."""

    def __init__(self, story: Story | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modePanel")
        self._story = story if story is not None else Story()
        self._unsubscribe: Callable[[], None] = lambda: None
        self._server: ServerVersion | None = None
        self._updating = False

        self.mode_box = QComboBox()
        self.mode_box.setObjectName("modeBox")
        self.mode_box.setAccessibleName("Mode")
        for mode, label, tip in MODES:
            self.mode_box.addItem(label, mode)
            self.mode_box.setItemData(self.mode_box.count() - 1, tip,
                                      Qt.ItemDataRole.ToolTipRole)
        self.mode_box.currentIndexChanged.connect(self._mode_picked)

        self.template_box = QComboBox()
        self.template_box.setObjectName("templateBox")
        self.template_box.setAccessibleName("Instruct template")
        self.template_box.addItems(modes.template_names())
        self.template_box.setMaxVisibleItems(16)
        self.template_box.currentIndexChanged.connect(self._template_picked)

        self.tag_edits: dict[str, QLineEdit] = {}
        tags_form = QFormLayout()
        for name in modes.TAG_FIELDS:
            edit = QLineEdit()
            edit.setObjectName(f"tag_{name}")
            edit.setAccessibleName(TAG_LABELS[name])
            edit.setToolTip("Line breaks are written \\n; editing a tag makes the story's "
                            "template Custom")
            edit.textEdited.connect(self._tag_edited)
            tags_form.addRow(TAG_LABELS[name], edit)
            self.tag_edits[name] = edit

        self.placeholder_box = QComboBox()
        self.placeholder_box.setObjectName("placeholderBox")
        self.placeholder_box.setAccessibleName("Placeholder tags")
        for value, label in PLACEHOLDER_CHOICES:
            self.placeholder_box.addItem(label, value)
        self.placeholder_box.currentIndexChanged.connect(self._options_changed)
        self.placeholder_note = plain_label()
        self.placeholder_note.setObjectName("placeholderNote")
        self.placeholder_note.setWordWrap(True)

        self.system_edit = QPlainTextEdit()
        self.system_edit.setObjectName("systemPromptEdit")
        self.system_edit.setAccessibleName("System prompt")
        self.system_edit.setPlaceholderText("Optional: who the model is, how it should answer")
        self.system_edit.setTabChangesFocus(True)
        self.system_edit.setFixedHeight(96)
        self.system_edit.textChanged.connect(self._options_changed)

        self.user_edit = QLineEdit()
        self.user_edit.setObjectName("userNameEdit")
        self.user_edit.setAccessibleName("Your name")
        self.user_edit.textEdited.connect(self._options_changed)
        self.bot_edit = QLineEdit()
        self.bot_edit.setObjectName("botNameEdit")
        self.bot_edit.setAccessibleName("The model's name")
        self.bot_edit.textEdited.connect(self._options_changed)

        self.keep_thinking = QCheckBox("Send earlier thinking back to the model")
        self.keep_thinking.setObjectName("keepThinkingBox")
        self.keep_thinking.setToolTip("Off: <think>…</think> blocks of earlier replies stay in "
                                      "the story but are left out of the next prompt")
        self.keep_thinking.toggled.connect(self._options_changed)

        top = QFormLayout()
        top.addRow("Mode", self.mode_box)
        self.mode_help = plain_label()
        self.mode_help.setWordWrap(True)
        self.mode_help.setObjectName("modeHelp")
        top.addRow(self.mode_help)

        self.instruct_group = QGroupBox("Instruct template")
        form = QFormLayout(self.instruct_group)
        form.addRow("Template", self.template_box)
        form.addRow(tags_form)
        form.addRow("Placeholders", self.placeholder_box)
        form.addRow(self.placeholder_note)

        self.chat_group = QGroupBox("Participants")
        chat_form = QFormLayout(self.chat_group)
        chat_form.addRow("Your name", self.user_edit)
        chat_form.addRow("Model's name", self.bot_edit)

        self.system_group = QGroupBox("System prompt")
        system_box = QVBoxLayout(self.system_group)
        system_box.addWidget(self.system_edit)

        box = QVBoxLayout(self)
        box.setContentsMargins(12, 10, 12, 10)
        box.addLayout(top)
        box.addWidget(self.system_group)
        box.addWidget(self.instruct_group)
        box.addWidget(self.chat_group)
        box.addWidget(self.keep_thinking)
        box.addStretch(1)
        self.set_story(self._story)

    # ------------------------------------------------------------------ the contract
    def set_story(self, story: Story) -> None:
        self._unsubscribe()
        self._story = story
        self._unsubscribe = story.subscribe(self._story_event)
        self.refresh()

    def story(self) -> Story:
        return self._story

    def set_server(self, server: ServerVersion | None) -> None:
        """The connected server decides whether placeholders can be sent as they are."""
        self._server = server
        self._update_note()

    def set_server_info(self, info: ServerInfo | None) -> None:
        self.set_server(info.version if info is not None else None)

    def set_mode(self, mode: Mode) -> None:
        if mode != self._story.mode:
            self._story.set_fields(mode=mode)

    # ------------------------------------------------------------------ story -> widgets
    def _story_event(self, event: StoryEvent) -> None:
        if not shiboken6.isValid(self):  # the story outlived the window
            self._unsubscribe()
            return
        if isinstance(event, FieldsChanged | Reset) and not self._updating:
            self.refresh()

    def refresh(self) -> None:
        """Show the story's mode and options."""
        story, options = self._story, self._story.mode_options
        blockers = [QSignalBlocker(w) for w in (
            self.mode_box, self.template_box, self.placeholder_box, self.system_edit,
            self.user_edit, self.bot_edit, self.keep_thinking, *self.tag_edits.values())]
        index = self.mode_box.findData(story.mode)
        if index < 0:  # adventure (from a Lite file): shown, behaves as story
            self.mode_box.addItem(story.mode.capitalize(), story.mode)
            index = self.mode_box.count() - 1
        self.mode_box.setCurrentIndex(index)
        self.mode_help.setText(next((tip for m, _l, tip in MODES if m == story.mode),
                                    "Treated as plain continuation"))
        name = options.instruct_template
        template_index = self.template_box.findText(name)
        self.template_box.setCurrentIndex(template_index if template_index >= 0 else 0)
        template = modes.template_for(options)
        for field, edit in self.tag_edits.items():
            text = escape(getattr(template, field))
            if edit.text() != text:
                edit.setText(text)
        self.placeholder_box.setCurrentIndex(max(0, self.placeholder_box.findData(
            options.placeholders)))
        if self.system_edit.toPlainText() != options.system_prompt:
            self.system_edit.setPlainText(options.system_prompt)
        if self.user_edit.text() != options.user_name:
            self.user_edit.setText(options.user_name)
        if self.bot_edit.text() != options.bot_name:
            self.bot_edit.setText(options.bot_name)
        self.keep_thinking.setChecked(options.keep_thinking)
        for blocker in blockers:
            blocker.unblock()
        self.instruct_group.setVisible(story.mode == "instruct")
        self.chat_group.setVisible(story.mode == "chat")
        self.system_group.setVisible(story.mode in ("instruct", "chat"))
        self._update_note()

    def _update_note(self) -> None:
        template = modes.template_for(self._story.mode_options)
        self.placeholder_box.setEnabled(template.has_placeholders)
        if not template.has_placeholders:
            note = "This template's tags are sent as they are."
        elif self._story.mode_options.placeholders == "literal":
            note = "Sent as Alpaca-style literal tags (### Instruction: / ### Response:)."
        elif modes.server_fills_placeholders(self._server):
            note = "The server fills in its model's own tags."
        elif self._server is None:
            note = ("Not connected: literal Alpaca-style tags are sent until a KoboldCpp "
                    "1.88+ server says it can fill in its model's tags.")
        else:
            note = (f"{self._server.name} {self._server.version} cannot fill in the model's "
                    "tags (needs KoboldCpp 1.88+): literal Alpaca-style tags are sent.")
        self.placeholder_note.setText(note)

    # ------------------------------------------------------------------ widgets -> story
    def _apply(self, mode: Mode | None = None, **changes: Any) -> None:
        self._updating = True
        try:
            options = replace(self._story.mode_options, **changes) if changes else None
            self._story.set_fields(mode=mode, mode_options=options)
        finally:
            self._updating = False
        self.refresh()

    def _mode_picked(self, index: int) -> None:
        mode = self.mode_box.itemData(index)
        if mode and mode != self._story.mode:
            self._apply(mode=mode)

    def _template_picked(self, _index: int) -> None:
        name = self.template_box.currentText()
        if name == self._story.mode_options.instruct_template:
            return
        changes: dict[str, Any] = {"instruct_template": name}
        if name == modes.CUSTOM and not self._story.mode_options.custom_template:
            # start the custom template from the one shown
            changes["custom_template"] = modes.template_for(self._story.mode_options).tags()
        self._apply(**changes)

    def _tag_edited(self, _text: str) -> None:
        tags = {f: unescape(e.text()) for f, e in self.tag_edits.items()}
        self._apply(instruct_template=modes.CUSTOM, custom_template=tags)

    def _options_changed(self, *_args: object) -> None:
        if self._updating:
            return
        options = self._story.mode_options
        changes: dict[str, Any] = {
            "system_prompt": self.system_edit.toPlainText(),
            "user_name": self.user_edit.text(),
            "bot_name": self.bot_edit.text(),
            "placeholders": self.placeholder_box.currentData() or "auto",
            "keep_thinking": self.keep_thinking.isChecked(),
        }
        if any(getattr(options, k) != v for k, v in changes.items()):
            self._apply(**changes)


def _menu(window: MainWindow, title: str) -> QMenu:
    """The window's menu of this title (H5's `window.menu` when it exists)."""
    finder = getattr(window, "menu", None)
    if callable(finder):
        found = finder(title)
        if isinstance(found, QMenu):
            return found
    for action in window.menuBar().actions():
        menu = action.menu()
        if isinstance(menu, QMenu) and action.text() == title:
            return menu
    return window.menuBar().addMenu(title)


def install_modes(window: MainWindow) -> None:
    """The Mode panel as a side tab, the mode actions and Show Thinking; all follow the
    window's story and server. The panel is built when first shown or asked for
    (window.mode_panel), with the story and server of that moment."""

    def build() -> QWidget:
        panel = ModePanel(window.story)
        scroll = QScrollArea()
        scroll.setObjectName("modeScroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(panel)
        window._mode_panel = panel
        # a bound method of the panel: Qt drops the connection when the panel goes (the
        # controller may outlive the window)
        window.controller.server_changed.connect(panel.set_server_info)
        if window.controller.server is not None:
            panel.set_server(window.controller.server.version)
        return scroll

    window.mode_dock = window.add_side_panel("Mode", build, "modeDock")

    group = QActionGroup(window)
    mode_menu = _menu(window, "&Generate").addMenu("&Mode")
    actions: dict[str, QAction] = {}
    for number, (mode, label, tip) in enumerate(MODES, start=1):
        action = QAction(f"{label} Mode", window, checkable=True)
        action.setObjectName(f"mode_{mode}_action")
        action.setShortcut(QKeySequence(f"Ctrl+Alt+{number}"))
        action.setToolTip(tip)
        action.triggered.connect(lambda _c=False, m=mode: window.mode_panel.set_mode(m))
        group.addAction(action)
        mode_menu.addAction(action)
        actions[mode] = action
    window.mode_actions = actions  # type: ignore[attr-defined]

    thinking = QAction("Show Thinking", window, checkable=True)
    thinking.setObjectName("showThinkingAction")
    thinking.setShortcut(QKeySequence("Ctrl+Shift+T"))
    thinking.setToolTip("Show the model's thinking blocks in full (otherwise one line each)")
    thinking.toggled.connect(window.output.set_thinking_shown)
    _menu(window, "&View").addAction(thinking)
    window.show_thinking_action = thinking  # type: ignore[attr-defined]

    def sync_actions() -> None:
        action = actions.get(window.story.mode)
        for a in actions.values():
            a.setChecked(a is action)

    def story_event(event: StoryEvent) -> None:
        panel = window._mode_panel
        alive = shiboken6.isValid(panel) if panel is not None else shiboken6.isValid(window)
        if isinstance(event, FieldsChanged | Reset) and alive:
            sync_actions()

    unsubscribe: list[Callable[[], None]] = [window.story.subscribe(story_event)]

    def story_replaced(story: Story) -> None:
        unsubscribe.pop()()
        unsubscribe.append(story.subscribe(story_event))
        if window._mode_panel is not None:  # else it is built with the window's story
            window._mode_panel.set_story(story)
        sync_actions()

    window.story_replaced.connect(story_replaced)
    sync_actions()


__all__ = ["ModePanel", "install_modes"]
