"""The preset picker at the top of the sampler panel: Lite's presets, the user's own, imports.

Choosing a preset sets exactly the fields it holds (`core.presets`); a mark says when the
panel's values no longer match it, and which fields differ. Save as, rename, delete and import
work on the user's presets, which are kept in the data directory; the preset last chosen is
shown again at the next start (the values themselves come back with the app settings).
Dialogs open without blocking the event loop (`open()`, never `exec()`); the work they
start is in plain methods (`save_as`, `rename_to`, `delete_current`, `import_path`) that the
tests drive directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core import presets as P
from ..core import settings
from ..core.serverinfo import ServerInfo
from ..core.settings import ServerFeatures
from .plain import plain_label, set_plain_tooltip
from .settings_panel import SettingsPanel

if TYPE_CHECKING:
    from .main_window import MainWindow

BUILTIN_ROLE = Qt.ItemDataRole.UserRole + 1


class PresetBar(QWidget):
    """Picker, "modified" mark and the preset actions, above the sampler fields."""

    #: a message for the status bar: (text, is_error)
    message = Signal(str, bool)

    def __init__(self, panel: SettingsPanel, store: P.PresetStore,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("presetBar")
        self.panel = panel
        self.store = store
        #: the preset the panel's values came from (None: none chosen)
        self.current: P.Preset | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        top = QHBoxLayout()
        top.setSpacing(6)
        label = plain_label("Preset", self)
        self.picker = QComboBox(self)
        self.picker.setObjectName("presetPicker")
        self.picker.setAccessibleName("Sampler preset")
        self.picker.setPlaceholderText("Choose a preset…")
        self.picker.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setMinimumContentsLength(12)
        label.setBuddy(self.picker)
        self.modified_label = plain_label("", self)
        self.modified_label.setObjectName("presetModified")
        top.addWidget(label)
        top.addWidget(self.picker, 1)
        top.addWidget(self.modified_label)
        layout.addLayout(top)

        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        self.save_action = self._action("Save as…", "Save the current values as a new preset",
                                        self.ask_save_as)
        self.rename_action = self._action("Rename…", "Rename this preset of yours",
                                          self.ask_rename)
        self.delete_action = self._action("Delete", "Delete this preset of yours",
                                          self.ask_delete)
        self.import_action = self._action(
            "Import…", "Import a KoboldAI Lite or SillyTavern preset file (.json)",
            self.ask_import)
        self.reset_action = self._action("Reset all", "Put every sampler back to its default",
                                         self.reset_all)
        for action in (self.save_action, self.rename_action, self.delete_action,
                       self.import_action, self.reset_action):
            b = QToolButton(self)
            b.setDefaultAction(action)
            b.setAutoRaise(True)
            b.setAccessibleName(action.text().rstrip("…"))
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.status = plain_label("", self)
        self.status.setObjectName("presetStatus")
        self.status.setWordWrap(True)
        self.status.hide()
        layout.addWidget(self.status)

        self._fill()
        if store.selected:
            self._show_current(store.find(store.selected))
        self.picker.activated.connect(self._picked)
        panel.changed.connect(self.update_mark)
        self.update_mark()

    def _action(self, text: str, tip: str, slot: Any) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    # ------------------------------------------------------------------ the list
    def _fill(self) -> None:
        with QSignalBlocker(self.picker):
            self.picker.clear()
            for p in P.builtin_presets():
                self.picker.addItem(p.name, p.name)
                i = self.picker.count() - 1
                self.picker.setItemData(i, True, BUILTIN_ROLE)
                if p.description:
                    self.picker.setItemData(i, p.description, Qt.ItemDataRole.ToolTipRole)
            if self.store.user:
                self.picker.insertSeparator(self.picker.count())
            for p in self.store.user:
                self.picker.addItem(p.name, p.name)
                self.picker.setItemData(self.picker.count() - 1, False, BUILTIN_ROLE)
            self._select_in_picker()

    def _select_in_picker(self) -> None:
        with QSignalBlocker(self.picker):
            index = self.picker.findData(self.current.name) if self.current else -1
            self.picker.setCurrentIndex(index)

    def _show_current(self, preset: P.Preset | None) -> None:
        self.current = preset
        self._select_in_picker()
        user = preset is not None and not preset.builtin
        self.rename_action.setEnabled(user)
        self.delete_action.setEnabled(user)
        self.update_mark()

    def update_mark(self) -> None:
        """"modified" when the panel's values are no longer the chosen preset's."""
        if self.current is None:
            self.modified_label.setText("")
            set_plain_tooltip(self.modified_label, "")
            return
        differ = self.current.differs_from(self.panel.values())
        self.modified_label.setText("• modified" if differ else "")
        labels = ", ".join(settings.BY_NAME[n].label for n in differ)
        set_plain_tooltip(self.modified_label,
                          f"Changed since “{self.current.name}”: {labels}" if differ else "")
        self.modified_label.setAccessibleName("Preset modified" if differ else "")

    @property
    def modified(self) -> bool:
        return bool(self.modified_label.text())

    # ------------------------------------------------------------------ choosing
    def _picked(self, index: int) -> None:
        name = self.picker.itemData(index)
        if isinstance(name, str):
            self.apply(name)

    def apply(self, name: str) -> bool:
        """Set exactly the preset's fields in the panel; False if there is no such preset."""
        preset = self.store.find(name)
        if preset is None:
            self._say(f"There is no preset called “{name}”", error=True)
            return False
        self.current = preset  # before the values change, so the mark compares with it
        self.panel.set_values(preset.values)
        self._remember(preset.name)
        self._show_current(preset)
        self._say(f"Preset “{preset.name}” applied")
        return True

    def _remember(self, name: str | None) -> None:
        try:
            self.store.select(name)
        except OSError as err:
            self._say(f"The chosen preset could not be remembered: {err.strerror or err}",
                      error=True)

    # ------------------------------------------------------------------ changes
    def _values(self) -> dict[str, Any]:
        return self.panel.values()

    def save_as(self, name: str) -> bool:
        """Save the panel's values (the sampler fields, never memory) as the user's preset."""
        problems = self.panel.problems()
        if problems:
            self._say("Not saved: " + "; ".join(problems.values()), error=True)
            return False
        try:
            preset = self.store.save(name, self._values())
        except P.PresetError as err:
            self._say(str(err), error=True)
            return False
        except OSError as err:
            self._say(f"Not saved: {err.strerror or err}", error=True)
            return False
        self._fill()
        self._show_current(preset)
        self._say(f"Saved preset “{preset.name}”")
        return True

    def rename_to(self, new: str) -> bool:
        if self.current is None or self.current.builtin:
            self._say("Only your own presets can be renamed", error=True)
            return False
        try:
            preset = self.store.rename(self.current.name, new)
        except (P.PresetError, OSError) as err:
            self._say(str(err), error=True)
            return False
        self.current = preset
        self._fill()
        self._show_current(preset)
        self._say(f"Renamed to “{preset.name}”")
        return True

    def delete_current(self) -> bool:
        if self.current is None or self.current.builtin:
            self._say("Only your own presets can be deleted", error=True)
            return False
        name = self.current.name
        try:
            self.store.delete(name)
        except (P.PresetError, OSError) as err:
            self._say(str(err), error=True)
            return False
        self.current = None
        self._fill()
        self._show_current(None)
        self._say(f"Deleted preset “{name}” (the values stay as they are)")
        return True

    def import_path(self, path: str | Path) -> bool:
        """Import a Lite / SillyTavern preset file as a preset of the user's, and apply it."""
        try:
            got = P.import_file(path)
            name = P.unique_name(got.name, (p.name for p in self.store.all()))
            preset = self.store.save(name, got.values)
        except (P.PresetError, OSError) as err:
            self._say(f"Not imported: {err}", error=True)
            return False
        self._fill()
        self.current = preset
        self.panel.set_values(preset.values)
        self._show_current(preset)
        note = f"; left out: {'; '.join(got.skipped)}" if got.skipped else ""
        self._say(f"Imported “{preset.name}” from a {got.source} ({len(got.values)} "
                  f"values){note}")
        return True

    def reset_all(self) -> None:
        window = self.window()
        reset = getattr(window, "reset_samplers", None)
        if callable(reset):
            reset()  # the window's: the story's memory stays
        else:
            self.panel.reset_defaults()
        self._say("Every sampler is back to its default")

    # ------------------------------------------------------------------ dialogs
    def _ask_text(self, title: str, label: str, text: str, done: Any) -> QInputDialog:
        dialog = QInputDialog(self)
        dialog.setObjectName("presetNameDialog")
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        dialog.setTextValue(text)
        dialog.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(done)
        dialog.open()
        return dialog

    def ask_save_as(self) -> QInputDialog:
        base = self.current.name if self.current is not None else "My preset"
        suggestion = base if self.current is not None and not self.current.builtin else \
            P.unique_name(f"{base} (mine)", (p.name for p in self.store.all()))
        return self._ask_text("Save Preset", "Name of the new preset:", suggestion, self.save_as)

    def ask_rename(self) -> QInputDialog | None:
        if self.current is None or self.current.builtin:
            return None
        return self._ask_text("Rename Preset", "New name:", self.current.name, self.rename_to)

    def ask_delete(self) -> QMessageBox | None:
        if self.current is None or self.current.builtin:
            return None
        box = QMessageBox(QMessageBox.Icon.Question, "Delete Preset",
                          f"Delete your preset “{self.current.name}”?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                          self)
        box.setObjectName("presetDeleteBox")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(self.delete_current)
        box.open()
        return box

    def ask_import(self) -> QFileDialog:
        dialog = QFileDialog(self, "Import Sampler Preset", "",
                             "Preset files (*.json);;All files (*)")
        dialog.setObjectName("presetImportDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.import_path)
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ words
    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text if error else "")
        self.status.setVisible(error)
        self.message.emit(text, error)


class _ServerFollower(QObject):
    """Tells the panel which fields the connected server reads."""

    def __init__(self, panel: SettingsPanel, parent: QObject) -> None:
        super().__init__(parent)
        self.panel = panel

    def server_changed(self, info: ServerInfo | None) -> None:
        self.panel.set_server(ServerFeatures.from_version_info(info.version)
                              if info is not None else None)


def install_presets(window: MainWindow, store: P.PresetStore | None = None) -> PresetBar:
    """Put the preset picker above the sampler fields, follow the server's version, and add
    the preset actions to the View menu."""
    panel = window.settings_panel
    if store is None:
        store = P.PresetStore()
    bar = PresetBar(panel, store, panel)
    layout = panel.layout()
    assert isinstance(layout, QVBoxLayout)
    layout.insertWidget(0, bar)
    status = getattr(window, "status", None)

    def say(text: str, error: bool) -> None:
        if status is not None:
            (status.show_error if error else status.show_info)(text)

    bar.message.connect(say)
    follower = _ServerFollower(panel, bar)
    window.controller.server_changed.connect(follower.server_changed)
    follower.server_changed(window.controller.server)
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if isinstance(menu, QMenu) and menu_action.text().replace("&", "") == "View":
            menu.addSeparator()
            menu.addAction(bar.save_action)
            menu.addAction(bar.import_action)
            break
    return bar
