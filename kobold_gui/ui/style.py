"""The window's look: one style sheet built from the current palette, and the app icon.

Why code, not a .qss file: the colours follow the palette (light or dark desktop), and nothing
has to be found on disk at run time except the icon, which ships inside the package.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QWidget

from .reading import mix

ACCENT = "#4263eb"
ACCENT_HOVER = "#3b5bdb"
ACCENT_PRESSED = "#364fc7"
DANGER = "#e03131"


#: the icons ship inside the package, beside this module (installed as files, wheel or not)
ICONS = Path(__file__).resolve().parent / "icons"
#: the sizes of the icon's PNGs (resources/render_icons.py renders them from the SVG)
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def icon_path() -> str:
    """The SVG the PNGs are rendered from (shipped for desktop installs)."""
    return str(ICONS / "kobold-gui.svg")


def png_icon_path(size: int) -> str:
    return str(ICONS / f"kobold-gui-{size}.png")


def app_icon() -> QIcon:
    """The app icon from the PNGs inside the package (works from a wheel too). PNGs, not
    the SVG: that would load QtSvg and the SVG icon engine at every start."""
    icon = QIcon()
    for size in ICON_SIZES:  # each file is read when a pixmap of about its size is wanted
        icon.addFile(png_icon_path(size), QSize(size, size))
    return icon


def _hex(c: QColor) -> str:
    return c.name(QColor.NameFormat.HexRgb)


def style_sheet(widget: QWidget) -> str:
    pal = widget.palette()
    window = pal.color(QPalette.ColorRole.Window)
    base = pal.color(QPalette.ColorRole.Base)
    text = pal.color(QPalette.ColorRole.Text)
    dark = base.lightness() < 128
    paper = QColor("#1d1f23") if dark else QColor("#fdfcf9")
    ink = QColor("#e6e6e3") if dark else QColor("#1f2328")
    border = mix(window, text, 0.16)
    muted = mix(text, base, 0.45)
    panel = mix(window, base, 0.5)
    selection = mix(paper, QColor(ACCENT), 0.28)
    invalid_bg = mix(base, QColor(DANGER), 0.10)
    return f"""
QMainWindow::separator {{ background: {_hex(border)}; width: 1px; height: 1px; }}
QToolBar#mainToolBar {{
    border: none; border-bottom: 1px solid {_hex(border)}; padding: 6px 10px; spacing: 8px;
}}
QToolBar#mainToolBar QLabel {{ color: {_hex(muted)}; }}
QLineEdit#urlEdit, QLineEdit#passwordEdit {{
    padding: 4px 8px; border: 1px solid {_hex(border)}; border-radius: 6px;
    background: {_hex(base)};
}}
QLineEdit#urlEdit:focus, QLineEdit#passwordEdit:focus {{ border-color: {ACCENT}; }}
QLineEdit#urlEdit[invalid="true"], QLineEdit#passwordEdit[invalid="true"] {{
    border-color: {DANGER}; background: {_hex(invalid_bg)};
}}
QToolBar#mainToolBar QLabel#serverFieldError {{ color: {DANGER}; }}

#outputFrame {{ background: {_hex(paper)}; border: none; }}
QPlainTextEdit#outputView {{
    background: {_hex(paper)}; color: {_hex(ink)}; border: none;
    selection-background-color: {_hex(selection)}; selection-color: {_hex(ink)};
}}
#promptArea {{ background: {_hex(panel)}; border-top: 1px solid {_hex(border)}; }}
QPlainTextEdit#promptEditor {{
    background: {_hex(base)}; color: {_hex(text)}; border: 1px solid {_hex(border)};
    border-radius: 8px; selection-background-color: {_hex(selection)};
    selection-color: {_hex(text)};
}}
QPlainTextEdit#promptEditor:focus {{ border: 1px solid {ACCENT}; }}
QLabel#hintLabel {{ color: {_hex(muted)}; }}

QToolButton#generateButton, QToolButton#stopButton, QToolButton#continueButton,
QPushButton#connectButton, QPushButton#resetButton, QPushButton#testServerButton,
QPushButton#panelConnectButton {{
    border-radius: 6px; padding: 5px 14px; font-weight: 600;
}}
QPushButton#testServerButton, QPushButton#panelConnectButton {{
    background: {_hex(base)}; border: 1px solid {_hex(border)};
}}
QPushButton#testServerButton:hover, QPushButton#panelConnectButton:hover,
QPushButton#testServerButton:focus, QPushButton#panelConnectButton:focus {{
    border-color: {ACCENT};
}}
QToolButton#generateButton {{ background: {ACCENT}; color: white; border: 1px solid {ACCENT}; }}
QToolButton#generateButton:hover {{ background: {ACCENT_HOVER}; }}
QToolButton#generateButton:pressed {{ background: {ACCENT_PRESSED}; }}
QToolButton#generateButton:disabled {{
    background: {_hex(mix(window, QColor(ACCENT), 0.35))}; border-color: transparent;
    color: {_hex(mix(QColor('white'), QColor(ACCENT), 0.2))};
}}
QToolButton#stopButton {{
    color: {DANGER}; border: 1px solid {_hex(mix(window, QColor(DANGER), 0.5))};
    background: {_hex(base)};
}}
QToolButton#stopButton:disabled {{ color: {_hex(muted)}; border-color: {_hex(border)};
    background: transparent; }}
QToolButton#continueButton {{ border: 1px solid {_hex(border)}; background: {_hex(base)}; }}
QToolButton#continueButton:disabled {{ color: {_hex(muted)}; background: transparent; }}
QPushButton#connectButton {{ background: {_hex(base)}; border: 1px solid {_hex(border)}; }}
QPushButton#connectButton:hover, QToolButton#continueButton:hover {{ border-color: {ACCENT}; }}
QPushButton#resetButton {{ background: transparent; border: 1px solid {_hex(border)};
    font-weight: normal; }}

QDockWidget {{ font-size: 9.5pt; }}
QDockWidget::title {{
    padding: 8px 12px; background: {_hex(panel)}; border-bottom: 1px solid {_hex(border)};
    text-align: left; font-weight: 600;
}}
QScrollArea#settingsScroll {{ border: none; background: {_hex(panel)}; }}
QWidget#settingsPanel, QWidget#dockBody {{ background: {_hex(panel)}; }}
QToolButton#sectionHeader {{
    font-weight: 600; border: none; padding: 6px 2px 4px 0; text-align: left;
    color: {_hex(text)};
}}
QLabel#sectionTitle {{
    color: {ACCENT}; font-weight: 700; font-size: 8.5pt; padding: 6px 0 2px 0;
    letter-spacing: 1px;
}}
QToolButton#sectionHeader:hover {{ color: {ACCENT}; }}
QWidget#settingsPanel QSpinBox, QWidget#settingsPanel QDoubleSpinBox,
QWidget#settingsPanel QLineEdit, QWidget#settingsPanel QPlainTextEdit {{
    border: 1px solid {_hex(border)}; border-radius: 5px; padding: 2px 6px;
    background: {_hex(base)};
}}
QWidget#settingsPanel QSpinBox, QWidget#settingsPanel QDoubleSpinBox,
QWidget#settingsPanel QLineEdit {{ min-height: 20px; }}
/* no arrow buttons (Up/Down keys and the wheel step the value); the style sheet would draw
   them as empty boxes */
QWidget#settingsPanel QSpinBox::up-button, QWidget#settingsPanel QSpinBox::down-button,
QWidget#settingsPanel QDoubleSpinBox::up-button,
QWidget#settingsPanel QDoubleSpinBox::down-button {{ width: 0px; border: none; }}
QWidget#settingsPanel QSpinBox:focus, QWidget#settingsPanel QDoubleSpinBox:focus,
QWidget#settingsPanel QLineEdit:focus, QWidget#settingsPanel QPlainTextEdit:focus {{
    border-color: {ACCENT};
}}
QWidget#settingsPanel *[invalid="true"] {{
    border-color: {DANGER}; background: {_hex(invalid_bg)};
}}
QLabel#testResult {{ color: {_hex(text)}; }}
QLabel#testResult[error="true"] {{ color: {DANGER}; }}
QWidget#serverPanel {{ background: {_hex(panel)}; }}
QWidget#serverPanel QLineEdit {{
    border: 1px solid {_hex(border)}; border-radius: 5px; padding: 3px 6px;
    background: {_hex(base)};
}}
QWidget#serverPanel QLineEdit:focus {{ border-color: {ACCENT}; }}
QListWidget#recentServers {{
    border: 1px solid {_hex(border)}; border-radius: 5px; background: {_hex(base)};
}}
QLabel#noRecentServers {{ color: {_hex(muted)}; }}
QLabel#fieldError {{ color: {DANGER}; font-size: 8.5pt; }}

QStatusBar#statusBar {{ border-top: 1px solid {_hex(border)}; background: {_hex(panel)}; }}
QStatusBar#statusBar::item {{ border: none; }}
QStatusBar#statusBar QLabel {{ padding: 3px 8px; }}
QLabel#stateWord {{ font-weight: 600; padding: 3px 0; }}
QLabel#statusMessage {{ color: {_hex(muted)}; }}
QLabel#statusMessage[error="true"] {{ color: {DANGER}; }}
QLabel#retryCountdown {{ color: {_hex(text)}; font-weight: 600; }}
QToolButton#reconnectButton {{ color: {ACCENT}; font-weight: 600; border: none; padding: 2px 6px; }}
QToolButton#reconnectButton:hover {{ text-decoration: underline; }}
QLabel#modelLabel {{ font-weight: 600; }}
QLabel#contextLabel, QLabel#speedLabel, QLabel#statsLabel {{
    color: {_hex(muted)}; border-left: 1px solid {_hex(border)};
}}
"""
