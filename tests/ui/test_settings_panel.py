"""SettingsPanel: one widget per sampler field, common ones in sight, honest values()."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from kobold_gui.core import settings
from kobold_gui.core.errors import InvalidSettings
from kobold_gui.core.settings import ServerFeatures
from kobold_gui.ui.number_box import NumberBox
from kobold_gui.ui.plain import tooltip_text
from kobold_gui.ui.settings_panel import (
    UNSET_PLACEHOLDER,
    EntryList,
    SamplerOrderList,
    SettingsPanel,
    escape_entry,
    unescape_entry,
)

EXPECTED_WIDGET = {"int": NumberBox, "float": NumberBox, "bool": QCheckBox,
                   "str_list": EntryList, "int_list": SamplerOrderList, "json": QLineEdit}


@pytest.fixture
def panel(qtbot) -> SettingsPanel:
    p = SettingsPanel()
    qtbot.addWidget(p)
    p.resize(340, 1400)
    p.show()
    qtbot.waitExposed(p)
    return p


def type_row(qtbot, editor: EntryList, text: str) -> None:
    """Type a new row in the line under the list, Enter to finish it."""
    qtbot.keyClicks(editor.line, text)
    qtbot.keyClick(editor.line, Qt.Key.Key_Return)


def test_every_field_has_a_labelled_widget_of_its_kind(panel: SettingsPanel) -> None:
    for f in settings.FIELDS:
        w = panel.widget_for(f.name)
        if f.kind == "str":
            assert isinstance(w, QPlainTextEdit if f.name in ("memory", "grammar") else QLineEdit)
        elif f.kind == "int" and f.default is None:
            assert isinstance(w, QLineEdit)
        else:
            assert isinstance(w, EXPECTED_WIDGET[f.kind]), f.name
        assert panel.labels[f.name].text() == f.label
        if not f.in_panel:
            continue
        assert f.help in tooltip_text(w) and tooltip_text(panel.labels[f.name]) == f.help
        if f.default is None and f.kind == "str_list":
            assert UNSET_PLACEHOLDER in w.hint.text(), f.name
        elif f.default is None:
            assert w.placeholderText() == UNSET_PLACEHOLDER, f.name
    assert set(panel.editors) == {f.name for f in settings.FIELDS}  # widget_for built them


def test_common_fields_are_visible_without_expanding_anything(panel: SettingsPanel) -> None:
    common = {"max_length", "max_context_length", "temperature", "top_p", "top_k", "min_p",
              "rep_pen", "rep_pen_range", "stop_sequence"}
    assert common <= {f.name for f in settings.COMMON}
    for f in settings.FIELDS:
        assert panel.widget_for(f.name).isVisible() == f.common, f.name
    panel.expand_all()
    assert all(panel.widget_for(f.name).isVisible() == f.in_panel for f in settings.FIELDS)
    assert not panel.widget_for("memory").isVisible()  # the Context panel edits memory
    panel.expand_all(False)
    assert not panel.widget_for("mirostat").isVisible()
    panel.sections["Mirostat"].toggle.click()
    assert panel.widget_for("mirostat").isVisible()


def test_defaults_are_the_tables_defaults_and_valid(panel: SettingsPanel) -> None:
    values = panel.values()
    assert values == settings.defaults()
    assert settings.validate(values)
    assert panel.problems() == {}


def test_values_round_trip_through_set_values(qtbot, panel: SettingsPanel) -> None:
    changed = {
        "max_length": 321, "max_context_length": 8192, "temperature": 1.35, "top_p": 0.5,
        "top_k": 0, "min_p": 0.05, "rep_pen": 1.2, "rep_pen_range": 1024,
        "stop_sequence": ["\nUser:", "###", "tab\there", "back\\slash"],
        "trim_stop": False, "ban_eos_token": True, "sampler_order": [6, 5, 0, 1, 3, 4, 2],
        "sampler_seed": 1234, "memory": "Line one\nLine two", "grammar": 'root ::= "yes"',
        "banned_tokens": ["ugh"], "custom_token_bans": "12,13", "logit_bias": {"42": -5},
        "dry_sequence_breakers": ["\n", ":"], "mirostat": 2, "mirostat_tau": 3.5,
    }
    values = panel.values()
    values.update(changed)
    with qtbot.waitSignal(panel.changed, timeout=1000):
        panel.set_values(values)
    assert panel.values() == values
    assert settings.validate(panel.values())
    again = SettingsPanel()
    qtbot.addWidget(again)
    again.set_values(panel.values())
    assert again.values() == values
    panel.reset_defaults()
    assert panel.values() == settings.defaults()


def test_unset_fields_are_none_until_typed(qtbot, panel: SettingsPanel) -> None:
    values = panel.values()
    for name in ("sampler_seed", "memory", "grammar", "banned_tokens", "custom_token_bans",
                 "logit_bias"):
        assert values[name] is None
    panel.reveal("sampler_seed")
    qtbot.keyClicks(panel.widget_for("sampler_seed"), "77")
    assert panel.values()["sampler_seed"] == 77
    panel.widget_for("sampler_seed").clear()
    assert panel.values()["sampler_seed"] is None


def test_stop_sequences_take_escapes(qtbot, panel: SettingsPanel) -> None:
    editor = panel.widget_for("stop_sequence")
    assert isinstance(editor, EntryList)
    type_row(qtbot, editor, "\\nUser:")
    type_row(qtbot, editor, "END")
    assert panel.values()["stop_sequence"] == ["\nUser:", "END"]
    panel.set_values({"stop_sequence": ["\n\n", "a\\nb"]})
    assert editor.texts() == ["\\n\\n", "a\\\\nb"]
    assert panel.values()["stop_sequence"] == ["\n\n", "a\\nb"]
    for text in ("\n", "\\n", "x\ty", "\\\\", "plain", "ends with \\"):
        assert unescape_entry(escape_entry(text)) == text
    assert unescape_entry("\\q") == "\\q"  # unknown escapes stay as typed


@pytest.mark.parametrize(("name", "typed", "message"), [
    ("logit_bias", "{not json", "Logit bias must be a JSON object"),
    ("logit_bias", "[1, 2]", "Logit bias must be a JSON object"),
    ("sampler_seed", "abc", "Seed must be a number"),
])
def test_bad_text_is_flagged_and_rejected_by_validate(
        qtbot, panel: SettingsPanel, name: str, typed: str, message: str) -> None:
    panel.reveal(name)
    w = panel.widget_for(name)
    valid = w.text()
    w.clear()
    qtbot.keyClicks(w, typed)
    assert w.property("invalid") is True
    assert panel.error_labels[name].isVisible()
    assert panel.error_labels[name].text()
    assert name in panel.problems()
    with pytest.raises(InvalidSettings) as err:
        settings.validate(panel.values())
    assert message in err.value.message
    w.setText(valid)
    assert w.property("invalid") is False
    assert not panel.error_labels[name].isVisible()


def test_out_of_range_values_are_kept_and_flagged_not_clamped(panel: SettingsPanel) -> None:
    panel.set_values({"temperature": 7.5, "top_k": -3, "trim_stop": "yes", "rep_pen": 1.2345})
    values = panel.values()
    assert values["temperature"] == 7.5 and values["top_k"] == -3
    temperature = panel.widget_for("temperature")
    assert temperature.value() == 7.5  # shown as it is, not clamped out of sight
    assert values["trim_stop"] == "yes"
    assert values["rep_pen"] == 1.2345  # more decimals than the box shows: kept exactly
    problems = panel.problems()
    assert {"temperature", "top_k", "trim_stop"} <= set(problems)
    assert "rep_pen" not in problems
    assert panel.widget_for("temperature").property("invalid") is True
    assert panel.sections["Stopping"].expanded  # the problem is shown, not hidden in a fold
    with pytest.raises(InvalidSettings):
        settings.validate(values)
    temperature.setValue(0.8)  # the user fixes it
    assert panel.values()["temperature"] == 0.8
    assert "temperature" not in panel.problems()
    assert temperature.maximum() == 5.0  # and the box offers the field's range again


def test_context_limit_follows_the_server(panel: SettingsPanel) -> None:
    spin = panel.widget_for("max_context_length")
    panel.set_context_limit(16384)
    assert spin.maximum() == 16384 and "16384" in tooltip_text(spin)
    panel.set_values({"max_context_length": 12000})
    assert panel.values()["max_context_length"] == 12000
    panel.set_context_limit(2048)
    assert spin.maximum() == 2048 and panel.values()["max_context_length"] == 2048
    panel.set_context_limit(None)
    assert spin.maximum() == settings.BY_NAME["max_context_length"].maximum


def test_wheel_does_not_change_an_unfocused_number(qtbot, panel: SettingsPanel) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    spin = panel.widget_for("top_k")
    panel.widget_for("temperature").setFocus()
    before = spin.value()
    pos = QPointF(spin.rect().center())
    event = QWheelEvent(pos, QPointF(spin.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(spin, event)
    assert spin.value() == before


def type_into(qtbot, panel: SettingsPanel, name: str, text: str) -> None:
    """Select the field's text and type over it, key by key, as a person would."""
    from PySide6.QtCore import Qt

    panel.reveal(name)
    w = panel.widget_for(name)
    w.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(w, Qt.Key.Key_Backspace)
    qtbot.keyClicks(w, text)
    panel.widget_for("top_k" if name != "top_k" else "min_p").setFocus()  # leave the field


@pytest.mark.parametrize(("name", "typed", "value", "reason"), [
    ("temperature", "9", 9.0, "Temperature must be between 0 and 5 (got 9)"),
    ("top_p", "1.5", 1.5, "Top-p must be between 0 and 1 (got 1.5)"),
    ("max_length", "99999", 99999, "Max tokens must be between 1 and 16384 (got 99999)"),
    ("rep_pen", "0.5", 0.5, "Repetition penalty must be between 1 and 5 (got 0.5)"),
    ("top_k", "2.5", 2.5, "Top-k must be a whole number (got 2.5)"),
    ("temperature", "warm", "warm", "Temperature must be a number (got 'warm')"),
    ("temperature", "", "", "Temperature: type a number"),
])
def test_typed_numbers_stay_as_typed_and_are_refused_at_the_field(
        qtbot, panel: SettingsPanel, name: str, typed: str, value: object, reason: str) -> None:
    type_into(qtbot, panel, name, typed)
    w = panel.widget_for(name)
    assert w.text() == typed  # nothing swallowed, clamped or rounded, also after leaving it
    assert panel.values()[name] == value
    assert w.property("invalid") is True
    assert panel.error_labels[name].isVisible()
    assert reason in panel.error_labels[name].text()
    assert reason in tooltip_text(w)
    assert panel.problems()[name]
    with pytest.raises(InvalidSettings):
        settings.validate(panel.values())


def test_typed_valid_numbers_are_read_exactly(qtbot, panel: SettingsPanel) -> None:
    type_into(qtbot, panel, "temperature", "1.25")
    type_into(qtbot, panel, "max_length", "16000")
    type_into(qtbot, panel, "max_context_length", "32768")
    values = panel.values()
    assert (values["temperature"], values["max_length"], values["max_context_length"]) == (
        1.25, 16000, 32768)
    assert panel.problems() == {}


def test_context_above_the_servers_is_refused_with_the_reason(qtbot, panel: SettingsPanel) -> None:
    panel.set_context_limit(4096)
    type_into(qtbot, panel, "max_context_length", "8192")
    w = panel.widget_for("max_context_length")
    assert w.text() == "8192" and panel.values()["max_context_length"] == 8192
    problem = panel.problems()["max_context_length"]
    assert "the connected server has 4096 tokens" in problem and "8192" in problem
    assert panel.error_labels["max_context_length"].isVisible()
    type_into(qtbot, panel, "max_context_length", "2048")
    assert "max_context_length" not in panel.problems()


def test_arrow_keys_step_within_the_range(qtbot, panel: SettingsPanel) -> None:
    from PySide6.QtCore import Qt

    panel.set_values({"temperature": 4.98, "top_k": 0})
    temperature = panel.widget_for("temperature")
    temperature.setFocus()
    qtbot.keyClick(temperature, Qt.Key.Key_Up)
    qtbot.keyClick(temperature, Qt.Key.Key_Up)
    assert panel.values()["temperature"] == 5.0  # stops at the top
    top_k = panel.widget_for("top_k")
    top_k.setFocus()
    qtbot.keyClick(top_k, Qt.Key.Key_Down)
    assert panel.values()["top_k"] == 0
    qtbot.keyClick(top_k, Qt.Key.Key_Up)
    assert panel.values()["top_k"] == 1 and top_k.text() == "1"


# ---------------------------------------------------------------------- folded sections, built late
def built(panel: SettingsPanel, name: str) -> bool:
    """The field's section has its editors (a folded one gets them when first opened)."""
    return bool(panel.section_of(name).body.findChildren(QWidget))


def test_folded_sections_have_no_editors_until_opened_and_show_what_was_set(
        qtbot, panel: SettingsPanel) -> None:
    folded = [s for s in panel.sections.values() if s.collapsible]
    assert len(folded) > 10 and all(not s.body.findChildren(QWidget) for s in folded)
    assert panel.sections["Common"].body.findChildren(NumberBox)
    panel.set_values({"mirostat": 2, "mirostat_tau": 3.5, "ban_eos_token": True,
                      "dry_sequence_breakers": ["\n", ":"]})
    assert all(not s.body.findChildren(QWidget) for s in folded)  # valid values build nothing
    changes: list[bool] = []
    panel.changed.connect(lambda: changes.append(True))

    panel.sections["Mirostat"].toggle.click()  # the user opens the section
    mirostat, tau = panel.widget_for("mirostat"), panel.widget_for("mirostat_tau")
    assert isinstance(mirostat, NumberBox) and mirostat.isVisible()
    assert (mirostat.text(), tau.text()) == ("2", "3.50")
    assert not panel.sections["Stopping"].body.findChildren(QWidget)  # only the one opened
    panel.reveal("ban_eos_token")
    ban = panel.widget_for("ban_eos_token")
    assert isinstance(ban, QCheckBox) and ban.isChecked() and ban.isVisible()
    breakers = panel.widget_for("dry_sequence_breakers")  # asked for: built, still folded
    assert isinstance(breakers, EntryList) and breakers.texts() == ["\\n", ":"]
    assert not breakers.isVisible() and not panel.sections["DRY"].expanded
    assert panel.reset_buttons["mirostat"].isEnabled()  # not the default: can be reset
    assert not panel.reset_buttons["mirostat_eta"].isEnabled()
    assert changes == []  # building changes no value
    assert panel.values()["mirostat_tau"] == 3.5


def test_a_problem_in_a_folded_field_opens_its_section(panel: SettingsPanel) -> None:
    panel.set_values({"xtc_threshold": 3.0})
    assert panel.sections["XTC"].expanded
    assert panel.error_labels["xtc_threshold"].isVisible()
    assert panel.widget_for("xtc_threshold").property("invalid") is True
    assert "xtc_threshold" in panel.problems()


FOLDED_KINDS = [  # one field of each editor kind in a folded section: (name, valid, invalid)
    ("nsigma", 1.5, 9.0),
    ("mirostat", 2, 7),
    ("trim_stop", False, "yes"),
    ("negative_prompt", "blurry", 5),
    ("grammar", 'root ::= "x"', 5),
    ("dry_sequence_breakers", ["\n", "::"], [1]),
    ("banned_tokens", ["ugh"], [1]),
    ("sampler_order", [6, 5, 0, 1, 3, 4, 2], [1, 1]),
    ("logit_bias", {"42": -5}, [1]),
    ("sampler_seed", 1234, -5),
]


@pytest.mark.parametrize("opened", [False, True], ids=["unbuilt", "built"])
@pytest.mark.parametrize(("name", "good", "bad"), FOLDED_KINDS, ids=[k[0] for k in FOLDED_KINDS])
def test_folded_fields_answer_the_same_built_or_not(
        qtbot, panel: SettingsPanel, name: str, good: object, bad: object, opened: bool) -> None:
    f = settings.BY_NAME[name]
    assert not f.common and f.in_panel
    changes: list[bool] = []
    panel.changed.connect(lambda: changes.append(True))
    if opened:
        panel.widget_for(name)
    assert built(panel, name) == opened
    assert panel.values()[name] == f.default and panel.is_default(name)

    panel.set_values({name: good})
    assert len(changes) == 1
    assert panel.values()[name] == good and not panel.is_default(name)
    assert panel.problems() == {}
    assert settings.validate(panel.values())
    panel.reset_defaults()
    assert len(changes) == 2
    assert panel.values() == settings.defaults() and panel.is_default(name)
    panel.reset_field(name)
    assert len(changes) == 3
    panel.set_values({name: good})

    old = ServerFeatures("KoboldCpp", "1.30")
    panel.set_server(old)
    assert (name in panel.unavailable()) == (f.since is not None)
    assert built(panel, name) == opened
    w = panel.widget_for(name)  # built now either way: shows the value, greyed if not read
    assert panel.values()[name] == good  # read back from the editor
    assert w.isEnabled() == (f.since is None)
    assert panel.labels[name].isEnabled() == (f.since is None)
    panel.set_server(None)
    assert w.isEnabled() and panel.unavailable() == {}
    assert len(changes) == 4

    panel.set_values({name: bad})
    assert name in panel.problems() and panel.section_of(name).expanded
    assert panel.error_labels[name].isVisible()


def test_tab_goes_through_a_section_built_late_where_it_did_before(
        qtbot, panel: SettingsPanel) -> None:
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow)
    panel.sections["Mirostat"].set_expanded(True)  # built first: Stopping's fields come later
    stopping = panel.sections["Stopping"]
    stopping.toggle.setFocus()
    qtbot.keyClick(stopping.toggle, Qt.Key.Key_Space)  # opens it: its fields are built now
    assert stopping.expanded
    qtbot.keyClick(stopping.toggle, Qt.Key.Key_Tab)
    assert panel.focusWidget() is panel.widget_for("trim_stop")
    last = panel.widget_for("render_special")
    last.setFocus()
    qtbot.keyClick(last, Qt.Key.Key_Tab)
    assert panel.focusWidget() is panel.sections["Mirostat"].toggle
    qtbot.keyClick(panel.focusWidget(), Qt.Key.Key_Tab)
    assert panel.focusWidget() is panel.widget_for("mirostat")
