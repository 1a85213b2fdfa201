"""Keeps the connection state true while no generation runs, and reconnects by itself.

A light `GET /api/extra/perf` every few seconds (never faster) while connected; while the server
is down the checks back off (with jitter) up to a cap, and `reconnect_now()` skips the wait.
When the server comes back it is identified again (it may have restarted with another model).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import errors as E
from .events import ConnectionState, Event, Retrying, ServerChanged, StateChanged
from .retry import RetryPolicy

if TYPE_CHECKING:  # the client is given: no httpx import for the window that owns a monitor
    from .protocol import KoboldClient, ServerInfo

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 5.0
RECONNECT_POLICY = RetryPolicy(base_delay=1.0, max_delay=30.0, max_attempts=10**9)
#: Failures that checking again cannot fix: the automatic reconnect stops until asked.
WAIT_FOR_USER = (E.AuthenticationFailed, E.NotKoboldServer, E.InvalidURL, E.InvalidPassword,
                 E.TLSError)


class ConnectionMonitor:
    def __init__(
        self,
        client: KoboldClient,
        emit: Callable[[Event], None],
        *,
        interval: float = HEALTH_INTERVAL,
        policy: RetryPolicy = RECONNECT_POLICY,
    ) -> None:
        self.client = client
        self._emit = emit
        self.interval = interval
        self.policy = policy
        self.server: ServerInfo | None = None
        self.state = ConnectionState.OFFLINE
        self.last_error: E.KoboldError | None = None
        self.failures = 0
        self._wake = asyncio.Event()
        self._active = asyncio.Event()
        self._active.set()
        self._task: asyncio.Task[None] | None = None
        self._detail = ""

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    async def aclose(self) -> None:
        task = self._task
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the cancel was meant for our caller, not only for the monitor

    def reconnect_now(self) -> None:
        """Skip the current wait (the user asked, or a generation just failed to connect)."""
        self._wake.set()
        self._active.set()

    def pause(self) -> None:
        """A generation reports the state itself while it runs."""
        self._active.clear()

    def resume(self, state: ConnectionState | None = None) -> None:
        if state is not None:
            self.state = state
        self._active.set()
        self._wake.set()

    def _set(self, state: ConnectionState, detail: str = "") -> None:
        self.state = state
        self._emit(StateChanged(state, detail))

    async def _loop(self) -> None:
        self._set(ConnectionState.CONNECTING, self.client.url)
        while True:
            await self._active.wait()
            self._wake.clear()
            try:
                await self._check()
            except E.KoboldError as err:
                if not self._active.is_set():
                    continue  # a generation started meanwhile; it reports its own state
                self._failed(err)
                if isinstance(err, WAIT_FOR_USER):
                    # Retrying cannot fix these: wait for the user (new password or address,
                    # another server, a trusted certificate); reconnect_now() checks again.
                    await self._wait(None)
                    continue
                delay = self.policy.delay(self.failures)
                self._emit(Retrying(self.failures, 0, delay, err))
                await self._wait(delay)
                continue
            await self._wait(self.interval)

    async def _check(self) -> None:
        if self.server is None:
            if self.state != ConnectionState.CONNECTING:
                self._set(ConnectionState.CONNECTING, self.client.url)
            info = await self.client.connect()
            self.server = info
            self.failures = 0
            self.last_error = None
            self._emit(ServerChanged(info))
            self._set(ConnectionState.CONNECTED, info.model)
            return
        perf = await self.client.perf()
        self.failures = 0
        if not self._active.is_set():
            return
        detail = self.server.model
        if not perf.idle:
            detail += " (busy with another client" + (
                f", {perf.queue} queued)" if perf.queue else ")")
        if (self.state, detail) != (ConnectionState.CONNECTED, self._detail):
            self._detail = detail
            self._set(ConnectionState.CONNECTED, detail)

    def _failed(self, err: E.KoboldError) -> None:
        self.failures += 1
        self.last_error = err
        if self.server is not None:
            log.warning("lost the connection to %s: %s %s", self.client.url, err.message,
                        err.context)
        self.server = None
        self._emit(ServerChanged(None))
        self._detail = ""
        incompatible = isinstance(err, E.NotKoboldServer)
        self._set(ConnectionState.INCOMPATIBLE if incompatible else ConnectionState.OFFLINE,
                  err.message)

    async def _wait(self, seconds: float | None) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that arrives in the
        # same loop pass as the wake-up, and aclose() would then wait forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
