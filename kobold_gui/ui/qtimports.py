"""PySide's `__feature__` import hook, which the app does without.

Why: importing PySide6.QtCore replaces `builtins.__import__` with `__feature_import__`, which
after every import of a new module reads that module's whole source (`inspect.getsource`, kept
in `linecache`) to see whether it mentions PySide6, for the opt-in `from __feature__ import
snake_case, true_property`. The app selects no feature, so that is pure cost: ~130 ms of the
start and ~11 MB of cached source lines (measured with bench/bench_startup.py). Dropping the
hook puts back the import PySide itself wrapped (kept as `builtins.__orig_import__`); nothing
else of PySide changes.
"""

from __future__ import annotations

import builtins
import sys

HOOK_NAME = "__feature_import__"


def feature_import_hook_installed() -> bool:
    return getattr(builtins.__import__, "__name__", "") == HOOK_NAME


def _features_selected() -> bool:
    """Whether some module already selected a `__feature__` (then the hook must stay)."""
    feature = sys.modules.get("PySide6.support.feature")
    selected = getattr(feature, "pyside_feature_dict", None) or {}
    return any(isinstance(flag, int) and flag > 0 for flag in selected.values())


def drop_feature_import_hook() -> bool:
    """Put back the import PySide wrapped; True when the hook was removed. Call it after
    PySide6 is imported; a process that uses `__feature__` keeps the hook."""
    original = getattr(builtins, "__orig_import__", None)
    if original is None or not feature_import_hook_installed() or _features_selected():
        return False
    builtins.__import__ = original
    return True
