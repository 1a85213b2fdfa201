"""SettingsPanel: the sampler form, generated from the sampler table (`core.settings.FIELDS`).

Why generated: the table is the single source of truth, so adding a sampler row adds its widget
here with no UI code. The common fields sit at the top under "Common"; the rest live in
collapsible groups by `Field.group`. Each field gets the editor its kind calls for, the label and
help from the table, and live validation through `settings.validate`, so a problem is shown on the
field while it is typed. An invalid value is never silently "fixed": `values()` returns it as
typed, and `settings.validate` rejects it with the same message, so the window can refuse to send.

A collapsible group's editors are built when it is first opened (or one of its widgets is asked
for): they start folded, and Qt's style sheet costs memory for every widget it polishes, shown
or not. Until then the panel keeps what was set for those fields (`_pending`) and answers from it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QEvent, QPoint, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core import settings
from ..core.errors import InvalidSettings
from ..core.escapes import escape, unescape
from ..core.settings import Field, ServerFeatures
from .accessibility import chain_after, focus_block
from .number_box import NumberBox, format_number
from .plain import plain_label, set_plain_tooltip

UNSET_PLACEHOLDER = "server default"
#: str fields that hold long text get a multi-line editor
MULTILINE_STR = frozenset({"memory", "grammar"})
_NO_RAW = object()


# List entries are shown one per line with the escapes both faces share (core.escapes).
escape_entry = escape
unescape_entry = unescape


def _fresh(value: Any) -> Any:
    """A list or dict copied (the caller's own is never kept nor handed out)."""
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) \
        else value


def field_problem(name: str, value: Any) -> str | None:
    """What `settings.validate` says about this one value, or None."""
    try:
        settings.validate({name: value})
    except InvalidSettings as err:
        return "; ".join(err.problems)
    return None


# ---------------------------------------------------------------------- editors, one per kind
W = TypeVar("W", bound=QWidget)


class FieldEditor(Generic[W]):
    """The widget for one field, reading and writing Python values of the field's kind.

    A value the widget cannot show (wrong type — e.g. from a preset file) is kept as given and
    reported as a problem, until the user edits the field.
    """

    def __init__(self, field: Field) -> None:
        self.field = field
        self._raw: Any = _NO_RAW
        #: the range a number may take here (the server may lower the context size's)
        self.limits = _field_range(field)
        #: why `limits` is narrower than the field's own range ("" when it is not)
        self.limit_reason = ""
        self.widget: W = self._make()
        self.widget.setObjectName(f"field_{field.name}")
        #: help text; the tooltip adds the current problem, if any
        self.tooltip = field.help
        set_plain_tooltip(self.widget, field.help)
        self.widget.setProperty("fieldName", field.name)
        if isinstance(self.widget, EntryList):  # a container: its list and line get the name
            self.widget.set_accessible_name(field.label)

    # subclasses
    def _make(self) -> W:
        raise NotImplementedError

    def _read(self) -> Any:
        raise NotImplementedError

    def _write(self, value: Any) -> bool:
        """Show `value`; False if the widget cannot represent it."""
        raise NotImplementedError

    def on_change(self, callback: Callable[[], None]) -> None:
        raise NotImplementedError

    # common
    def get(self) -> Any:
        return self._raw if self._raw is not _NO_RAW else self._read()

    def set(self, value: Any) -> None:
        self._raw = _NO_RAW
        with QSignalBlocker(self.widget):
            ok = self._write(value)
        if not ok:
            self._raw = value

    def user_edited(self) -> None:
        self._raw = _NO_RAW

    def problem(self) -> str | None:
        return field_problem(self.field.name, self.get())


def _field_range(field: Field) -> tuple[float, float]:
    return (field.minimum if field.minimum is not None else -2**31 + 1,
            field.maximum if field.maximum is not None else 2**31 - 1)


class NumberEditor(FieldEditor[NumberBox]):
    """An int or float field: the text as typed, judged, never clamped or rounded."""

    whole = False

    def _make(self) -> NumberBox:
        step = 1.0 if self.whole else (self.field.step or 0.01)
        decimals = 0 if self.whole else max(2, math.ceil(-math.log10(step) - 1e-9))
        box = NumberBox(whole=self.whole, step=step, decimals=decimals)
        box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        box.setRange(*self.limits)
        box.setValue(self.field.default)
        return box

    def set_limits(self, low: float, high: float, reason: str = "") -> None:
        self.limits, self.limit_reason = (low, high), reason
        self.widget.setRange(low, high)

    def _read(self) -> Any:
        value = self.widget.value()
        return self.widget.text() if value is None else value  # validate names the text

    def _write(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value) or (self.whole and value != int(value)):
            return False
        self.widget.setValue(value)
        return True

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.edited.connect(callback)

    def problem(self) -> str | None:
        value = self.get()
        label = self.field.label
        if isinstance(value, str) and not value.strip():
            return f"{label}: type a number"
        problem = super().problem()
        if problem is None and isinstance(value, int | float) and not isinstance(value, bool):
            low, high = self.limits
            if not low <= value <= high:
                why = f": {self.limit_reason}" if self.limit_reason else ""
                return (f"{label} must be between {format_number(low, 0, True)} and "
                        f"{format_number(high, 0, True)}{why} (got {self.widget.text()})")
        return problem


class IntEditor(NumberEditor):
    whole = True


class FloatEditor(NumberEditor):
    whole = False


class BoolEditor(FieldEditor[QCheckBox]):
    def _make(self) -> QCheckBox:
        w = QCheckBox()
        w.setChecked(bool(self.field.default))
        return w

    def _read(self) -> bool:
        return self.widget.isChecked()

    def _write(self, value: Any) -> bool:
        if not isinstance(value, bool):
            return False
        self.widget.setChecked(value)
        return True

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.toggled.connect(lambda _v: callback())


TextWidget = QLineEdit | QPlainTextEdit


class _TextEditor(FieldEditor[TextWidget]):
    """Shared plumbing of the editors that hold text (line or multi-line)."""

    multiline = False

    def _make(self) -> TextWidget:
        w: TextWidget
        if self.multiline:
            w = QPlainTextEdit()
            w.setTabChangesFocus(True)
            lines = 4 if self.field.name in MULTILINE_STR else 3
            fm = QFontMetrics(w.font())
            w.setFixedHeight(fm.lineSpacing() * lines + 16)
            w.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        else:
            w = QLineEdit()
            w.setClearButtonEnabled(False)
        if self.field.default is None:
            w.setPlaceholderText(UNSET_PLACEHOLDER)
        elif self.field.kind == "str_list":
            w.setPlaceholderText("one per line; \\n stands for a new line")
        self._text_widget = w
        self._set_text(self.to_text(self.field.default))
        return w

    def _text(self) -> str:
        w = self._text_widget
        return w.toPlainText() if isinstance(w, QPlainTextEdit) else w.text()

    def _set_text(self, text: str) -> None:
        w = self._text_widget
        if isinstance(w, QPlainTextEdit):
            w.setPlainText(text)
        else:
            w.setText(text)
            w.setCursorPosition(0)

    def on_change(self, callback: Callable[[], None]) -> None:
        w = self._text_widget
        if isinstance(w, QPlainTextEdit):
            w.textChanged.connect(callback)
        else:
            w.textChanged.connect(lambda _t: callback())

    def to_text(self, value: Any) -> str:
        raise NotImplementedError

    def from_text(self, text: str) -> Any:
        raise NotImplementedError

    def _read(self) -> Any:
        return self.from_text(self._text())

    def _write(self, value: Any) -> bool:
        try:
            text = self.to_text(value)
        except (TypeError, ValueError):
            return False
        self._set_text(text)
        return True


class StrEditor(_TextEditor):
    def __init__(self, field: Field) -> None:
        self.multiline = field.name in MULTILINE_STR
        super().__init__(field)

    def to_text(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise TypeError
        return value

    def from_text(self, text: str) -> str | None:
        return None if text == "" and self.field.default is None else text


class IntListEditor(_TextEditor):
    def to_text(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, list | tuple) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in value
        ):
            raise TypeError
        return ",".join(str(i) for i in value)

    def from_text(self, text: str) -> Any:
        stripped = text.strip().strip("[]")
        if not stripped:
            return None if self.field.default is None else []
        parts = [p for p in stripped.replace(",", " ").split()]
        try:
            return [int(p) for p in parts]
        except ValueError:
            return text  # validate: "... must be a list of whole numbers"

    def problem(self) -> str | None:
        value = self.get()
        if isinstance(value, str):
            return f"{self.field.label}: write whole numbers separated by commas, e.g. 6,0,1,3"
        return super().problem()


class JsonEditor(_TextEditor):
    def to_text(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, dict):
            raise TypeError
        return json.dumps(value, ensure_ascii=False)

    def from_text(self, text: str) -> Any:
        if not text.strip():
            return None if self.field.default is None else {}
        try:
            return json.loads(text)
        except ValueError:
            return text  # validate: "... must be a JSON object"

    def problem(self) -> str | None:
        text = self._text() if self._raw is _NO_RAW else None
        if text and text.strip():
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                return f"{self.field.label}: not valid JSON ({exc.msg} at column {exc.colno})"
        return super().problem()


class OptionalIntEditor(_TextEditor):
    """An int whose default is "unset": empty means the server decides."""

    def to_text(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return str(value)

    def from_text(self, text: str) -> Any:
        if not text.strip():
            return None
        try:
            return int(text.strip())
        except ValueError:
            return text  # validate: "... must be a number"


# ---------------------------------------------------------------------- list widgets
class _ListBox(QListWidget):
    """A list that grows with its rows up to a few, then scrolls (it sits in a scrolled form)."""

    def __init__(self, rows: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows = rows
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * rows + 14)


def _small_button(text: str, tip: str, parent: QWidget) -> QToolButton:
    b = QToolButton(parent)
    b.setText(text)
    b.setAutoRaise(True)
    b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the list's own keys do the same
    b.setAccessibleName(tip)
    set_plain_tooltip(b, tip)
    return b


class EntryList(QWidget):
    """Rows of strings, each shown with its escapes (\\n, \\t): add, edit, remove, move.

    The line under the list edits the selected row; typing there with no row selected adds
    one, and Enter finishes it (the next typing starts a new row). Keys on the list: Insert
    adds a row, Delete removes it, F2 or a double click edits it in place, Alt+Up / Alt+Down
    move it; drag and drop moves rows too."""

    #: any row added, edited, removed or moved
    edited = Signal()

    def __init__(self, placeholder: str, parent: QWidget | None = None,
                 editable: bool = True) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.list = _ListBox(4, self)
        self.list.setObjectName("entryList")
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.itemChanged.connect(self._item_changed)
        self.list.model().rowsMoved.connect(lambda *_a: self._changed())
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.installEventFilter(self)
        layout.addWidget(self.list)
        self.line = QLineEdit(self)
        self.line.setObjectName("entryLine")
        self.line.setPlaceholderText(placeholder)
        self.line.textEdited.connect(self._line_typed)
        self.line.returnPressed.connect(self._line_done)
        layout.addWidget(self.line)
        self.line.setVisible(editable)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(2)
        self.add_button = _small_button("+ Add", "Add a row (Insert)", self)
        self.remove_button = _small_button("− Remove", "Remove the row (Delete)", self)
        self.up_button = _small_button("↑", "Move the row up (Alt+Up)", self)
        self.down_button = _small_button("↓", "Move the row down (Alt+Down)", self)
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            bar.addWidget(b)
        bar.addStretch(1)
        self.hint = plain_label("", self)
        self.hint.setObjectName("fieldHint")
        bar.addWidget(self.hint)
        layout.addLayout(bar)
        self.add_button.clicked.connect(lambda: self.add_row(""))
        self.remove_button.clicked.connect(self.remove_row)
        self.up_button.clicked.connect(lambda: self.move_row(-1))
        self.down_button.clicked.connect(lambda: self.move_row(1))
        self.setFocusProxy(self.list)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 (Qt naming)
        if obj is self.list and event.type() == QEvent.Type.KeyPress \
                and self.list.state() != QAbstractItemView.State.EditingState:
            key, mods = event.key(), event.modifiers()
            if mods & Qt.KeyboardModifier.AltModifier and key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
                self.move_row(-1 if key == Qt.Key.Key_Up else 1)
                return True
            if self.line.isVisible() and key == Qt.Key.Key_Insert:
                self.add_row("")
                return True
            if self.line.isVisible() and key == Qt.Key.Key_Delete:
                self.remove_row()
                return True
        return False

    def _item(self, text: str) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsDragEnabled)
        return item

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def set_texts(self, texts: list[str]) -> None:
        with QSignalBlocker(self.list):
            self.list.clear()
            for t in texts:
                self.list.addItem(self._item(t))
        with QSignalBlocker(self.line):
            self.line.clear()

    def add_row(self, text: str = "") -> QListWidgetItem:
        """A new row, selected, with the keyboard in the line that edits it."""
        item = self._item(text)
        with QSignalBlocker(self.list):
            self.list.addItem(item)
        self.list.setCurrentItem(item)
        self.line.setFocus()
        self._changed()
        return item

    def remove_row(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)
            self._changed()

    def move_row(self, delta: int) -> None:
        row = self.list.currentRow()
        target = row + delta
        if row < 0 or not 0 <= target < self.list.count():
            return
        with QSignalBlocker(self.list):
            item = self.list.takeItem(row)
            self.list.insertItem(target, item)
        self.list.setCurrentRow(target)
        self._changed()

    def _current_changed(self, current: QListWidgetItem | None, _old: object) -> None:
        with QSignalBlocker(self.line):
            self.line.setText(current.text() if current is not None else "")

    def _line_typed(self, text: str) -> None:
        item = self.list.currentItem()
        if item is None:
            item = self._item(text)
            with QSignalBlocker(self.list):
                self.list.addItem(item)
                self.list.setCurrentItem(item)
        else:
            with QSignalBlocker(self.list):
                item.setText(text)
        self._changed()

    def _line_done(self) -> None:
        """Enter: this row is finished; typing again starts the next one."""
        with QSignalBlocker(self.list):
            self.list.setCurrentRow(-1)
        with QSignalBlocker(self.line):
            self.line.clear()

    def _item_changed(self, item: QListWidgetItem) -> None:
        if item is self.list.currentItem():
            with QSignalBlocker(self.line):
                self.line.setText(item.text())
        self._changed()

    def _changed(self) -> None:
        if not self.signalsBlocked():
            self.edited.emit()

    def set_accessible_name(self, name: str) -> None:
        """A screen reader hears the field's label on the list and on its new-row line."""
        self.setAccessibleName(name)
        self.list.setAccessibleName(name)
        self.line.setAccessibleName(f"New row of {name}")


class StrListEditor(FieldEditor[EntryList]):
    """A list of strings (stop sequences, DRY breakers, banned strings), one row each; the row
    shows `\\n`, `\\t`, `\\r` and `\\\\` for the characters, and reads them back."""

    def _make(self) -> EntryList:
        w = EntryList("type a new row; \\n = new line, \\t = tab")
        if self.field.default is None:
            w.hint.setText(f"empty: {UNSET_PLACEHOLDER}")
        w.set_texts([escape_entry(s) for s in (self.field.default or [])])
        return w

    def _read(self) -> list[str] | None:
        entries = [unescape_entry(t) for t in self.widget.texts() if t != ""]
        if not entries and self.field.default is None:
            return None
        return entries

    def _write(self, value: Any) -> bool:
        if value is None:
            value = []
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            return False
        self.widget.set_texts([escape_entry(s) for s in value])
        return True

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.edited.connect(callback)


class SamplerOrderList(EntryList):
    """KoboldCpp's seven samplers in the order they run; unticked ones do not run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent, editable=False)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.add_button.hide()
        self.remove_button.hide()
        self.hint.setText("Space: on/off · Alt+↑/↓: move")
        self.list.setFixedHeight(self.fontMetrics().lineSpacing() * 7 + 24)

    def set_order(self, order: list[int]) -> None:
        rest = [i for i in sorted(settings.SAMPLER_NAMES) if i not in order]
        with QSignalBlocker(self.list):
            self.list.clear()
            for sid in [*order, *rest]:
                item = QListWidgetItem(f"{sid}  {settings.SAMPLER_NAMES[sid]}")
                item.setData(Qt.ItemDataRole.UserRole, sid)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsDragEnabled)
                item.setCheckState(Qt.CheckState.Checked if sid in order
                                   else Qt.CheckState.Unchecked)
                self.list.addItem(item)

    def order(self) -> list[int]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(int(item.data(Qt.ItemDataRole.UserRole)))
        return out


class SamplerOrderEditor(FieldEditor[SamplerOrderList]):
    def _make(self) -> SamplerOrderList:
        w = SamplerOrderList()
        w.set_order(list(self.field.default))
        return w

    def _read(self) -> list[int]:
        return self.widget.order()

    def _write(self, value: Any) -> bool:
        if not isinstance(value, list | tuple) or len(set(value)) != len(value) or not all(
                isinstance(i, int) and not isinstance(i, bool) and i in settings.SAMPLER_NAMES
                for i in value):
            return False
        self.widget.set_order(list(value))
        return True

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.edited.connect(callback)


EDITORS: dict[str, type[FieldEditor[Any]]] = {
    "int": IntEditor, "float": FloatEditor, "bool": BoolEditor, "str": StrEditor,
    "str_list": StrListEditor, "int_list": IntListEditor, "json": JsonEditor,
}


def make_editor(field: Field) -> FieldEditor[Any]:
    if field.name == "sampler_order":
        return SamplerOrderEditor(field)
    if field.kind == "int" and field.default is None:
        return OptionalIntEditor(field)
    if field.kind == "float" and field.default is None:
        raise NotImplementedError(f"{field.name}: optional floats need an editor")
    return EDITORS[field.kind](field)


# ---------------------------------------------------------------------- layout
class Section(QWidget):
    """A heading and a form; collapsible sections fold away behind a triangle button."""

    def __init__(self, title: str, collapsible: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"section_{title}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.collapsible = collapsible
        #: makes the form's fields: run once, when the section is first opened or asked for
        self.builder: Callable[[], None] | None = None
        self.header: QWidget
        if collapsible:
            self.toggle = QToolButton(self)
            self.toggle.setObjectName("sectionHeader")
            self.toggle.setText(title)
            self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.toggle.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.toggle.setAutoRaise(True)
            self.toggle.setCursor(Qt.CursorShape.PointingHandCursor)
            self.header = self.toggle
        else:
            self.header = plain_label(title.upper(), self)
            self.header.setObjectName("sectionTitle")
        self.body = QWidget(self)
        self.form = QFormLayout(self.body)
        self.form.setContentsMargins(8 if collapsible else 2, 2, 2, 8)
        self.form.setHorizontalSpacing(10)
        self.form.setVerticalSpacing(6)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        layout.addWidget(self.header)
        layout.addWidget(self.body)
        if collapsible:
            self.toggle.setCheckable(True)
            self.toggle.toggled.connect(self.set_expanded)
            self.set_expanded(False)

    def build(self) -> None:
        """Make the fields now if they are not made yet."""
        builder, self.builder = self.builder, None
        if builder is not None:
            builder()

    def set_expanded(self, expanded: bool) -> None:
        if not self.collapsible:
            return
        if expanded:
            self.build()
        with QSignalBlocker(self.toggle):
            self.toggle.setChecked(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)

    @property
    def expanded(self) -> bool:
        return self.body.isVisibleTo(self) if self.collapsible else True


V = TypeVar("V")


class FieldWidgets(dict[str, V]):
    """What the panel made for each field, by name; asking for a field whose section is not
    built yet builds it (iterating lists only the fields built)."""

    def __init__(self, build: Callable[[str], None]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, name: str) -> V:
        self._build(name)
        if not dict.__contains__(self, name):
            raise KeyError(name)
        return dict.__getitem__(self, name)


class SettingsPanel(QWidget):
    """Every field of the sampler table; `values()` is what `Controller.generate` takes."""

    #: any value changed (by the user or by set_values / reset_defaults)
    changed = Signal()
    #: a collapsible section's fields were just made (its body: names and fitting for them)
    section_built = Signal(QWidget)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPanel")
        #: the fields in the order values() lists them
        self._names = [f.name for f in settings.COMMON] + [
            f.name for f in settings.FIELDS if not f.common]
        #: what was set for a field whose section is not built yet (shown once it is)
        self._pending: dict[str, Any] = {}
        self.editors: FieldWidgets[FieldEditor[Any]] = FieldWidgets(self._build_for)
        self.labels: FieldWidgets[QLabel] = FieldWidgets(self._build_for)
        self.error_labels: FieldWidgets[QLabel] = FieldWidgets(self._build_for)
        self.sections: dict[str, Section] = {}
        self._context_limit: int | None = None
        #: fields kept out of sight (memory: the Context panel edits it); still in values()
        self._hidden = QWidget(self)
        self._hidden.setObjectName("hiddenFields")
        self._hidden.hide()
        self._hidden_form = QFormLayout(self._hidden)
        self.reset_buttons: FieldWidgets[QToolButton] = FieldWidgets(self._build_for)
        #: "needs KoboldCpp 1.xx" beside a field the connected server does not read
        self.unavailable_labels: FieldWidgets[QLabel] = FieldWidgets(self._build_for)
        self._server: ServerFeatures | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 12)
        layout.setSpacing(6)

        common = Section("Common", collapsible=False, parent=self)
        self.sections["Common"] = common
        layout.addWidget(common)
        for f in settings.COMMON:
            self._add_field(common, f)

        folded: dict[str, list[Field]] = {}
        for f in settings.FIELDS:
            if f.common:
                continue
            if not f.in_panel:
                self._add_hidden_field(f)
                continue
            if f.group not in self.sections:
                section = Section(f.group, collapsible=True, parent=self)
                self.sections[f.group] = section
                layout.addWidget(section)
                section.builder = functools.partial(self._build_section, section,
                                                    folded.setdefault(f.group, []))
            folded[f.group].append(f)
        layout.addStretch(1)
        reset = QAction("Reset field to default", self)
        reset.setObjectName("resetFieldAction")
        reset.setShortcut(QKeySequence("Ctrl+Shift+Backspace"))
        reset.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        reset.triggered.connect(self._reset_focused)
        self.addAction(reset)
        self.reset_field_action = reset

    def _add_hidden_field(self, f: Field) -> None:
        editor = make_editor(f)
        self.editors[f.name] = editor
        self.labels[f.name] = plain_label(f.label, self._hidden)
        self.error_labels[f.name] = plain_label("", self._hidden)
        self._hidden_form.addRow(self.labels[f.name], editor.widget)
        editor.on_change(functools.partial(self._edited, f.name))

    def _build_for(self, name: str) -> None:
        f = settings.BY_NAME.get(name)
        if f is not None and f.in_panel:
            self.section_of(name).build()

    def _build_section(self, section: Section, fields: list[Field]) -> None:
        """Make a folded section's fields, showing what was set for them meanwhile."""
        gone = settings.unavailable(self._server)
        for f in fields:
            self._add_field(section, f)
            if f.name in self._pending:
                self.editors[f.name].set(self._pending.pop(f.name))
                self._show_problem(f.name)
            if f.name in gone:
                self._show_available(f.name, gone[f.name])
        # Qt put them at the end of the Tab chain: they go after the section's header
        chain_after(section.toggle, focus_block(section.body))
        self.section_built.emit(section.body)

    def _add_field(self, section: Section, f: Field) -> None:
        editor = make_editor(f)
        label = plain_label(f.label)
        set_plain_tooltip(label, f.help)
        label.setBuddy(editor.widget)
        label.setObjectName(f"label_{f.name}")
        label.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        label.customContextMenuRequested.connect(
            functools.partial(self._field_menu, f.name, label))
        error = plain_label()
        error.setObjectName("fieldError")
        error.setWordWrap(True)
        self.editors[f.name] = editor
        self.labels[f.name] = label
        self.error_labels[f.name] = error
        editor.widget.setAccessibleName(f.label)
        reset = _small_button("↺", f"Reset {f.label} to its default", self)
        reset.setObjectName(f"reset_{f.name}")
        reset.clicked.connect(functools.partial(self.reset_field, f.name))
        self.reset_buttons[f.name] = reset
        note = plain_label("")
        note.setObjectName("fieldUnavailable")
        note.hide()
        self.unavailable_labels[f.name] = note
        head = QWidget()
        row = QHBoxLayout(head)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        if isinstance(editor.widget, QPlainTextEdit | EntryList):
            row.addWidget(label)
            row.addWidget(note)
            row.addStretch(1)
            row.addWidget(reset)
            section.form.addRow(head)
            section.form.addRow(editor.widget)
        else:
            row.addWidget(editor.widget, 1)
            row.addWidget(reset)
            section.form.addRow(label, head)
            section.form.addRow(note)
            section.form.setRowVisible(note, False)
        self._show_reset(f.name)
        # The problem, in words, on a full-width row under the field; hidden rows take no room.
        section.form.addRow(error)
        section.form.setRowVisible(error, False)
        editor.on_change(functools.partial(self._edited, f.name))

    # ------------------------------------------------------------------ public API
    def widget_for(self, name: str) -> QWidget:
        return self.editors[name].widget

    def values(self) -> dict[str, Any]:
        """Every field by name; unset fields are None; invalid input is returned as typed."""
        return {name: self._value(name) for name in self._names}

    def _value(self, name: str) -> Any:
        editor = self.editors.get(name)  # .get: a section not built stays so
        if editor is not None:
            return editor.get()
        return _fresh(self._pending.get(name, settings.BY_NAME[name].default))

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show these values (names not given keep theirs; unknown names are ignored)."""
        for name, value in values.items():
            editor = self.editors.get(name)
            if editor is not None:
                editor.set(value)
                self._show_problem(name)
            elif name in settings.BY_NAME:  # its section is not built yet
                self._pending[name] = _fresh(value)
                if field_problem(name, value) is not None:
                    self.section_of(name).set_expanded(True)  # built, the problem shown
        self.changed.emit()

    def reset_defaults(self) -> None:
        self.set_values(settings.defaults())
        if self._context_limit:
            self.set_context_limit(self._context_limit)

    def set_context_limit(self, limit: int | None) -> None:
        """Cap the context size at what the connected server really has (None: no server).

        A value above the new cap is lowered to it (the server would cut it anyway); a value
        typed above it later is refused at the field with the reason.
        """
        f = settings.BY_NAME["max_context_length"]
        editor = self.editors["max_context_length"]
        assert isinstance(editor, NumberEditor)
        self._context_limit = limit if limit and limit > 0 else None
        low, high = _field_range(f)
        if self._context_limit is None:
            editor.set_limits(low, high)
            editor.tooltip = f.help
        else:
            top = max(int(low), min(int(high), self._context_limit))
            editor.set_limits(low, top, f"the connected server has {self._context_limit} tokens")
            editor.tooltip = f"{f.help}\nThe connected server has {self._context_limit} tokens."
            value = editor.get()
            if isinstance(value, int) and value > top:
                editor.set(top)
        self._show_problem("max_context_length")
        self.changed.emit()

    def problems(self) -> dict[str, str]:
        """Per-field problems (cross-field ones come from `settings.validate`). A field not
        built yet has none: set_values builds the section of a value with a problem."""
        out = {}
        for name in self._names:
            editor = self.editors.get(name)
            p = editor.problem() if editor is not None else None
            if p:
                out[name] = p
        return out

    def expand_all(self, expanded: bool = True) -> None:
        for section in self.sections.values():
            section.set_expanded(expanded)

    def section_of(self, name: str) -> Section:
        f = settings.BY_NAME[name]
        return self.sections["Common" if f.common else f.group]

    def reveal(self, name: str) -> None:
        """Open the field's section and put the keyboard focus on it."""
        if not settings.BY_NAME[name].in_panel:
            return
        self.section_of(name).set_expanded(True)
        self.editors[name].widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def reset_field(self, name: str) -> None:
        """Put one field back to the table's default (the context cap still applies)."""
        f = settings.BY_NAME[name]
        value = list(f.default) if isinstance(f.default, list) else f.default
        if name == "max_context_length" and self._context_limit:
            value = min(value, self._context_limit)
        self.set_values({name: value})

    def is_default(self, name: str) -> bool:
        f = settings.BY_NAME[name]
        return bool(self._value(name) == f.default)

    def set_server(self, server: ServerFeatures | None) -> None:
        """Grey out the fields the connected server does not read, saying which version
        would ("needs KoboldCpp 1.102"); None (no server known): every field is offered."""
        self._server = server
        gone = settings.unavailable(server)
        for name in list(self.unavailable_labels):  # the fields built; the rest when they are
            self._show_available(name, gone.get(name))

    def unavailable(self) -> dict[str, str]:
        """The fields the connected server does not read (shown greyed, never sent)."""
        return settings.unavailable(self._server)

    def _show_available(self, name: str, why: str | None) -> None:
        """Grey the field out, saying why (None: offer it)."""
        note = self.unavailable_labels[name]
        editor = self.editors[name]
        editor.widget.setEnabled(why is None)
        self.labels[name].setEnabled(why is None)
        note.setText(f"({why.split(' (')[0]})" if why else "")
        set_plain_tooltip(note, why or "")
        if isinstance(editor.widget, QPlainTextEdit | EntryList):
            note.setVisible(why is not None)
        else:
            self.section_of(name).form.setRowVisible(note, why is not None)
        set_plain_tooltip(editor.widget, editor.tooltip + (f"\n\nNot sent: {why}."
                                                           if why else ""))

    # ------------------------------------------------------------------ internals
    def _field_menu(self, name: str, label: QLabel, pos: QPoint) -> None:
        menu = QMenu(self)
        action = menu.addAction(f"Reset {settings.BY_NAME[name].label} to default")
        action.setEnabled(not self.is_default(name))
        action.triggered.connect(functools.partial(self.reset_field, name))
        menu.popup(label.mapToGlobal(pos))

    def _reset_focused(self) -> None:
        focus: QWidget | None = self.focusWidget()
        while focus is not None and focus is not self:
            name = focus.property("fieldName")
            if isinstance(name, str) and name in self.editors:
                self.reset_field(name)
                return
            focus = focus.parentWidget()

    def _show_reset(self, name: str) -> None:
        button = self.reset_buttons.get(name)
        if button is not None:
            button.setEnabled(not self.is_default(name))

    def _edited(self, name: str) -> None:
        self.editors[name].user_edited()
        self._show_problem(name)
        self.changed.emit()

    def _show_problem(self, name: str) -> None:
        self._show_reset(name)
        if not settings.BY_NAME[name].in_panel:
            return
        editor = self.editors[name]
        problem = editor.problem()
        w = editor.widget
        invalid = problem is not None
        if bool(w.property("invalid")) != invalid:
            w.setProperty("invalid", invalid)
            w.style().unpolish(w)
            w.style().polish(w)
        label = self.error_labels[name]
        label.setText(problem or "")
        self.section_of(name).form.setRowVisible(label, invalid)
        set_plain_tooltip(w, editor.tooltip + (f"\n\n⚠ {problem}" if problem else ""))
        if invalid:
            self.section_of(name).set_expanded(True)
