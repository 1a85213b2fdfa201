"""SettingsPanel: the sampler form, generated from the sampler table (`core.settings.FIELDS`).

Why generated: the table is the single source of truth, so adding a sampler row adds its widget
here with no UI code. The common fields sit at the top under "Common"; the rest live in
collapsible groups by `Field.group`. Each field gets the editor its kind calls for, the label and
help from the table, and live validation through `settings.validate`, so a problem is shown on the
field while it is typed. An invalid value is never silently "fixed": `values()` returns it as
typed, and `settings.validate` rejects it with the same message, so the window can refuse to send.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core import settings
from ..core.errors import InvalidSettings
from ..core.escapes import escape, unescape
from ..core.settings import Field
from .number_box import NumberBox, format_number
from .plain import plain_label, set_plain_tooltip

UNSET_PLACEHOLDER = "server default"
#: str fields that hold long text get a multi-line editor
MULTILINE_STR = frozenset({"memory", "grammar"})
_NO_RAW = object()


# List entries are shown one per line with the escapes both faces share (core.escapes).
escape_entry = escape
unescape_entry = unescape


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


class StrListEditor(_TextEditor):
    """One entry per line; `\\n`, `\\t`, `\\r` and `\\\\` stand for the characters."""

    multiline = True

    def to_text(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            raise TypeError
        return "\n".join(escape_entry(s) for s in value)

    def from_text(self, text: str) -> list[str] | None:
        entries = [unescape_entry(line) for line in text.split("\n") if line != ""]
        if not entries and self.field.default is None:
            return None
        return entries


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


EDITORS: dict[str, type[FieldEditor[Any]]] = {
    "int": IntEditor, "float": FloatEditor, "bool": BoolEditor, "str": StrEditor,
    "str_list": StrListEditor, "int_list": IntListEditor, "json": JsonEditor,
}


def make_editor(field: Field) -> FieldEditor[Any]:
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

    def set_expanded(self, expanded: bool) -> None:
        if not self.collapsible:
            return
        with QSignalBlocker(self.toggle):
            self.toggle.setChecked(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)

    @property
    def expanded(self) -> bool:
        return self.body.isVisibleTo(self) if self.collapsible else True


class SettingsPanel(QWidget):
    """Every field of the sampler table; `values()` is what `Controller.generate` takes."""

    #: any value changed (by the user or by set_values / reset_defaults)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPanel")
        self.editors: dict[str, FieldEditor[Any]] = {}
        self.labels: dict[str, QLabel] = {}
        self.error_labels: dict[str, QLabel] = {}
        self.sections: dict[str, Section] = {}
        self._context_limit: int | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 12)
        layout.setSpacing(6)

        common = Section("Common", collapsible=False, parent=self)
        self.sections["Common"] = common
        layout.addWidget(common)
        for f in settings.COMMON:
            self._add_field(common, f)

        for f in settings.FIELDS:
            if f.common:
                continue
            section = self.sections.get(f.group)
            if section is None:
                section = Section(f.group, collapsible=True, parent=self)
                self.sections[f.group] = section
                layout.addWidget(section)
            self._add_field(section, f)
        layout.addStretch(1)

    def _add_field(self, section: Section, f: Field) -> None:
        editor = make_editor(f)
        label = plain_label(f.label)
        set_plain_tooltip(label, f.help)
        label.setBuddy(editor.widget)
        label.setObjectName(f"label_{f.name}")
        error = plain_label()
        error.setObjectName("fieldError")
        error.setWordWrap(True)
        self.editors[f.name] = editor
        self.labels[f.name] = label
        self.error_labels[f.name] = error
        if isinstance(editor.widget, QPlainTextEdit):
            section.form.addRow(label)
            section.form.addRow(editor.widget)
        else:
            section.form.addRow(label, editor.widget)
        # The problem, in words, on a full-width row under the field; hidden rows take no room.
        section.form.addRow(error)
        section.form.setRowVisible(error, False)
        editor.on_change(functools.partial(self._edited, f.name))

    # ------------------------------------------------------------------ public API
    def widget_for(self, name: str) -> QWidget:
        return self.editors[name].widget

    def values(self) -> dict[str, Any]:
        """Every field by name; unset fields are None; invalid input is returned as typed."""
        return {name: editor.get() for name, editor in self.editors.items()}

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show these values (names not given keep theirs; unknown names are ignored)."""
        for name, value in values.items():
            editor = self.editors.get(name)
            if editor is not None:
                editor.set(value)
                self._show_problem(name)
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
        """Per-field problems (cross-field ones come from `settings.validate`)."""
        out = {}
        for name, editor in self.editors.items():
            p = editor.problem()
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
        self.section_of(name).set_expanded(True)
        self.editors[name].widget.setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------------ internals
    def _edited(self, name: str) -> None:
        self.editors[name].user_edited()
        self._show_problem(name)
        self.changed.emit()

    def _show_problem(self, name: str) -> None:
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
