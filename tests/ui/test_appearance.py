"""View > Theme (System / Light / Dark) and the story's font and size (View > Font…,
Ctrl+= / Ctrl+- / Ctrl+0), both remembered at the next start (issue 8 #8)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QApplication, QFontDialog

from kobold_gui.core.prefs import load_prefs
from kobold_gui.ui.appearance import DEFAULT_SIZE
from kobold_gui.ui.theme import apply_theme, is_dark

from .test_app_settings import quit_window, start

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture(autouse=True)
def _system_theme_afterwards() -> Iterator[None]:
    yield
    apply_theme("system")


def app_palette() -> QPalette:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app.palette()


def test_dark_and_light_and_back_to_the_system(qtbot, make_window) -> None:
    window = make_window(connect=False)
    look = window.appearance
    assert look.theme == "system" and look.theme_actions["system"].isChecked()
    system_dark = is_dark(app_palette())
    light_sheet = window.styleSheet()

    look.theme_actions["dark"].trigger()
    assert is_dark(app_palette())
    qtbot.waitUntil(lambda: is_dark(window.output.palette()))  # Qt posts it to the widgets
    assert look.theme_actions["dark"].isChecked() and not look.theme_actions["system"].isChecked()
    assert window.styleSheet() != light_sheet  # the style sheet follows the palette
    assert "#1d1f23" in window.styleSheet()  # the dark story paper

    look.theme_actions["light"].trigger()
    assert not is_dark(app_palette())
    qtbot.waitUntil(lambda: not is_dark(window.output.palette()))
    assert "#fdfcf9" in window.styleSheet()

    look.theme_actions["system"].trigger()
    assert is_dark(app_palette()) == system_dark
    assert app_palette().resolveMask() == 0  # nothing of ours: the platform's palette


def test_the_theme_is_remembered(qtbot, settings_window, settings_file) -> None:  # noqa: F811
    app_settings, window = start(settings_window, settings_file, "http://127.0.0.1:9")
    window.appearance.theme_actions["dark"].trigger()
    quit_window(app_settings, window)
    assert load_prefs(settings_file).theme == "dark"
    apply_theme("system")
    _settings, again = start(settings_window, settings_file)
    assert again.appearance.theme == "dark" and again.appearance.theme_actions["dark"].isChecked()
    assert is_dark(app_palette())
    again.show()
    qtbot.waitUntil(lambda: "#1d1f23" in again.styleSheet())


def activate(qtbot, window) -> None:
    """Shortcuts only reach the active window (a test's window is shown, not activated)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def test_ctrl_plus_minus_zero_change_the_text_size(qtbot, make_window) -> None:
    window = make_window(connect=False)
    activate(qtbot, window)
    story = window.output
    assert story.font().pointSizeF() == DEFAULT_SIZE
    story.setFocus()
    qtbot.keyClick(story, Qt.Key.Key_Equal, CTRL)
    assert story.font().pointSizeF() == DEFAULT_SIZE + 1
    qtbot.keyClick(story, Qt.Key.Key_Equal, CTRL)
    assert story.font().pointSizeF() == DEFAULT_SIZE + 2
    assert window.editor.font().pointSizeF() > 12  # the prompt box grows along
    window.editor.setFocus()
    qtbot.keyClick(window.editor, Qt.Key.Key_Minus, CTRL)
    assert story.font().pointSizeF() == DEFAULT_SIZE + 1
    qtbot.keyClick(window.editor, Qt.Key.Key_0, CTRL)
    assert story.font().pointSizeF() == DEFAULT_SIZE
    assert window.editor.font().pointSizeF() == 12
    assert story.toPlainText() == "" and window.editor.prompt() == ""  # no key typed text
    for _ in range(60):
        window.appearance.smaller_action.trigger()
    assert story.font().pointSizeF() == 7  # never unreadably small


def test_serif_or_mono_keeps_the_size(make_window) -> None:
    window = make_window(connect=False)
    window.appearance.bigger_action.trigger()
    window.font_actions["mono"].trigger()
    font = window.output.font()
    assert font.pointSizeF() == DEFAULT_SIZE + 1
    assert font.styleHint() == QFont.StyleHint.Monospace


def test_font_dialog_sets_family_and_size_and_is_remembered(
        qtbot, settings_window, settings_file) -> None:  # noqa: F811
    app_settings, window = start(settings_window, settings_file, "http://127.0.0.1:9")
    window.appearance.font_action.trigger()
    dialog = window.findChild(QFontDialog, "fontDialog")
    assert dialog is not None and dialog.isVisible()
    family = QFont("DejaVu Sans").family()
    font = QFont(family)
    font.setPointSizeF(16)
    dialog.setCurrentFont(font)
    dialog.accept()
    assert window.output.font().family() == family
    assert window.output.font().pointSizeF() == 16
    quit_window(app_settings, window)
    prefs = load_prefs(settings_file)
    assert (prefs.font_family, prefs.font_size) == (family, 16)

    _settings, again = start(settings_window, settings_file)
    assert again.output.font().family() == family
    assert again.output.font().pointSizeF() == 16


def test_bad_font_and_theme_settings_fall_back(settings_file) -> None:  # noqa: F811
    import json

    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps({
        "format": "kobold_gui-settings", "version": 1,
        "window": {"theme": "purple", "font_size": 999, "font_family": 12}}))
    prefs = load_prefs(settings_file)
    assert (prefs.theme, prefs.font_size, prefs.font_family) == ("system", DEFAULT_SIZE, None)
