"""Light, Dark or the system's: the application's palette for a theme.

Its own module, with nothing of the app but the theme names, so that `kobold-gui` can put the
saved theme on its window frame before the rest is imported (ui/window_frame.py): a dark
window then never flashes light while it starts. PySide's `Qt` namespace is imported only
when a theme is applied: building its enums costs ~45 ms, more than the frame itself.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from ..core.prefs_file import THEMES

__all__ = ["THEMES", "apply_theme", "is_dark"]


def _palette(dark: bool) -> QPalette:
    """A complete palette for Light or Dark (every role the widgets use)."""
    R = QPalette.ColorRole
    if dark:
        colors = {R.Window: "#2b2d31", R.WindowText: "#e6e6e3", R.Base: "#1f2125",
                  R.AlternateBase: "#2f3136", R.Text: "#e6e6e3", R.Button: "#34363b",
                  R.ButtonText: "#e6e6e3", R.BrightText: "#ffffff", R.Highlight: "#4263eb",
                  R.HighlightedText: "#ffffff", R.ToolTipBase: "#34363b",
                  R.ToolTipText: "#e6e6e3", R.PlaceholderText: "#8b8e94", R.Link: "#7f9cf5",
                  R.Light: "#45474d", R.Midlight: "#3a3c41", R.Mid: "#2a2c30",
                  R.Dark: "#18191c", R.Shadow: "#000000"}
        disabled = "#7a7d83"
    else:
        colors = {R.Window: "#f3f2ef", R.WindowText: "#1f2328", R.Base: "#ffffff",
                  R.AlternateBase: "#f6f5f2", R.Text: "#1f2328", R.Button: "#f3f2ef",
                  R.ButtonText: "#1f2328", R.BrightText: "#ffffff", R.Highlight: "#4263eb",
                  R.HighlightedText: "#ffffff", R.ToolTipBase: "#ffffdc",
                  R.ToolTipText: "#1f2328", R.PlaceholderText: "#8a8f98", R.Link: "#3b5bdb",
                  R.Light: "#ffffff", R.Midlight: "#e9e8e4", R.Mid: "#c9c8c4",
                  R.Dark: "#a5a4a0", R.Shadow: "#000000"}
        disabled = "#9a9da3"
    pal = QPalette()
    for role, color in colors.items():
        pal.setColor(role, QColor(color))
    for role in (R.WindowText, R.Text, R.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    return pal


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def apply_theme(theme: str) -> None:
    """Make the whole application Light, Dark, or what the system says (System)."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; one of {', '.join(THEMES)}")
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    from PySide6.QtCore import Qt  # ~45 ms the first time (PySide builds its enums)

    hints = app.styleHints()
    scheme = {"system": Qt.ColorScheme.Unknown, "light": Qt.ColorScheme.Light,
              "dark": Qt.ColorScheme.Dark}[theme]
    if hasattr(hints, "setColorScheme"):  # Qt 6.8+
        hints.setColorScheme(scheme)
    if theme == "system":
        # A palette that sets no role resolves entirely to the platform's, and keeps
        # following it when the desktop switches between light and dark.
        app.setPalette(QPalette())
    else:
        app.setPalette(_palette(theme == "dark"))
