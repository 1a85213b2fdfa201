"""The menu bar (issue 8 #8): six menus in a fixed order that every part plugs into."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from kobold_gui.ui.main_window import MENU_TITLES


def titles(window) -> list[str]:
    return [a.text() for a in window.menuBar().actions()]


def test_six_menus_in_order(make_window) -> None:
    window = make_window(connect=False)
    assert titles(window) == ["&File", "&Edit", "&Generate", "&View", "&Server", "&Help"]
    assert tuple(titles(window)) == MENU_TITLES


def test_menu_helper_finds_each_menu_by_any_spelling(make_window) -> None:
    window = make_window(connect=False)
    for action in window.menuBar().actions():
        title = action.text()
        assert window.menu(title) is action.menu()
        assert window.menu(title.replace("&", "")) is action.menu()
        assert window.menu(title.replace("&", "").lower()) is action.menu()
    with pytest.raises(KeyError, match="no menu 'Tools'"):
        window.menu("Tools")


def test_a_side_panel_gets_a_view_action_with_its_shortcut(qtbot, make_window) -> None:
    window = make_window(connect=False)
    dock = window.add_side_panel("Context", QLabel("context"), "contextDock")
    action = window.panel_actions["contextDock"]
    assert action in window.panels_menu.actions()
    assert action.shortcut().toString() == "Ctrl+Shift+2"
    assert window.panel_actions["settingsDock"].shortcut().toString() == "Ctrl+Shift+1"
    assert isinstance(action, QAction)
    dock.hide()
    action.trigger()
    assert dock.isVisible()
