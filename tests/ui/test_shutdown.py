"""Closing the window leaves nothing behind (issue 6 #13, #16): the controller owns its
background tasks and `aclose()` ends and awaits every one, so no socket stays open, no coroutine
is left unawaited and nothing is logged as a crash, even when quitting in the middle of a retry.
"""

from __future__ import annotations

import asyncio
import logging

from kobold_gui.core.generation import ResilienceConfig
from kobold_gui.core.retry import RetryPolicy
from kobold_gui.emulator import Faults

from .conftest import WAIT_MS, wait_connected

LONG_RETRY = ResilienceConfig(stall_after=0.3, poll_interval=0.1,
                              retry=RetryPolicy(base_delay=30.0, min_delay=30.0, max_delay=30.0,
                                                max_attempts=5))


def quit_like_the_app(qtbot, window) -> list[str]:
    """Close the window and await `aclose()` as `kobold-gui` does before its loop stops; the
    tasks still pending at that moment would be destroyed with the loop."""

    async def shutdown() -> list[str]:
        await window.controller.aclose()
        me = asyncio.current_task()
        return [repr(t.get_coro()) for t in asyncio.all_tasks() if t is not me and not t.done()]

    window.close()
    closing = asyncio.ensure_future(shutdown())
    qtbot.waitUntil(closing.done, timeout=WAIT_MS)
    return closing.result()


def errors_logged(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def test_quitting_during_a_retry_ends_every_task(
        qtbot, qloop, make_emulator, make_window, caplog) -> None:
    emu = make_emulator(faults=Faults(busy_first=100))
    window = make_window(emu.url, config=LONG_RETRY)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 20})
    window.editor.set_prompt("Hello")
    with qtbot.waitSignal(window.controller.retrying, timeout=WAIT_MS):
        assert window.generate()
    assert window.status.retry_pending()

    assert quit_like_the_app(qtbot, window) == []
    assert window.controller.client is None
    assert errors_logged(caplog) == []


def test_closing_right_after_a_generation_and_a_server_switch_awaits_everything(
        qtbot, qloop, make_emulator, make_window, caplog) -> None:
    first, second = make_emulator(), make_emulator()
    window = make_window(first.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 10})
    window.editor.set_prompt("Hello")
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        assert window.generate()
    old_client = window.controller.client
    assert old_client is not None
    # The final-speed request and the closing of the old client are both still under way.
    window.url_edit.setText(second.url)
    window.connect_to_server()

    assert quit_like_the_app(qtbot, window) == []
    assert old_client._http.is_closed  # the old server's socket was closed, not dropped
    assert errors_logged(caplog) == []
