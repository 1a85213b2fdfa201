"""The preset picker and the sampler panel's newer parts, driven in the window against the
emulator: Lite presets, imports, the user's presets across restarts, fields an old server
does not read, resets and the sampler-order list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from kobold_gui.core import presets as P
from kobold_gui.core import settings
from kobold_gui.ui.controller import Controller
from kobold_gui.ui.main_window import MainWindow
from kobold_gui.ui.presets_ui import PresetBar
from kobold_gui.ui.settings_panel import SamplerOrderList

from .conftest import WAIT_MS, wait_connected


@pytest.fixture(autouse=True)
def _no_saved_presets() -> Iterator[None]:
    """The data directory is the run's: each test starts with no presets of the user's."""
    P.presets_path().unlink(missing_ok=True)
    yield
    P.presets_path().unlink(missing_ok=True)


_EMU: list = []


@pytest.fixture
def emu(make_emulator):
    """make_emulator, remembering the last one made (its requests are what was sent)."""
    def factory(**config):
        e = make_emulator(**config)
        _EMU.append(e)
        return e
    yield factory
    _EMU.clear()


def generate(qtbot, window: MainWindow, prompt: str = "Once") -> dict:
    """Generate and return the JSON body the emulator received."""
    window.editor.set_prompt(prompt)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        assert window.generate()
    record = _EMU[-1].last_generation
    assert record is not None
    return record.body


def pick(qtbot, bar: PresetBar, name: str) -> None:
    """Choose a preset the way the keyboard does: focus the picker, arrow to it."""
    bar.picker.setFocus()
    target = bar.picker.findData(name)
    assert target >= 0, name
    if bar.picker.currentIndex() < 0:
        qtbot.keyClick(bar.picker, Qt.Key.Key_Down)
    if bar.picker.currentIndex() == target:  # choose it again: away and back
        qtbot.keyClick(bar.picker, Qt.Key.Key_Up if target else Qt.Key.Key_Down)
    while bar.picker.currentIndex() != target:
        key = Qt.Key.Key_Down if bar.picker.currentIndex() < target else Qt.Key.Key_Up
        qtbot.keyClick(bar.picker, key)


def test_a_lite_preset_sets_exactly_its_values_and_they_are_sent(qtbot, make_window, emu):
    emulator = emu(version="1.110")
    window = make_window(emulator.url)
    wait_connected(qtbot, window)
    panel, bar = window.settings_panel, window.preset_bar
    panel.set_values({"max_length": 12, "stop_sequence": ["###"], "dry_multiplier": 0.8})
    before = panel.values()
    pick(qtbot, bar, "Basic Min-P")
    preset = P.PresetStore().find("Basic Min-P")
    assert preset is not None
    after = panel.values()
    for name, value in after.items():
        expected = preset.values.get(name, before[name])
        assert value == expected, name
    assert not bar.modified
    body = generate(qtbot, window)
    assert body["temperature"] == 1.25 and body["min_p"] == 0.1 and body["top_k"] == 0
    assert body["sampler_order"] == [6, 5, 0, 1, 3, 4, 2]
    assert body["rep_pen"] == 1.03 and body["nsigma"] == 0.0
    assert body["max_length"] == 12 and body["stop_sequence"] == ["###"]  # not the preset's
    assert body["dry_multiplier"] == 0.8

    panel.set_values({"top_k": 5})
    assert bar.modified and "Top-k" in bar.modified_label.toolTip()
    panel.set_values({"top_k": 0})
    assert not bar.modified


def test_a_preset_fills_a_folded_section_shown_when_it_is_opened(qtbot, window):
    panel, bar = window.settings_panel, window.preset_bar
    section = panel.sections["Sampler order"]
    assert not section.expanded and not section.body.findChildren(QWidget)  # not built yet
    pick(qtbot, bar, "Basic Min-P")
    preset = P.PresetStore().find("Basic Min-P")
    assert preset is not None and preset.values["sampler_order"] == [6, 5, 0, 1, 3, 4, 2]
    assert not section.body.findChildren(QWidget)
    assert panel.values()["sampler_order"] == [6, 5, 0, 1, 3, 4, 2] and not bar.modified
    section.toggle.click()
    order = panel.widget_for("sampler_order")
    assert isinstance(order, SamplerOrderList) and order.isVisible()
    assert order.order() == [6, 5, 0, 1, 3, 4, 2]  # the preset's, shown
    assert not bar.modified and not panel.is_default("sampler_order")


def test_a_sillytavern_preset_file_is_imported_applied_and_kept(qtbot, window, tmp_path):
    path = tmp_path / "Universal-Light.json"
    path.write_text(json.dumps({
        "temp": 1.25, "top_p": 0.95, "top_k": 100, "typical_p": 1, "min_p": 0.1,
        "rep_pen": 1.05, "rep_pen_range": 0, "presence_pen": 0, "mirostat_mode": 0,
        "dry_sequence_breakers": "[\"\\n\", \":\"]", "sampler_priority": ["temperature"],
        "epsilon_cutoff": 0, "smoothing_factor": 0.2}), "utf-8")
    bar = window.preset_bar
    assert bar.import_path(path)
    values = window.settings_panel.values()
    assert values["temperature"] == 1.25 and values["top_p"] == 0.95
    assert values["min_p"] == 0.1 and values["smoothing_factor"] == 0.2
    assert values["dry_sequence_breakers"] == ["\n", ":"]
    assert bar.picker.currentText() == "Universal-Light" and not bar.modified
    assert "Imported “Universal-Light” from a SillyTavern preset" in window.status_message()
    assert [p.name for p in P.PresetStore().user] == ["Universal-Light"]
    # the same file again: a second preset, not an overwrite
    assert bar.import_path(path)
    assert bar.picker.currentText() == "Universal-Light (2)"


def test_a_bad_preset_file_is_refused_in_words_and_changes_nothing(qtbot, window, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"temp": 1.1, ', "utf-8")
    before = window.settings_panel.values()
    assert not window.preset_bar.import_path(path)
    assert "Not imported: broken.json is not valid JSON" in window.status_message()
    assert window.preset_bar.status.isVisible()
    assert window.settings_panel.values() == before
    assert P.PresetStore().user == []


def test_user_presets_save_rename_delete_across_restarts(qtbot, make_window):
    window = make_window()
    bar = window.preset_bar
    window.settings_panel.set_values({"temperature": 1.4, "top_k": 33, "nsigma": 0.5})
    assert bar.save_as("Evening")
    assert bar.picker.currentText() == "Evening" and bar.rename_action.isEnabled()
    window.close()

    again = make_window()
    bar2 = again.preset_bar
    assert bar2.picker.findData("Evening") >= 0
    assert bar2.picker.currentText() == "Evening"  # the preset last chosen comes back
    again.settings_panel.reset_defaults()
    assert bar2.modified
    pick(qtbot, bar2, "Evening")
    values = again.settings_panel.values()
    assert (values["temperature"], values["top_k"], values["nsigma"]) == (1.4, 33, 0.5)
    assert bar2.rename_to("Night")
    assert not bar2.rename_to("Simple Logical")  # a built-in's name is refused
    assert "built-in" in again.status_message()
    again.close()

    third = make_window()
    bar3 = third.preset_bar
    assert bar3.picker.findData("Evening") < 0 and bar3.picker.currentText() == "Night"
    box = bar3.ask_delete()
    assert box is not None
    box.accept()
    assert bar3.picker.findData("Night") < 0 and bar3.picker.currentIndex() == -1
    third.close()
    assert P.PresetStore().user == []


def test_built_in_presets_cannot_be_renamed_or_deleted(qtbot, window):
    bar = window.preset_bar
    pick(qtbot, bar, "Simple Creative")
    assert not bar.rename_action.isEnabled() and not bar.delete_action.isEnabled()
    assert not bar.delete_current()
    assert bar.picker.findData("Simple Creative") >= 0


def test_a_sampler_a_176_server_does_not_read_is_greyed_and_not_sent(qtbot, make_window, emu):
    old = emu(version="1.76")
    window = make_window(old.url)
    wait_connected(qtbot, window)
    panel = window.settings_panel
    panel.set_values({"nsigma": 1.0, "smoothing_curve": 2.0, "max_length": 8})
    assert not panel.widget_for("nsigma").isEnabled()
    panel.reveal("nsigma")
    note = panel.unavailable_labels["nsigma"]
    assert note.isVisible() and "needs KoboldCpp 1.102" in note.text()
    assert "nsigma" in panel.unavailable()
    body = generate(qtbot, window)
    assert "nsigma" not in body and "smoothing_curve" not in body
    assert "adaptive_target" not in body and "guidance_scale" not in body
    assert body["dry_multiplier"] == 0.0  # 1.70+: read by 1.76

    new = emu(version="1.110")
    window.url_edit.setText(new.url)
    window.connect_to_server()
    qtbot.waitUntil(lambda: window.controller.server is not None
                    and window.controller.server.url == new.url, timeout=WAIT_MS)
    assert panel.widget_for("nsigma").isEnabled() and not note.isVisible()
    body = generate(qtbot, window)
    assert body["nsigma"] == 1.0 and body["smoothing_curve"] == 2.0
    assert body["adaptive_target"] == -1.0
    assert "guidance_scale" not in body  # the server has no guidance support


def test_reset_one_field_by_button_or_key_and_reset_all(qtbot, window):
    panel = window.settings_panel
    panel.set_values({"temperature": 1.3, "top_k": 7})
    button = panel.reset_buttons["temperature"]
    assert button.isEnabled() and not panel.reset_buttons["top_p"].isEnabled()
    button.click()
    assert panel.values()["temperature"] == 0.7 and not button.isEnabled()
    box = panel.widget_for("top_k")
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Backspace,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert panel.values()["top_k"] == 100
    panel.set_values({"min_p": 0.3, "stop_sequence": ["x"]})
    window.preset_bar.reset_action.trigger()
    values = panel.values()
    assert values["min_p"] == 0.0 and values["stop_sequence"] == []


def test_sampler_order_is_edited_by_keyboard(qtbot, window):
    panel = window.settings_panel
    panel.reveal("sampler_order")
    order = panel.widget_for("sampler_order")
    assert panel.values()["sampler_order"] == settings.DEFAULT_SAMPLER_ORDER  # 6,0,1,3,4,2,5
    order.list.setCurrentRow(6)  # temperature, last
    for _ in range(6):
        qtbot.keyClick(order.list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert panel.values()["sampler_order"] == [5, 6, 0, 1, 3, 4, 2]
    order.list.setCurrentRow(2)  # top-k: switched off
    qtbot.keyClick(order.list, Qt.Key.Key_Space)
    assert panel.values()["sampler_order"] == [5, 6, 1, 3, 4, 2]
    panel.set_values({"sampler_order": [6, 0, 0]})  # e.g. from a file: kept and flagged
    assert "sampler_order" in panel.problems()


def test_stop_sequence_rows_are_added_edited_and_removed_by_keyboard(qtbot, window):
    panel = window.settings_panel
    stops = panel.widget_for("stop_sequence")
    qtbot.keyClicks(stops.line, "\\nYou:")
    qtbot.keyClick(stops.line, Qt.Key.Key_Return)
    qtbot.keyClicks(stops.line, "THE END")
    qtbot.keyClick(stops.line, Qt.Key.Key_Return)
    assert panel.values()["stop_sequence"] == ["\nYou:", "THE END"]
    assert stops.texts() == ["\\nYou:", "THE END"]  # the escape is shown as typed
    stops.list.setFocus()
    stops.list.setCurrentRow(0)
    qtbot.keyClicks(stops.line, "!")  # the line edits the selected row
    assert panel.values()["stop_sequence"] == ["\nYou:!", "THE END"]
    qtbot.keyClick(stops.list, Qt.Key.Key_Delete)
    assert panel.values()["stop_sequence"] == ["THE END"]
    qtbot.keyClick(stops.list, Qt.Key.Key_Insert)
    qtbot.keyClicks(stops.line, "\\t")
    assert panel.values()["stop_sequence"] == ["THE END", "\t"]


def test_the_chosen_preset_and_new_samplers_come_back_at_start(qtbot, tmp_path, qloop):
    from kobold_gui.ui.app_settings import AppSettings

    path: Path = tmp_path / "config" / "settings.json"
    made = []

    def start() -> tuple[AppSettings, MainWindow]:
        app_settings = AppSettings.load(path)
        window = MainWindow(Controller("http://127.0.0.1:9", None))
        qtbot.addWidget(window)
        made.append(window)
        app_settings.attach(window)
        return app_settings, window

    app_settings, window = start()
    pick(qtbot, window.preset_bar, "Immortal")
    window.settings_panel.set_values({"xtc_probability": 0.4})
    window.close()
    assert app_settings.save()
    _, again = start()
    values = again.settings_panel.values()
    assert values["nsigma"] == 1.75 and values["typical"] == 0.19
    assert values["xtc_probability"] == 0.4
    assert again.preset_bar.picker.currentText() == "Immortal" and not again.preset_bar.modified
    for w in made:
        w.close()
