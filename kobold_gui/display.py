"""Can Qt open a window here? Checked before QApplication exists, because Qt's own failure is a
core dump (rc 134) with a misleading hint ("libxcb-cursor0 is needed") even when the real cause
is that there is no display at all.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping

#: The Debian/Ubuntu packages of the README's launch command.
INSTALL_HINT = (
    "apt-get install libglib2.0-0 libegl1 libgl1 libfontconfig1 libxkbcommon0 "
    "libdbus-1-3 libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 "
    "libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libx11-xcb1 "
    "libxcb-xfixes0"
)

#: What Qt's xcb platform plugin loads, by soname -> the Debian package that ships it.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
}

NO_DISPLAY = (
    "no display: run kobold-gui in a desktop session (DISPLAY or WAYLAND_DISPLAY is not set), "
    "or set QT_QPA_PLATFORM=offscreen for testing without a screen"
)


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_packages(loadable: Callable[[str], bool] = _loadable) -> list[str]:
    """Packages whose libraries the xcb plugin needs but the dynamic loader cannot find."""
    return [package for soname, package in XCB_LIBRARIES.items() if not loadable(soname)]


def display_problem(env: Mapping[str, str],
                    loadable: Callable[[str], bool] = _loadable) -> str | None:
    """One line saying why Qt will not open a window, or None when it should."""
    platform = env.get("QT_QPA_PLATFORM", "").strip().lower()
    wants = [p.split(":")[0] for p in platform.split(";") if p] or ["xcb", "wayland"]
    if not any(p in ("xcb", "wayland") for p in wants):
        return None  # offscreen, minimal, vnc, eglfs...: Qt needs no display server
    has_x = bool(env.get("DISPLAY"))
    has_wayland = bool(env.get("WAYLAND_DISPLAY"))
    if not (has_x and "xcb" in wants) and not (has_wayland and "wayland" in wants):
        return NO_DISPLAY
    if has_x and "xcb" in wants and not (has_wayland and "wayland" in wants):
        missing = missing_xcb_packages(loadable)
        if missing:
            return ("Qt's xcb display plugin is missing libraries; install the packages "
                    f"{' '.join(missing)} (apt-get install ...)")
    return None
