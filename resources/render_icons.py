"""Render the app icon's PNGs from resources/kobold-gui.svg into kobold_gui/ui/icons/.

The window loads the PNGs (ui/style.py: app_icon): the SVG would pull in QtSvg and the SVG icon
engine at every start (~1 MB resident, the plug-in's loading time). Run it again after changing
the SVG, and commit the PNGs:

    QT_QPA_PLATFORM=offscreen .venv/bin/python resources/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kobold_gui.ui.style import ICON_SIZES, png_icon_path  # noqa: E402


def main() -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(ROOT / "resources" / "kobold-gui.svg"))
    if not renderer.isValid():
        print("the SVG did not load", file=sys.stderr)
        return 1
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = Path(png_icon_path(size))
        if not image.save(str(target), "PNG"):
            print(f"could not write {target}", file=sys.stderr)
            return 1
        print(target.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
