"""The entry point end to end (a real process), and the files a desktop install needs."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kobold_gui.app import parse_args
from kobold_gui.ui.style import ICON_SIZES, app_icon, icon_path, png_icon_path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_self_test_runs_the_whole_app(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_STATE_HOME=str(tmp_path),
               XDG_CACHE_HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path),
               XDG_DATA_HOME=str(tmp_path))
    env.pop("KOBOLD_PASSWORD", None)
    proc = subprocess.run([sys.executable, "-m", "kobold_gui", "--demo", "--self-test"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"self-test: generated (\d+) characters", proc.stdout)
    assert match and int(match.group(1)) > 0, proc.stdout


def test_self_test_is_hidden_but_parsed() -> None:
    assert parse_args(["--demo", "--self-test"]).self_test
    assert not parse_args([]).self_test


def test_icon_ships_in_the_package_and_loads(qapp) -> None:
    packaged = Path(icon_path())
    assert packaged.is_file()
    assert packaged.read_bytes() == (ROOT / "resources" / "kobold-gui.svg").read_bytes()
    icon = app_icon()
    assert not icon.isNull() and not icon.pixmap(64, 64).isNull()


def test_the_icon_pngs_are_rendered_at_their_sizes(qapp) -> None:
    from PySide6.QtGui import QImage

    for size in ICON_SIZES:
        image = QImage(png_icon_path(size))
        assert not image.isNull(), size
        assert (image.width(), image.height()) == (size, size)
        assert image.hasAlphaChannel()
        assert image.pixelColor(size // 2, size // 2).alpha() > 0  # drawn, not empty
    icon = app_icon()
    assert sorted(s.width() for s in icon.availableSizes()) == sorted(ICON_SIZES)
    assert icon.pixmap(48, 48).size().width() == 48


def test_the_window_and_its_icon_load_without_qtsvg() -> None:
    """PNGs, not the SVG: building and showing the window loads neither QtSvg's Python module
    nor the Qt library (nor its icon engine, which links it)."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from kobold_gui.ui.controller import Controller\n"
        "from kobold_gui.ui.main_window import MainWindow\n"
        "from kobold_gui.ui.style import app_icon\n"
        "app = QApplication([])\n"
        "app.setWindowIcon(app_icon())\n"
        "window = MainWindow(Controller())\n"
        "window.show()\n"
        "app.processEvents()\n"
        "assert not window.windowIcon().pixmap(64, 64).isNull()\n"
        "assert 'PySide6.QtSvg' not in sys.modules\n"
        "maps = open('/proc/self/maps').read() if sys.platform.startswith('linux') else ''\n"
        "assert 'libQt6Svg' not in maps, 'libQt6Svg loaded'\n"
        "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


def test_desktop_entry() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "resources" / "kobold-gui.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Kobold GUI"
    assert entry["Exec"].split()[0] == "kobold-gui"
    assert entry["Icon"] == "kobold-gui"
    assert entry["Categories"].endswith(";")


def run_gui(*args: str, env: dict[str, str],
            drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in drop} | env
    return subprocess.run([sys.executable, "-m", "kobold_gui", *args], env=environment,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("platform", [None, "xcb", "wayland;xcb"])
def test_without_a_display_one_clear_line_and_exit_2(tmp_path: Path, platform) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    if platform is not None:
        env["QT_QPA_PLATFORM"] = platform
    proc = run_gui(env=env, drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "no display" in proc.stderr and "QT_QPA_PLATFORM=offscreen" in proc.stderr


def test_gui_version() -> None:
    from kobold_gui import __version__

    proc = run_gui("--version", env={}, drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    assert proc.returncode == 0 and proc.stdout == f"kobold-gui {__version__}\n"


def test_gui_bad_options_are_one_line(tmp_path: Path) -> None:
    proc = run_gui("--retries", "-1", env={"QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    secret = tmp_path / "pw"
    secret.write_text("line\tbreak\n", encoding="utf-8")
    proc = run_gui("--password-file", str(secret), env={"QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 2 and "control character" in proc.stderr, proc.stderr


@pytest.mark.parametrize("env, missing, expected", [
    ({}, set(), "no display"),
    ({"QT_QPA_PLATFORM": "offscreen"}, set(), None),
    ({"QT_QPA_PLATFORM": "minimal"}, set(), None),
    ({"DISPLAY": ":0"}, set(), None),
    ({"WAYLAND_DISPLAY": "wayland-0"}, {"libxcb-cursor.so.0"}, None),
    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, set(), "no display"),
    ({"QT_QPA_PLATFORM": "wayland"}, set(), "no display"),
    ({"DISPLAY": ":0"}, {"libxcb-cursor.so.0", "libX11-xcb.so.1"},
     "install the packages libxcb-cursor0 libx11-xcb1"),
])
def test_display_problem_table(env, missing, expected) -> None:
    from kobold_gui.display import display_problem

    problem = display_problem(env, loadable=lambda soname: soname not in missing)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


SLOW_SESSION_WRITE = """
import os, sys, time
from kobold_gui.core import storage
real = storage.atomic_write

def slow(path, data, backup=True):
    if os.path.basename(path) == "session.json":
        time.sleep(1.0)  # a slow disk: the window is gone long before this is written
    real(path, data, backup)

storage.atomic_write = slow
from kobold_gui.app import main
code = main(sys.argv[1:])
os._exit(code)  # nothing more runs after main returns: no thread is joined at exit
"""


def test_the_app_waits_for_the_kept_session_before_it_exits(tmp_path: Path) -> None:
    """The session is kept by a writer thread once the window is closed: `main` must not
    return before session.json is on disk (and the journal only then gone)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_STATE_HOME=str(tmp_path),
               XDG_CACHE_HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path),
               XDG_DATA_HOME=str(tmp_path))
    env.pop("KOBOLD_PASSWORD", None)
    proc = subprocess.run([sys.executable, "-c", SLOW_SESSION_WRITE, "--demo", "--self-test"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    state = tmp_path / "kobold_gui"
    kept = json.loads((state / "session.json").read_bytes())["story"]
    assert kept is not None and kept["segments"][0]["text"].startswith("Self-test.")
    assert not (state / "session.journal").exists()
