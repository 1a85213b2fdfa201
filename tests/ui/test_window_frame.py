"""The window frame `kobold-gui` shows before the rest is imported, with the main window built
into it: the title, the unsaved mark, closing and quitting all behave as they do for a main
window standing alone; the saved geometry and theme are on the frame before its first frame."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from kobold_gui.app import restore_look
from kobold_gui.core.prefs import Prefs, load_prefs, save_prefs
from kobold_gui.core.prefs_file import read_window_look
from kobold_gui.core.protocol import DEFAULT_URL
from kobold_gui.ui.app_settings import AppSettings
from kobold_gui.ui.controller import Controller
from kobold_gui.ui.main_window import MainWindow
from kobold_gui.ui.theme import apply_theme, is_dark
from kobold_gui.ui.window_frame import STARTING_NOTE, WindowFrame

from .conftest import WAIT_MS
from .test_file_actions import answer, write_in


@pytest.fixture(name="own_dirs", autouse=True)
def own_dirs_fixture(tmp_path, monkeypatch) -> Path:
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return tmp_path


@pytest.fixture(name="framed")
def framed_fixture(qtbot, qloop) -> Iterator[tuple[WindowFrame, MainWindow]]:
    """A shown frame, then a main window built into it, as `kobold-gui` does."""
    frame = WindowFrame()
    qtbot.addWidget(frame)
    frame.show()
    qtbot.waitExposed(frame)
    controller = Controller(DEFAULT_URL, None)
    window = MainWindow(controller, frame)
    frame.set_content(window)
    yield frame, window
    if shiboken6.isValid(window):
        window.file_actions.close_answer = window.file_actions.close_answer or "discard"
    if shiboken6.isValid(frame):
        frame.close()
    closing = asyncio.ensure_future(controller.aclose())
    qtbot.waitUntil(closing.done, timeout=WAIT_MS)


def test_the_frame_says_it_is_starting_until_the_window_is_in(qtbot) -> None:
    frame = WindowFrame()
    qtbot.addWidget(frame)
    assert frame.windowTitle() == "Kobold GUI"
    assert frame.note.text() == STARTING_NOTE
    assert frame.content is None


def test_the_main_window_fills_the_frame_as_a_child(qtbot, framed) -> None:
    frame, window = framed
    assert window.window() is frame and not window.isWindow()
    assert QApplication.topLevelWidgets().count(window) == 0
    qtbot.waitUntil(lambda: window.isVisible() and window.size() == frame.size(),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: frame.findChild(QLabel, "startingNote") is None, timeout=WAIT_MS)
    assert frame.minimumSize() == window.minimumSize()
    with pytest.raises(RuntimeError):
        frame.set_content(QWidget())


def test_the_title_and_unsaved_mark_show_on_the_frame(qtbot, framed) -> None:
    frame, window = framed
    assert frame.windowTitle().endswith("Kobold GUI") and "[*]" in frame.windowTitle()
    assert not frame.isWindowModified()
    write_in(window, "unsaved")
    qtbot.waitUntil(frame.isWindowModified, timeout=WAIT_MS)


def test_closing_the_frame_asks_the_window_first(qtbot, framed) -> None:
    frame, window = framed
    write_in(window, "unsaved")
    assert not frame.close()  # the question is up: nothing closes yet
    assert frame.isVisible() and window.isVisible()
    answer(qtbot, window.file_actions, "cancel")
    assert frame.isVisible() and window.isVisible()
    frame.close()
    answer(qtbot, window.file_actions, "discard")
    qtbot.waitUntil(lambda: not frame.isVisible(), timeout=WAIT_MS)


def test_quit_closes_the_frame_not_only_the_window(qtbot, framed) -> None:
    frame, window = framed
    window.quit_action.trigger()
    qtbot.waitUntil(lambda: not frame.isVisible(), timeout=WAIT_MS)
    assert not window.isVisible()


def test_the_frame_s_geometry_is_what_is_saved(qtbot, framed, tmp_path) -> None:
    frame, window = framed
    settings = AppSettings(path=tmp_path / "settings.json")
    settings.attach(window)
    frame.move(40, 30)
    assert settings.save()
    saved = load_prefs(tmp_path / "settings.json").geometry
    assert saved is not None
    assert base64.b64decode(saved) == bytes(frame.saveGeometry().data())
    assert base64.b64decode(saved) != bytes(window.saveGeometry().data())


def _settings_file(tmp_path: Path) -> Path:
    return tmp_path / "xdg_config_home" / "kobold_gui" / "settings.json"


def test_the_saved_look_is_read_alone(tmp_path) -> None:
    path = tmp_path / "settings.json"
    assert read_window_look(path) == (None, "system")  # no file yet
    geometry = base64.b64encode(b"\x01\xd9\xd0\xcb geometry").decode("ascii")
    save_prefs(Prefs(geometry=geometry, theme="dark"), path)
    assert read_window_look(path) == (geometry, "dark")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["window"].update(geometry="not base64!", theme="purple")
    path.write_text(json.dumps(data), encoding="utf-8")
    assert read_window_look(path) == (None, "system")
    for broken in (b"{not json", b"\xff\xfe", json.dumps({**data, "version": 99}).encode(),
                   json.dumps({"format": "other"}).encode(), b"[]"):
        path.write_bytes(broken)
        assert read_window_look(path) == (None, "system")


def test_the_frame_opens_where_and_how_it_was_left(qtbot, tmp_path) -> None:
    """restore_look: the saved theme applied and the saved geometry on the frame, before
    it is shown (nothing jumps or changes colour after the first frame)."""
    model = WindowFrame()
    qtbot.addWidget(model)
    model.resize(700, 500)
    geometry = base64.b64encode(bytes(model.saveGeometry().data())).decode("ascii")
    save_prefs(Prefs(geometry=geometry, theme="dark"), _settings_file(tmp_path))
    frame = WindowFrame()
    qtbot.addWidget(frame)
    try:
        restore_look(frame)
        assert (frame.width(), frame.height()) == (700, 500)
        assert is_dark(QApplication.palette())
        assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
    finally:
        apply_theme("system")
