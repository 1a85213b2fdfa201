"""Shared fixtures: the emulator on a free loopback port, and a qasync loop for widget tests.

Every directory the app writes to (log, config, data, state, cache) points into one temporary
folder for the whole run, set here before any test module is imported and inherited by the
processes tests start: a test run never writes into the user's real home.

Widget tests are plain (sync) pytest-qt tests: the `qloop` fixture marks a qasync loop as running
without entering `app.exec()`, so asyncio tasks advance whenever Qt processes events
(qtbot.waitUntil / waitSignal). See stack-notes §4 for why this shape is the stable one.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Before any QApplication exists: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: The run's stand-in for the user's home directories (removed when the run ends).
ISOLATED_ROOT = Path(tempfile.mkdtemp(prefix="kobold_gui-tests-"))
ISOLATED_DIRS = {
    "KOBOLD_GUI_LOG_DIR": ISOLATED_ROOT / "log",
    "XDG_CONFIG_HOME": ISOLATED_ROOT / "config",
    "XDG_DATA_HOME": ISOLATED_ROOT / "data",
    "XDG_STATE_HOME": ISOLATED_ROOT / "state",
    "XDG_CACHE_HOME": ISOLATED_ROOT / "cache",
}
for _name, _path in ISOLATED_DIRS.items():
    os.environ[_name] = str(_path)  # overrides a developer's own settings on purpose
#: Never the user's real keyring, in this process or any it starts: tests that need one install
#: an in-memory backend (tests/core/test_secrets.py: MemoryKeyring) and restore it afterwards.
KEYRING_BACKEND = "keyring.backends.fail.Keyring"
os.environ["PYTHON_KEYRING_BACKEND"] = KEYRING_BACKEND

if TYPE_CHECKING:
    from kobold_gui.emulator import Emulator


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(ISOLATED_ROOT, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def isolated_root() -> Path:
    """The temporary folder standing in for the user's directories; fails the run if moved."""
    for name, path in ISOLATED_DIRS.items():
        assert os.environ.get(name) == str(path), f"{name} no longer points into {ISOLATED_ROOT}"
    assert os.environ.get("PYTHON_KEYRING_BACKEND") == KEYRING_BACKEND, "the real keyring is near"
    return ISOLATED_ROOT


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """Factory: make_emulator(token_rate=..., ...) -> a started emulator, stopped afterwards."""
    from kobold_gui.emulator import Emulator, EmulatorConfig

    started: list[Emulator] = []

    def factory(**config: object) -> Emulator:
        config.setdefault("token_rate", 400.0)
        config.setdefault("first_poll_delay", 0.05)
        emu = Emulator(EmulatorConfig(**config))  # type: ignore[arg-type]
        emu.start()
        started.append(emu)
        return emu

    yield factory
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator()


def pump_until(predicate: Callable[[], bool], timeout: float) -> bool:
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if predicate():
            return True
        time.sleep(0.001)
    return predicate()


@pytest.fixture
def qloop(qapp):
    from kobold_gui.ui.qtloop import HookedQEventLoop

    loop = HookedQEventLoop(qapp)
    asyncio.set_event_loop(loop)
    old_hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=loop._asyncgen_firstiter_hook,
                           finalizer=loop._asyncgen_finalizer_hook)
    asyncio.events._set_running_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        pump_until(lambda: all(t.done() for t in pending), 5.0)
        shutdown = loop.create_task(loop.shutdown_asyncgens())
        pump_until(shutdown.done, 5.0)
        asyncio.events._set_running_loop(None)
        sys.set_asyncgen_hooks(*old_hooks)
        loop.close()
        asyncio.set_event_loop(None)
        # Free qasync's timer objects here, on the main thread, not later on a server thread.
        gc.collect()


@pytest.fixture(autouse=True)
def _no_leaked_running_loop() -> Iterator[None]:
    """A running loop left behind would break the next async test (stack-notes §4)."""
    yield
    assert asyncio.events._get_running_loop() is None


@pytest.fixture
def memory_keyring() -> Iterator[object]:
    """A working keyring that lives in this test's memory only; the fail backend comes back."""
    import keyring
    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.entries: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.entries[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if self.entries.pop((service, username), None) is None:
                raise PasswordDeleteError(username)

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
