"""The Context side panel: memory, author's note, world info and the context meter, and the
"Show request" action (Generate menu, Ctrl+Shift+I).

Every edit goes straight into the story (`story.set_fields`), so it is saved with it and marks
it unsaved; the panel follows the story's change events (a file opened, undo, the sampler
panel's memory field) without rewriting a field the user is typing in.

The meter is planned by the same call Generate uses (`Controller.preview` → core/request.py),
~600 ms after typing stops in the story, memory, note, world info or the prompt box, and after
each generation; the TokenCache makes a preview ask the server only for segments that changed
(plus the one count of the assembled request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.context import ContextPlan
from ..core.generation import new_genkey
from ..core.request import request_body
from ..core.story import (
    AuthorsNote,
    FieldsChanged,
    Reset,
    Story,
    StoryEvent,
    TextAppended,
    WorldInfoEntry,
    WorldInfoOptions,
)
from ..core.worldinfo import set_group_disabled
from .context_meter import ContextMeter, entry_name

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .request_dialog import RequestDialog

#: Lite's author's-note strengths: characters from the end of the context.
STRENGTHS: tuple[tuple[str, int | None], ...] = (
    ("Weak (480)", 480), ("Medium (320)", 320), ("Strong (160)", 160),
    ("Immediate (0)", 0), ("Custom", None))
PREVIEW_DELAY_MS = 600


def parse_keys(text: str) -> tuple[str, ...]:
    """"dragon, wyrm" → ("dragon", "wyrm"): Lite's comma-separated keys, blanks dropped."""
    return tuple(k.strip() for k in text.split(",") if k.strip())


def keys_text(keys: tuple[str, ...]) -> str:
    return ", ".join(keys)


def _set_text(widget: QLineEdit | QPlainTextEdit, text: str) -> None:
    """Only when it differs: rewriting a field moves the cursor of someone typing in it."""
    current = widget.text() if isinstance(widget, QLineEdit) else widget.toPlainText()
    if current != text:
        widget.blockSignals(True)
        if isinstance(widget, QLineEdit):
            widget.setText(text)
        else:
            widget.setPlainText(text)
        widget.blockSignals(False)


class EntryEditor(QGroupBox):
    """One world-info entry's fields; `changed(entry)` when the user edits one."""

    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Entry", parent)
        self._entry = WorldInfoEntry()
        self.keys = QLineEdit(self)
        self.keys.setPlaceholderText("dragon, wyrm")
        self.secondary = QLineEdit(self)
        self.anti = QLineEdit(self)
        self.content = QPlainTextEdit(self)
        self.content.setTabChangesFocus(True)
        self.content.setMinimumHeight(70)
        self.content.setMaximumHeight(140)
        self.comment = QLineEdit(self)
        self.group = QLineEdit(self)
        self.group.setPlaceholderText("General")
        self.selective = QCheckBox("Selective", self)
        self.selective.setToolTip("Needs a primary and a secondary key, and no anti-key")
        self.constant = QCheckBox("Constant", self)
        self.constant.setToolTip("Always sent, whatever the keys")
        self.enabled = QCheckBox("Enabled", self)
        self.probability = QSpinBox(self)
        self.probability.setRange(0, 100)
        self.probability.setSuffix(" %")
        form = QFormLayout(self)
        for label, widget, name, tip in (
                ("&Keys", self.keys, "World info keys",
                 "Comma-separated; found anywhere in the recent story text"),
                ("Secondary", self.secondary, "Secondary keys",
                 "Selective entries also need one of these"),
                ("Anti-keys", self.anti, "Anti-keys",
                 "Selective entries are left out when one of these is there"),
                ("Content", self.content, "World info content", "The text sent"),
                ("Comment", self.comment, "World info comment", "For you; never sent"),
                ("Group", self.group, "World info group", "Groups organise entries"),
                ("Probability", self.probability, "Probability",
                 "Chance the entry is sent when it matches (Lite's roll)")):
            widget.setAccessibleName(name)
            widget.setToolTip(tip)
            form.addRow(label, widget)
        boxes = QHBoxLayout()
        for box in (self.enabled, self.selective, self.constant):
            box.setAccessibleName(box.text())
            boxes.addWidget(box)
        form.addRow(boxes)
        for line in (self.keys, self.secondary, self.anti, self.comment, self.group):
            line.textEdited.connect(self._edited)
        self.content.textChanged.connect(self._edited)
        for box in (self.selective, self.constant, self.enabled):
            box.toggled.connect(self._edited)
        self.probability.valueChanged.connect(self._edited)

    def show_entry(self, entry: WorldInfoEntry) -> None:
        self._entry = entry
        if parse_keys(self.keys.text()) != entry.keys:
            _set_text(self.keys, keys_text(entry.keys))
        if parse_keys(self.secondary.text()) != entry.secondary_keys:
            _set_text(self.secondary, keys_text(entry.secondary_keys))
        if parse_keys(self.anti.text()) != entry.anti_keys:
            _set_text(self.anti, keys_text(entry.anti_keys))
        _set_text(self.content, entry.content)
        _set_text(self.comment, entry.comment)
        _set_text(self.group, entry.group)
        for box, value in ((self.selective, entry.selective), (self.constant, entry.constant),
                           (self.enabled, not entry.disabled)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
        self.probability.blockSignals(True)
        self.probability.setValue(max(0, min(100, entry.probability)))
        self.probability.blockSignals(False)

    def entry(self) -> WorldInfoEntry:
        return replace(self._entry, keys=parse_keys(self.keys.text()),
                       secondary_keys=parse_keys(self.secondary.text()),
                       anti_keys=parse_keys(self.anti.text()),
                       content=self.content.toPlainText(), comment=self.comment.text(),
                       group=self.group.text().strip(), selective=self.selective.isChecked(),
                       constant=self.constant.isChecked(), disabled=not self.enabled.isChecked(),
                       probability=self.probability.value())

    def _edited(self, *_: object) -> None:
        self._entry = self.entry()
        self.changed.emit(self._entry)


class ContextPanel(QScrollArea):
    """Memory, author's note, world info (list + entry editor + options) and the meter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextPanel")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.story = Story()
        self._unsubscribe: Callable[[], None] | None = None
        body = QWidget(self)
        layout = QVBoxLayout(body)
        self.meter = ContextMeter(body)
        layout.addWidget(self.meter)

        memory_box = QGroupBox("&Memory", body)
        self.memory = QPlainTextEdit(memory_box)
        self.memory.setTabChangesFocus(True)
        self.memory.setAccessibleName("Memory")
        self.memory.setPlaceholderText("Always sent at the start of the context, never cut")
        self.memory.setMaximumHeight(120)
        QVBoxLayout(memory_box).addWidget(self.memory)
        layout.addWidget(memory_box)

        note_box = QGroupBox("&Author's note", body)
        note_form = QFormLayout(note_box)
        self.note = QPlainTextEdit(note_box)
        self.note.setTabChangesFocus(True)
        self.note.setMaximumHeight(60)
        self.note.setAccessibleName("Author's note")
        self.template = QLineEdit(note_box)
        self.template.setAccessibleName("Author's note template")
        self.template.setToolTip("<|> stands for the note")
        self.strength = QComboBox(note_box)
        self.strength.setAccessibleName("Author's note strength")
        for label, depth in STRENGTHS:
            self.strength.addItem(label, depth)
        self.note_depth = QSpinBox(note_box)
        self.note_depth.setRange(0, 1_000_000)
        self.note_depth.setSuffix(" chars")
        self.note_depth.setToolTip("How far from the end of the context the note goes")
        self.note_depth.setAccessibleName("Author's note depth")
        note_form.addRow("Note", self.note)
        note_form.addRow("Template", self.template)
        note_form.addRow("Strength", self.strength)
        note_form.addRow("Depth", self.note_depth)
        layout.addWidget(note_box)

        wi_box = QGroupBox("&World info", body)
        wi_layout = QVBoxLayout(wi_box)
        self.entries = QListWidget(wi_box)
        self.entries.setAccessibleName("World info entries")
        self.entries.setMinimumHeight(70)
        self.entries.setMaximumHeight(130)
        wi_layout.addWidget(self.entries)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add", wi_box)
        self.duplicate_button = QPushButton("Duplicate", wi_box)
        self.remove_button = QPushButton("Remove", wi_box)
        self.group_button = QPushButton("Group off", wi_box)
        group_row = QHBoxLayout()
        group_row.addStretch(1)
        self.group_button.setToolTip("Switch every entry of this entry's group off (or on)")
        for button, name in ((self.add_button, "Add world info entry"),
                             (self.duplicate_button, "Duplicate world info entry"),
                             (self.remove_button, "Remove world info entry"),
                             (self.group_button, "Switch the entry's group off or on")):
            button.setAccessibleName(name)
            (group_row if button is self.group_button else buttons).addWidget(button)
        wi_layout.addLayout(buttons)
        self.editor = EntryEditor(wi_box)
        wi_layout.addWidget(self.editor)
        wi_layout.addLayout(group_row)
        options = QFormLayout()
        self.search_depth = QSpinBox(wi_box)
        self.search_depth.setRange(0, 1_000_000)
        self.search_depth.setSpecialValueText("whole story")
        self.search_depth.setSuffix(" chars")
        self.search_depth.setAccessibleName("World info search depth")
        self.search_depth.setToolTip("Keys are looked for in this many characters at the end")
        self.location = QComboBox(wi_box)
        self.location.addItem("After memory", "after_memory")
        self.location.addItem("Before the author's note", "before_note")
        self.location.setAccessibleName("World info insert location")
        self.case_sensitive = QCheckBox("Case sensitive keys", wi_box)
        self.case_sensitive.setAccessibleName("Case sensitive keys")
        options.addRow("Search depth", self.search_depth)
        options.addRow("Insert", self.location)
        options.addRow(self.case_sensitive)
        wi_layout.addLayout(options)
        layout.addWidget(wi_box)
        layout.addStretch(1)
        self.setWidget(body)

        self.memory.textChanged.connect(self._memory_edited)
        self.note.textChanged.connect(self._note_edited)
        self.template.textEdited.connect(self._note_edited)
        self.note_depth.valueChanged.connect(self._note_edited)
        self.strength.activated.connect(self._strength_chosen)
        self.entries.currentRowChanged.connect(self._show_current)
        self.editor.changed.connect(self._entry_edited)
        self.add_button.clicked.connect(self.add_entry)
        self.duplicate_button.clicked.connect(self.duplicate_entry)
        self.remove_button.clicked.connect(self.remove_entry)
        self.group_button.clicked.connect(self.toggle_group)
        self.search_depth.valueChanged.connect(self._options_edited)
        self.location.activated.connect(self._options_edited)
        self.case_sensitive.toggled.connect(self._options_edited)
        self._refresh()

    # ------------------------------------------------------------------ story binding
    def set_story(self, story: Story) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.story = story
        self._unsubscribe = story.subscribe(self._story_event)
        self._refresh()
        self.entries.setCurrentRow(0 if story.world_info else -1)

    def _story_event(self, event: StoryEvent) -> None:
        if isinstance(event, FieldsChanged | Reset):
            self._refresh()

    def _refresh(self) -> None:
        """Show the story's fields (only what differs from what is shown)."""
        story = self.story
        _set_text(self.memory, story.memory)
        note = story.authors_note
        _set_text(self.note, note.text)
        _set_text(self.template, note.template)
        self.note_depth.blockSignals(True)
        self.note_depth.setValue(note.depth)
        self.note_depth.blockSignals(False)
        self._show_strength(note.depth)
        options = story.wi_options
        for widget, setter in ((self.search_depth, lambda: self.search_depth.setValue(
                options.search_depth)), (self.location, lambda: self.location.setCurrentIndex(
                    self.location.findData(options.insert_location))),
                (self.case_sensitive, lambda: self.case_sensitive.setChecked(
                    options.case_sensitive))):
            widget.blockSignals(True)
            setter()
            widget.blockSignals(False)
        self._refresh_list()

    def _refresh_list(self) -> None:
        entries = self.story.world_info
        row = self.entries.currentRow()
        self.entries.blockSignals(True)
        while self.entries.count() > len(entries):
            self.entries.takeItem(self.entries.count() - 1)
        for index, entry in enumerate(entries):
            label = self._label(entry)
            if index < self.entries.count():
                item = self.entries.item(index)
                if item.text() != label:
                    item.setText(label)
            else:
                self.entries.addItem(label)
        if row >= len(entries):
            row = len(entries) - 1
        self.entries.setCurrentRow(row)
        self.entries.blockSignals(False)
        has = 0 <= row < len(entries)
        self.editor.setEnabled(has)
        for button in (self.duplicate_button, self.remove_button, self.group_button):
            button.setEnabled(has)
        if has:
            self.editor.show_entry(entries[row])
            group = entries[row].group
            off = all(e.disabled for e in entries if e.group == group)
            self.group_button.setText(f"Group {'on' if off else 'off'}")

    @staticmethod
    def _label(entry: WorldInfoEntry) -> str:
        name = entry_name(entry.comment, entry.keys)
        flags = [f for f, on in (("off", entry.disabled), ("constant", entry.constant)) if on]
        group = f"{entry.group} / " if entry.group else ""
        return group + name + (f"  [{', '.join(flags)}]" if flags else "")

    def _show_strength(self, depth: int) -> None:
        index = self.strength.findData(depth)
        self.strength.setCurrentIndex(index if index >= 0 else self.strength.count() - 1)

    # ------------------------------------------------------------------ edits
    def _memory_edited(self) -> None:
        text = self.memory.toPlainText()
        if text != self.story.memory:
            self.story.set_fields(memory=text)

    def _note_edited(self, *_: object) -> None:
        note = AuthorsNote(self.note.toPlainText(), self.template.text(), self.note_depth.value())
        self._show_strength(note.depth)
        if note != self.story.authors_note:
            self.story.set_fields(authors_note=note)

    def _strength_chosen(self, index: int) -> None:
        depth = self.strength.itemData(index)
        if depth is not None:
            self.note_depth.setValue(int(depth))  # → _note_edited

    def _options_edited(self, *_: object) -> None:
        options = WorldInfoOptions(self.search_depth.value(), self.location.currentData(),
                                   self.case_sensitive.isChecked())
        if options != self.story.wi_options:
            self.story.set_fields(wi_options=options)

    def _set_entries(self, entries: list[WorldInfoEntry] | tuple[WorldInfoEntry, ...],
                     row: int | None = None) -> None:
        if row is not None:
            self.entries.blockSignals(True)
            if row >= self.entries.count():
                self.entries.addItem("")
            self.entries.setCurrentRow(row)
            self.entries.blockSignals(False)
        self.story.set_fields(world_info=entries)
        self._refresh_list()

    def _show_current(self, _row: int) -> None:
        self._refresh_list()

    def _entry_edited(self, entry: WorldInfoEntry) -> None:
        row = self.entries.currentRow()
        entries = list(self.story.world_info)
        if 0 <= row < len(entries) and entries[row] != entry:
            entries[row] = entry
            self._set_entries(entries)

    def add_entry(self) -> None:
        entries = list(self.story.world_info)
        row = self.entries.currentRow()
        group = entries[row].group if 0 <= row < len(entries) else ""
        entries.append(WorldInfoEntry(group=group))
        self._set_entries(entries, len(entries) - 1)
        self.editor.keys.setFocus()

    def duplicate_entry(self) -> None:
        entries = list(self.story.world_info)
        row = self.entries.currentRow()
        if 0 <= row < len(entries):
            entries.insert(row + 1, replace(entries[row], extra={}))
            self._set_entries(entries, row + 1)

    def remove_entry(self) -> None:
        entries = list(self.story.world_info)
        row = self.entries.currentRow()
        if 0 <= row < len(entries):
            del entries[row]
            self._set_entries(entries, min(row, len(entries) - 1))

    def toggle_group(self) -> None:
        """Lite's "toggle entire group": all of the current entry's group off, or on."""
        entries = self.story.world_info
        row = self.entries.currentRow()
        if 0 <= row < len(entries):
            group = entries[row].group
            off = all(e.disabled for e in entries if e.group == group)
            self._set_entries(set_group_disabled(entries, group, not off))


class ContextWiring(QObject):
    """The panel, the meter's previews and "Show request", wired into the window."""

    #: a preview finished: its ContextPlan, or None (the meter shows why)
    preview_done = Signal(object)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._panel: ContextPanel | None = None
        #: the story the panel shows (it is built, with it, when first shown or asked for)
        self._story = window.story
        self.dock = window.add_side_panel("Context", self._build, "contextDock")
        self.dialog: RequestDialog | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.preview_now)
        self._running = False
        self._again = False
        self._unsubscribe: Callable[[], None] | None = None
        c = window.controller
        c.context_planned.connect(self._planned)
        c.generation_finished.connect(self.schedule)
        c.generation_failed.connect(self.schedule)
        c.server_changed.connect(self.schedule)
        c.not_sent.connect(self.schedule)
        window.editor.textChanged.connect(self.schedule)
        window.settings_panel.changed.connect(self.schedule)
        window.story_replaced.connect(self.bind)
        self.bind(window.story)

        self.show_request_action = QAction("Show &Request…", window)
        self.show_request_action.setShortcut(QKeySequence("Ctrl+Shift+I"))
        self.show_request_action.setToolTip("The exact request the next Generate sends")
        self.show_request_action.triggered.connect(self.show_request)
        window.addAction(self.show_request_action)
        menu = find_menu(window, "&Generate")
        if menu is not None:
            menu.addSeparator()
            menu.addAction(self.show_request_action)
        toggle = self.dock.toggleViewAction()
        toggle.setText("Context Panel")
        view = find_menu(window, "&View")
        if view is not None:
            view.addAction(toggle)

    def _build(self) -> ContextPanel:
        self._panel = ContextPanel()
        self._panel.set_story(self._story)
        return self._panel

    @property
    def panel(self) -> ContextPanel:
        """The Context panel (built now if it was not yet: window.build_panel)."""
        if self._panel is None:
            self.window.build_panel(self.dock)
        assert self._panel is not None
        return self._panel

    def bind(self, story: Story) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._story = story
        if self._panel is not None:
            self._panel.set_story(story)
        self._unsubscribe = story.subscribe(self._story_event)
        self.schedule()

    def _story_event(self, event: StoryEvent) -> None:
        if isinstance(event, TextAppended) and self.window.controller.busy:
            return  # a streaming reply: the meter shows what was sent until it ends
        self.schedule()

    def _planned(self, plan: ContextPlan) -> None:
        self.panel.meter.show_plan(plan)

    def schedule(self, *_: object) -> None:
        """Plan the meter again once typing stops (each new change restarts the wait)."""
        self._timer.start()

    def preview_now(self) -> None:
        if self.window.controller.busy:
            return  # the meter shows the running request; planned again when it ends
        if self._running:
            self._again = True
            return
        self._running = True
        self._request(self._previewed)

    def _request(self, done: Callable[[tuple[ContextPlan, dict[str, Any]] | None, str],
                                      None]) -> None:
        try:
            values = self.window.settings_values()
        except Exception as exc:  # noqa: BLE001 (a panel value that cannot be read)
            done(None, str(exc))
            return
        self.window.controller.request_preview(self.window.editor.prompt(), values, done)

    def _previewed(self, result: tuple[ContextPlan, dict[str, Any]] | None, why: str) -> None:
        self._running = False
        if result is not None:
            self.panel.meter.show_plan(result[0])
        else:
            self.panel.meter.show_problem(f"Not sendable: {why}")
        self.preview_done.emit(result[0] if result is not None else None)
        if self._again:
            self._again = False
            self.schedule()

    def show_request(self) -> None:
        """Open (or refresh) the dialog with the body the next Generate would send."""
        if self.dialog is None:
            from .request_dialog import RequestDialog  # first needed here, not at start

            self.dialog = RequestDialog(self.window)
        self.dialog.show_problem("counting…")
        self.dialog.note.setText("Counting the tokens…")
        self.dialog.show()
        self._request(self._request_shown)

    def _request_shown(self, result: tuple[ContextPlan, dict[str, Any]] | None,
                       why: str) -> None:
        if self.dialog is None:
            return
        if result is None:
            self.dialog.show_problem(why)
            return
        plan, body_settings = result
        self.panel.meter.show_plan(plan)
        estimated = " Token counts are estimated: the server could not count." \
            if plan.estimated else ""
        self.dialog.show_body(
            request_body(plan, body_settings, new_genkey()),
            f"The body of the next Generate with the prompt box as it is now ("
            f"{plan.used_tokens:,} of {plan.available_tokens:,} tokens). Every request gets "
            f"a fresh genkey; the password goes in a header, never here.{estimated}")


def find_menu(window: MainWindow, title: str) -> QMenu | None:
    """The window's menu titled `title` ("&Generate"), by H5's helper when there is one."""
    helper = getattr(window, "menu", None)
    if callable(helper):
        try:
            found = helper(title)
        except (KeyError, LookupError):
            found = None
        if isinstance(found, QMenu):
            return found
    plain = title.replace("&", "")
    for action in window.menuBar().actions():
        menu = action.menu()
        if isinstance(menu, QMenu) and action.text().replace("&", "") == plain:
            return menu
    return None


def install_context(window: MainWindow) -> ContextWiring:
    """The Context panel, its meter and Show Request, for `window`."""
    return ContextWiring(window)


__all__ = ["ContextPanel", "ContextWiring", "EntryEditor", "install_context", "parse_keys"]
