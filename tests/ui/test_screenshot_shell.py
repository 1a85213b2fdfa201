"""Screenshots of the dark theme with the Server panel in front, and of the light theme with
live statistics in the status bar: real pictures, kept in the test's temporary folder
(``--basetemp=DIR`` to choose where) for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QImage

from kobold_gui.ui.appearance import apply_theme

from .conftest import WAIT_MS, wait_connected
from .test_screenshot import PROMPT, distinct_colours


@pytest.fixture(autouse=True)
def _system_theme_afterwards() -> Iterator[None]:
    yield
    apply_theme("system")


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_window_with_server_panel_and_statistics(qtbot, make_emulator, make_window, tmp_path,
                                                 theme) -> None:
    emu = make_emulator(model="koboldcpp/Mistral-7B-Instruct-v0.3.Q4_K_M", context_length=8192,
                        token_rate=300.0, version="1.100")
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.appearance.theme_actions[theme].trigger()
    window.settings_panel.set_values({"max_length": 90})
    window.editor.set_prompt(PROMPT)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        window.generate()
    window.focus_panel(window.server_dock)
    window.server_panel.test()
    qtbot.waitUntil(lambda: window.server_panel.result_text().startswith("✓"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: ("#1d1f23" in window.styleSheet()) == (theme == "dark"))
    qtbot.wait(50)
    path = tmp_path / f"window_{theme}.png"
    assert window.grab().save(str(path))
    image = QImage(str(path))
    assert image.width() >= 1000 and distinct_colours(image) > 40
    dark_pixels = image.pixelColor(image.width() // 3, image.height() // 2).lightness() < 128
    assert dark_pixels == (theme == "dark")  # the story page follows the theme
    assert window.status.stats_text().startswith("90 tokens")
