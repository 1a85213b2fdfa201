"""The app settings file's name, its marks, and the two values read before anything else.

Why a module of its own: `kobold-gui` puts the saved window geometry and theme on its window
frame before the rest of the app is imported (ui/window_frame.py), and the whole reader
(core/prefs.py: dataclasses, the sampler table, address checks) costs more than that frame.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .dirs import config_dir

FORMAT = "kobold_gui-settings"
VERSION = 1
FILE_NAME = "settings.json"
#: View > Theme: follow the desktop, or always light / dark
THEMES = ("system", "light", "dark")


def prefs_path() -> Path:
    return config_dir() / FILE_NAME


def is_base64(value: Any) -> bool:
    try:
        if not isinstance(value, str):
            return False
        base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        return False
    return True


def read_window_look(path: Path | None = None) -> tuple[str | None, str]:
    """The saved window geometry (base64, or None) and theme, read alone and quietly. A file
    that is missing, not ours or broken gives (None, "system"): `load_prefs` reads it again
    just after and reports what is wrong with it."""
    path = prefs_path() if path is None else path
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None, "system"
    version = data.get("version") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get("format") != FORMAT
            or not isinstance(version, int) or not 1 <= version <= VERSION):
        return None, "system"
    window = data.get("window")
    if not isinstance(window, Mapping):
        return None, "system"
    geometry = window.get("geometry")
    theme = window.get("theme", "system")
    return (geometry if is_base64(geometry) else None,
            theme if theme in THEMES else "system")
