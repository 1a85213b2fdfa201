"""Fixtures for the emulator's own tests: fast emulators on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kobold_gui.emulator import Emulator

#: Fast but realistic defaults: stream timing scaled down so the suite stays quick.
FAST = {
    "seed": 1,
    "token_rate": 500.0,
    "first_poll_delay": 0.05,
    "stream_close_delay": 0.03,
    "lock_release_delay": 0.01,
    "abort_reply_delay": 0.01,
    "disconnect_delay": 0.02,
}


@pytest.fixture
def start_emulator(make_emulator: Callable[..., Emulator]) -> Callable[..., Emulator]:
    """Factory: ``start_emulator(token_rate=..., ...)`` -> started Emulator, stopped after."""
    return lambda **overrides: make_emulator(**{**FAST, **overrides})


@pytest.fixture
def emu(start_emulator: Callable[..., Emulator]) -> Emulator:
    return start_emulator()
