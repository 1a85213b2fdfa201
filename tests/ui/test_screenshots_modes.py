"""The README's screenshots come from docs/make_screenshots.py: run it into a temporary folder
so it cannot rot, and check each picture is the window in its mode (not a blank grab)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PySide6.QtGui import QImage

from .test_screenshot import distinct_colours

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "make_screenshots.py"


def test_screenshots_of_story_instruct_and_chat_mode(qtbot, qloop, tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("make_screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    paths = qloop.run_until_complete(module._shoot(tmp_path))
    assert [p.name for p in paths] == ["window_story.png", "window_instruct.png",
                                       "window_chat.png"]
    for path in paths:
        image = QImage(str(path))
        assert image.width() >= 1200 and image.height() >= 750
        assert distinct_colours(image) > 40
