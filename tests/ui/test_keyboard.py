"""The keyboard path (issue 8 #8): every action is in a menu with its shortcut, F1 lists them
all, F6 and direct shortcuts reach every area, a whole session works without the mouse, and
every control has an accessible name."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QWidget

from kobold_gui.ui.accessibility import accessible_name, keyboard_widgets, unnamed
from kobold_gui.ui.keyboard import ShortcutsDialog, shortcut_rows

from .conftest import WAIT_MS, wait_connected

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
NONE = Qt.KeyboardModifier.NoModifier


def activate(qtbot, window) -> None:
    """Shortcuts only reach the active window (a test's window is shown, not activated)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def key(qtbot, window, k: Qt.Key, mods: Qt.KeyboardModifier = NONE) -> None:
    target = window.focusWidget() or window
    qtbot.keyClick(target, k, mods)


def focused_in(window, widget: QWidget) -> bool:
    f = window.focusWidget()
    return f is not None and (f is widget or widget.isAncestorOf(f))


def test_every_shortcut_is_in_a_menu_and_none_is_taken_twice(make_window) -> None:
    window = make_window(connect=False)
    listed = {(action, keys) for _menu, action, keys in shortcut_rows(window)}
    owners: dict[str, str] = {}
    for action in window.actions():
        for seq in action.shortcuts():
            text = seq.toString()
            assert text not in owners, f"{text} is both {owners[text]!r} and {action.text()!r}"
            owners[text] = action.text()
        if action.shortcuts():
            assert any(keys and action.shortcuts()[0].toString() in keys
                       for _a, keys in listed), f"{action.text()!r} is in no menu"


def test_the_menus_hold_the_actions_and_their_keys(make_window) -> None:
    window = make_window(connect=False)
    rows = shortcut_rows(window)
    assert ("Generate", "Generate", "Ctrl+Return, Ctrl+Enter") in rows
    assert ("Edit", "Undo", "Ctrl+Z") in rows
    assert ("View > Theme", "Dark", "") in rows
    assert ("View", "Bigger Text", "Ctrl+=, Ctrl++") in rows
    assert ("View > Panels", "Server Panel", "Ctrl+Shift+4") in rows
    assert ("View > Go To", "Next Area", "F6") in rows
    assert ("Server", "Test Server", "") in rows
    assert ("Help", "Keyboard Shortcuts", "F1") in rows
    assert rows[-1][:2] == ("Help", "About Kobold GUI")
    file_rows = [r[1] for r in rows if r[0] == "File"]
    assert file_rows[-1] == "Quit"
    letters = [a.text().split("&")[1][0].lower() for a in window.menuBar().actions()]
    assert len(set(letters)) == len(letters) == 6  # Alt+F/E/G/V/S/H, each once


def test_f1_lists_every_shortcut_and_filters(qtbot, make_window) -> None:
    window = make_window(connect=False)
    activate(qtbot, window)
    key(qtbot, window, Qt.Key.Key_F1)
    dialog = window.findChild(ShortcutsDialog, "shortcutsDialog")
    assert dialog is not None and dialog.isVisible()
    assert dialog.visible_rows()[: len(shortcut_rows(window))] == shortcut_rows(window)
    qtbot.keyClicks(dialog.filter, "ctrl+shift")
    shown = dialog.visible_rows()
    assert shown and all("Ctrl+Shift" in keys for _m, _a, keys in shown)
    assert ("View > Panels", "Samplers Panel", "Ctrl+Shift+1") in shown
    dialog.filter.clear()
    qtbot.keyClicks(dialog.filter, "theme dark")
    assert dialog.visible_rows() == [("View > Theme", "Dark", "")]
    window.keyboard.shortcuts_action.trigger()
    assert window.findChildren(ShortcutsDialog) == [dialog]  # one list, brought forward
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.findChildren(ShortcutsDialog))


def test_f6_goes_round_the_areas_and_shortcuts_go_straight(qtbot, make_window) -> None:
    window = make_window(connect=False)
    activate(qtbot, window)
    window.editor.setFocus()
    key(qtbot, window, Qt.Key.Key_F6)
    assert focused_in(window, window.settings_dock)  # the panel in front
    key(qtbot, window, Qt.Key.Key_F6)
    assert window.focusWidget() is window.url_edit
    key(qtbot, window, Qt.Key.Key_F6)
    assert window.focusWidget() is window.output
    key(qtbot, window, Qt.Key.Key_F6)
    assert window.focusWidget() is window.editor
    key(qtbot, window, Qt.Key.Key_F6, SHIFT)
    assert window.focusWidget() is window.output

    key(qtbot, window, Qt.Key.Key_4, CTRL | SHIFT)
    assert window.server_dock.isVisible() and focused_in(window, window.server_dock)
    key(qtbot, window, Qt.Key.Key_F6)  # the server panel is in front now
    assert window.focusWidget() is window.url_edit
    key(qtbot, window, Qt.Key.Key_1, CTRL | SHIFT)
    assert focused_in(window, window.settings_dock)
    key(qtbot, window, Qt.Key.Key_0, CTRL | SHIFT)
    assert window.focusWidget() is window.output
    key(qtbot, window, Qt.Key.Key_P, CTRL | SHIFT)
    assert window.focusWidget() is window.editor
    key(qtbot, window, Qt.Key.Key_L, CTRL)
    assert window.focusWidget() is window.url_edit


def test_a_session_without_the_mouse(qtbot, emulator, make_window) -> None:
    window = make_window(connect=False)
    activate(qtbot, window)
    key(qtbot, window, Qt.Key.Key_4, CTRL | SHIFT)  # the Server panel, focus in its address
    assert window.focusWidget() is window.server_panel.url_edit
    window.server_panel.url_edit.selectAll()
    qtbot.keyClicks(window.server_panel.url_edit, emulator.url)
    key(qtbot, window, Qt.Key.Key_Return)
    wait_connected(qtbot, window)
    assert window.server_panel.model_value.text() == "koboldcpp/emulated-7B"
    key(qtbot, window, Qt.Key.Key_P, CTRL | SHIFT)
    qtbot.keyClicks(window.editor, "Once upon a time")
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        key(qtbot, window, Qt.Key.Key_Return, CTRL)
    assert window.story.text.startswith("Once upon a time") and window.last_reply()
    key(qtbot, window, Qt.Key.Key_0, CTRL | SHIFT)  # the story: Ctrl+Z there is Edit > Undo
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert window.story.text == "Once upon a time"


def test_every_control_has_an_accessible_name(qtbot, make_window) -> None:
    window = make_window(connect=False)
    checked = 0
    docks = window.findChildren(QDockWidget)
    assert {d.windowTitle() for d in docks} >= {"Samplers", "Context", "Mode", "Server"}
    for dock in docks:
        window.focus_panel(dock)
        missing = [(type(w).__name__, w.objectName()) for w in unnamed(window)]
        assert missing == []
        checked = max(checked, len(keyboard_widgets(window)))
    assert checked > 30  # the walk really saw the panels' fields
    assert accessible_name(window.output) == "Story"
    assert accessible_name(window.editor) == "Prompt"
    assert accessible_name(window.url_edit) == "Server address"
    assert accessible_name(window.settings_panel.widget_for("temperature")) == "Temperature"
    assert accessible_name(window.server_panel.test_button) == "Test"


def test_a_control_added_without_a_name_gets_one_from_its_hints(make_window) -> None:
    from PySide6.QtWidgets import QLineEdit, QVBoxLayout

    from kobold_gui.ui.accessibility import name_from_hints

    window = make_window(connect=False)
    body = QWidget()
    field = QLineEdit(body)
    field.setPlaceholderText("Search world info")
    QVBoxLayout(body).addWidget(field)
    window.add_side_panel("Context", body, "contextDock")
    assert field in unnamed(window)
    name_from_hints(window)
    assert accessible_name(field) == "Search world info"


def test_a_sampler_section_opened_after_the_start_has_named_fields(
        monkeypatch, make_window) -> None:
    from PySide6.QtWidgets import QLineEdit

    from kobold_gui.core import settings
    from kobold_gui.ui.settings_panel import SettingsPanel

    add_field = SettingsPanel._add_field

    def with_a_silent_extra(panel, section, f) -> None:  # a control with no name of its own
        add_field(panel, section, f)
        if f.name == "logit_bias":
            extra = QLineEdit()
            extra.setPlaceholderText("Bias of a new token")
            section.form.addRow(extra)

    monkeypatch.setattr(SettingsPanel, "_add_field", with_a_silent_extra)
    window = make_window(connect=False)
    panel = window.settings_panel
    section = panel.sections["Logit bias"]
    assert window.start_finished and not section.body.findChildren(QWidget)  # not built yet
    window.focus_panel(window.settings_dock)
    section.toggle.click()
    for f in settings.FIELDS:
        if f.group == "Logit bias":
            assert accessible_name(panel.widget_for(f.name)) == f.label
    assert [w for w in section.body.findChildren(QLineEdit) if w.placeholderText()
            == "Bias of a new token"][0].accessibleName() == "Bias of a new token"
    panel.expand_all()  # every section built after the start
    assert unnamed(window) == []
    assert len(keyboard_widgets(panel)) > 60


def test_edit_menu_cut_copy_paste_work_on_the_focused_field(qtbot, make_window) -> None:
    from PySide6.QtWidgets import QApplication

    window = make_window(connect=False)
    rows = shortcut_rows(window)
    edit = [r[1] for r in rows if r[0] == "Edit"]
    cut = edit.index("Cut")
    assert edit[cut:cut + 4] == ["Cut", "Copy", "Paste", "Select All"]
    window.editor.set_prompt("a dragon")
    window.editor.setFocus()
    window.text_actions["selectAll"].trigger()
    window.text_actions["copy"].trigger()
    assert QApplication.clipboard().text() == "a dragon"
    window.url_edit.setFocus()
    window.url_edit.clear()
    window.text_actions["paste"].trigger()
    assert window.url_edit.text() == "a dragon"
