"""The single bridge between the asyncio core and Qt: owns the client and the running task.

Core events arrive through a callback on the qasync loop and leave as Qt signals. Streamed text
is batched and emitted at most once per frame, so the view's cost does not follow the token rate.
UI state changes synchronously in `generate()`/`stop()` (a task cancelled before its first step
never runs its own cleanup; see stack-notes pitfall 9). Every background task it starts (closing
an old client, asking for the final speed) is kept in one set and cancelled and awaited by
`aclose()`, so nothing outlives the window: no open socket, no coroutine left unawaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from ..core import errors as E
from ..core.events import (
    ConnectionState,
    Event,
    Failed,
    Finished,
    GenerationMode,
    Recovered,
    Retrying,
    ServerChanged,
    StateChanged,
    Tokens,
)
from ..core.generation import Generation, ResilienceConfig
from ..core.logs import register_secret
from ..core.monitor import ConnectionMonitor
from ..core.protocol import DEFAULT_URL, KoboldClient, ServerInfo
from ..core.transcript import Transcript

log = logging.getLogger(__name__)

FRAME_MS = 16


class Controller(QObject):
    #: (ConnectionState value, detail)
    state_changed = Signal(str, str)
    #: ServerInfo after a successful connect, None when the server is gone
    server_changed = Signal(object)
    #: a person-readable message about the last connection or generation problem
    error = Signal(str)
    #: (prompt, continues): `continues` when the prompt is the story so far, carried on
    generation_started = Signal(str, bool)
    #: batched generated text, in order
    text_appended = Signal(str)
    #: text recovered from the server after a broken stream
    text_recovered = Signal(str)
    #: core Retrying event
    retrying = Signal(object)
    #: core Finished event
    generation_finished = Signal(object)
    #: core Failed event
    generation_failed = Signal(object)
    busy_changed = Signal(bool)
    #: generated tokens per second (estimate while streaming, server's figure at the end)
    speed_changed = Signal(float)
    #: the address or password was refused before anything was sent (a KoboldError)
    input_rejected = Signal(object)

    def __init__(self, url: str = DEFAULT_URL, password: str | None = None,
                 parent: QObject | None = None, *,
                 config: ResilienceConfig | None = None,
                 health_interval: float | None = None) -> None:
        super().__init__(parent)
        self.config = config or ResilienceConfig()
        self._health_interval = health_interval
        self._client: KoboldClient | None = None
        self._monitor: ConnectionMonitor | None = None
        #: "poll" once a server turned out unable to stream
        self._mode: GenerationMode = "stream"
        self._task: asyncio.Task[Any] | None = None
        self._generation: Generation | None = None
        self._pending: list[str] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FRAME_MS)
        self._flush_timer.timeout.connect(self._flush)
        self.server: ServerInfo | None = None
        self.state = ConnectionState.OFFLINE
        self.url = url
        self.password = password
        self._stream_chars = 0
        self._stream_events = 0
        #: the session: prompts, generated and recovered spans
        self.transcript = Transcript()
        #: background work this controller owns (see `_spawn`); awaited by `aclose()`
        self._tasks: set[asyncio.Task[Any]] = set()
        #: the subset that must run to its end (closing an old client), never cancelled
        self._finishing: set[asyncio.Task[Any]] = set()
        self._closing = False

    def _spawn(self, coro: Coroutine[Any, Any, Any], *, must_finish: bool = False) -> None:
        """Run `coro` as a task this controller owns; optional work is dropped once closing."""
        if self._closing and not must_finish:
            coro.close()  # never started, so never "never awaited"
            return
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        if must_finish:
            self._finishing.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._finishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # ------------------------------------------------------------------ connection
    @property
    def client(self) -> KoboldClient | None:
        return self._client

    def connect_to(self, url: str, password: str | None = None) -> None:
        """(Re)connect: a client for `url`, and a monitor that keeps its state true."""
        register_secret(password)
        try:
            client = KoboldClient(url, password)
        except E.KoboldError as err:
            # Refused before anything was sent (a bad address or password): say so, and do not
            # pretend to connect. The window shows it at the field.
            self._set_state(ConnectionState.OFFLINE, err.message)
            self.input_rejected.emit(err)
            self.error.emit(err.message)
            return
        old_client, old_monitor = self._client, self._monitor
        self._client, self.url, self.password = client, client.url, password
        self._mode = "stream"
        if self.server is not None:
            self.server = None
            self.server_changed.emit(None)  # the old server's model, context and speed go
        if self._health_interval is None:
            self._monitor = ConnectionMonitor(client, self._on_monitor_event)
        else:
            self._monitor = ConnectionMonitor(client, self._on_monitor_event,
                                              interval=self._health_interval)
        if old_monitor is not None or old_client is not None:
            self._spawn(self._close_old(old_monitor, old_client), must_finish=True)
        if not self.busy:
            self._monitor.start()

    async def _close_old(self, monitor: ConnectionMonitor | None,
                         client: KoboldClient | None) -> None:
        if monitor is not None:
            await monitor.aclose()
        if client is not None and not (self.busy and self._generation is not None
                                       and self._generation.client is client):
            await client.aclose()

    def reconnect_now(self) -> None:
        """Try the server again now (the user pressed "Reconnect now" or Ctrl+R).

        While connected this identifies the server afresh (it may have restarted with another
        model), so the answer is always a new state: connected or the reason why not.
        """
        if self.busy:
            return  # the running generation reports the state, and owns the client
        if self._monitor is None or self.server is not None:
            self.connect_to(self.url, self.password)
        else:
            self._monitor.start()
            self._monitor.reconnect_now()

    def _on_monitor_event(self, event: Event) -> None:
        if isinstance(event, ServerChanged):
            info = event.info
            self.server = info
            self.server_changed.emit(info)
            if event.info is None and self._monitor is not None and self._monitor.last_error:
                self.error.emit(self._monitor.last_error.message)
        elif self.busy:
            return  # the running generation reports the state
        elif isinstance(event, StateChanged):
            self._set_state(event.state, event.detail)
        elif isinstance(event, Retrying):
            self.retrying.emit(event)

    # ------------------------------------------------------------------ generation
    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def generate(self, prompt: str, settings: Mapping[str, Any], *,
                 continues: bool = False) -> bool:
        """Start a generation; False (and an `error` signal) if it cannot start.

        `continues`: the prompt is the story so far (Continue), already in the transcript.
        """
        if self.busy:
            return False
        if self._client is None:
            self.connect_to(self.url, self.password)
            if self._client is None:
                return False
        try:
            generation = Generation(self._client, prompt, settings, self._on_event,
                                    config=self.config, mode=self._mode)
        except E.KoboldError as err:
            self.error.emit(err.message)
            return False
        if self._monitor is not None:
            self._monitor.pause()
        self._generation = generation
        self._stream_chars = 0
        self._stream_events = 0
        self.busy_changed.emit(True)
        if not continues:
            self.transcript.add("prompt", prompt)
        self.generation_started.emit(prompt, continues)
        self._task = asyncio.ensure_future(generation.run())
        self._task.add_done_callback(self._on_done)
        return True

    def new_transcript(self) -> None:
        """Start an empty session document (the window's Clear Output)."""
        self.transcript = Transcript()

    def stop(self) -> None:
        """Stop the generation, or cancel its pending retry; the text so far is kept."""
        if self._generation is not None and self.busy:
            self._generation.stop()

    cancel_retry = stop

    @property
    def generation(self) -> Generation | None:
        return self._generation

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Tokens):
            self._pending.append(event.text)
            self._stream_chars += len(event.text)
            self._stream_events += 1
            if not self._flush_timer.isActive():
                self._flush_timer.start()
        elif isinstance(event, Recovered):
            self._flush()
            self.transcript.add("recovered", event.text)
            self.text_recovered.emit(event.text)
        elif isinstance(event, StateChanged):
            self._set_state(event.state, event.detail)
        elif isinstance(event, Retrying):
            self.retrying.emit(event)
        elif isinstance(event, Finished | Failed):
            self._flush()
            # Outcome signals are sent from the done-callback, after the task has ended.

    def _flush(self) -> None:
        self._flush_timer.stop()
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self.transcript.add("generated", text)
            self.text_appended.emit(text)
            self._emit_speed()

    def _emit_speed(self) -> None:
        g = self._generation
        if g is None or g.first_token_at is None:
            return
        span = time.monotonic() - g.first_token_at
        if span > 0.25 and self._stream_events > 1:
            # KoboldCPP sends about one token per event on real models.
            self.speed_changed.emit(self._stream_events / span)

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._flush()
        self.busy_changed.emit(False)
        g = self._generation
        if g is not None and g.mode == "poll":
            self._mode = "poll"  # do not try streaming again on this server
        if self._monitor is not None:
            self._monitor.start()
            self._monitor.resume(self.state)
        if task.cancelled():
            g = self._generation
            self.generation_finished.emit(Finished(g.text if g else "", "stopped", stopped=True))
            return
        exc = task.exception()
        if exc is not None:
            log.error("generation task crashed", exc_info=exc)
            self.generation_failed.emit(Failed(E.KoboldError(f"Internal error: {exc}"),
                                               self._generation.text if self._generation else ""))
            return
        outcome = task.result()
        if isinstance(outcome, Failed):
            self.error.emit(outcome.error.message)
            self.generation_failed.emit(outcome)
        else:
            self.generation_finished.emit(outcome)
            if not outcome.stopped and g is not None:
                self._spawn(self._final_speed(g.client))

    async def _final_speed(self, client: KoboldClient) -> None:
        """The server knows the real speed of the last generation (ms per token)."""
        try:
            perf = await client.perf()
        except (E.KoboldError, RuntimeError):  # RuntimeError: the user switched servers
            return
        if perf.last_eval > 0 and client is self._client:
            self.speed_changed.emit(1000.0 / perf.last_eval)

    def _set_state(self, state: ConnectionState, detail: str = "") -> None:
        self.state = state
        self.state_changed.emit(state.value, detail)

    # ------------------------------------------------------------------ shutdown
    async def aclose(self) -> None:
        """Stop what runs, wait for it and for every task it owns, close the client (call
        before the loop closes)."""
        self._closing = True
        if self.busy:
            assert self._generation is not None and self._task is not None
            self._generation.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5.0)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        await asyncio.sleep(0)  # let the generation's done-callback run while we are here
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                if task not in self._finishing:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
        if self._monitor is not None:
            await self._monitor.aclose()
        self._flush_timer.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        # A request cancelled above leaves httpcore's body reader to the loop's async-generator
        # finaliser, which schedules its close as a task: let it run while the loop still does.
        for _ in range(3):
            await asyncio.sleep(0)
