"""Render the main window after a short streamed generation and check it is a real picture.

The picture stays in the test's temporary folder (``main_window.png``) so a person can look at
it: run with ``--basetemp=DIR`` to choose where.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from .conftest import WAIT_MS, wait_connected

PROMPT = ("The lighthouse keeper had not spoken to anyone in eleven years. "
          "On the morning the boat came, she")


def distinct_colours(image: QImage, step: int = 4) -> int:
    seen = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            seen.add(image.pixel(x, y))
    return len(seen)


def test_main_window_screenshot(qtbot, make_emulator, make_window, tmp_path) -> None:
    emu = make_emulator(model="Mistral-7B-Instruct-v0.3.Q4_K_M", context_length=8192,
                        token_rate=300.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 90})
    window.editor.set_prompt(PROMPT)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        qtbot.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    qtbot.wait(50)

    path = tmp_path / "main_window.png"
    assert window.grab().save(str(path))

    image = QImage(str(path))
    assert image.width() >= 1000 and image.height() >= 650
    assert distinct_colours(image) > 40  # text, muted prompt, accent button, status dot…
    # the generated text is dark on the light page, the prompt lighter: both are drawn
    assert window.output.plain_text() == PROMPT + emu.expected_text(PROMPT, 90)
