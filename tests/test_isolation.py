"""A test run never writes into the user's real home: logs and app directories are temporary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs

from kobold_gui.core.logs import log_dir

REAL_HOME = Path(os.path.expanduser("~")).resolve()


def under(path: str | Path, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


def test_app_directories_resolve_into_the_temporary_root(isolated_root: Path) -> None:
    places = {
        "log_dir()": log_dir(),
        "user_log_dir": platformdirs.user_log_dir("kobold_gui", appauthor=False),
        "user_state_dir": platformdirs.user_state_dir("kobold_gui", appauthor=False),
        "user_config_dir": platformdirs.user_config_dir("kobold_gui", appauthor=False),
        "user_data_dir": platformdirs.user_data_dir("kobold_gui", appauthor=False),
        "user_cache_dir": platformdirs.user_cache_dir("kobold_gui", appauthor=False),
    }
    outside = {name: str(p) for name, p in places.items() if not under(p, isolated_root)}
    assert not outside, f"would write outside {isolated_root}: {outside}"
    if not under(isolated_root, REAL_HOME):  # a home under /tmp would make this check moot
        assert not any(under(p, REAL_HOME) for p in places.values())


def test_processes_started_by_tests_log_into_the_temporary_root(isolated_root: Path) -> None:
    """kobold-stream and the app run as subprocesses in many tests: they inherit the isolation."""
    code = "from kobold_gui.core.logs import log_dir; print(log_dir())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True).stdout.strip()
    assert under(out, isolated_root), out
