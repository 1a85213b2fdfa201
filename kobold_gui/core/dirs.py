"""Where the app keeps its files: one folder each for settings, data and state.

Its own module, importing nothing of the app, so that `kobold-gui` can read the saved window
geometry before the rest is imported. platformdirs honours XDG_CONFIG_HOME / XDG_DATA_HOME /
XDG_STATE_HOME (the tests point them at a temporary folder).
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "kobold_gui"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def session_journal_path() -> Path:
    """The journal of the running session; left behind only by a crash."""
    return state_dir() / "session.journal"
