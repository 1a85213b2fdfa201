"""The entry point end to end (a real process), and the files a desktop install needs."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

from kobold_gui.app import parse_args
from kobold_gui.ui.style import app_icon, icon_path

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


def test_icon_ships_in_the_package_and_loads(qapp) -> None:  # type: ignore[no-untyped-def]
    packaged = Path(icon_path())
    assert packaged.is_file()
    assert packaged.read_bytes() == (ROOT / "resources" / "kobold-gui.svg").read_bytes()
    icon = app_icon()
    assert not icon.isNull() and not icon.pixmap(64, 64).isNull()


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
