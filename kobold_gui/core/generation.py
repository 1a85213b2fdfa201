"""One generation end to end: send, stream, stop; report everything as typed events.

A face (window or terminal) creates a Generation, passes a callback, awaits `run()` in a task
and may call `stop()` at any time. `run()` never raises a KoboldError: it ends with Finished or
Failed, and the text received so far is always in the last event.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import aclosing
from typing import Any

from . import errors as E
from .events import (
    ConnectionState,
    Event,
    Failed,
    Finished,
    Started,
    StateChanged,
    Tokens,
)
from .protocol import KoboldClient
from .settings import build_body
from .stoptrim import StopTrimmer

log = logging.getLogger(__name__)

#: After Stop, how long to wait for the server's final event before closing the stream ourselves.
STOP_GRACE_SECONDS = 3.0


def new_genkey() -> str:
    """Unique and unguessable: `check` and `abort` by genkey must only ever touch our request."""
    return "KG" + uuid.uuid4().hex


class Generation:
    def __init__(
        self,
        client: KoboldClient,
        prompt: str,
        settings: Mapping[str, Any],
        emit: Callable[[Event], None],
        *,
        genkey: str | None = None,
    ) -> None:
        self.client = client
        self.genkey = genkey or new_genkey()
        # Validates now, so bad settings fail before anything is sent.
        self.body = build_body(prompt, settings, self.genkey)
        self._emit = emit
        stops = self.body.get("stop_sequence", []) if self.body.get("trim_stop", False) else []
        self._trimmer = StopTrimmer(stops)
        self._chunks: list[str] = []
        self.finish_reason: str | None = None
        self.started_at: float | None = None
        self.first_token_at: float | None = None
        self._stopping = False
        self._reader: asyncio.Task[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self.outcome: Finished | Failed | None = None

    @property
    def text(self) -> str:
        """Everything shown so far (joined on demand: appends stay O(1))."""
        if len(self._chunks) > 1:
            self._chunks[:] = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    @property
    def stopping(self) -> bool:
        return self._stopping

    # ------------------------------------------------------------------ public
    async def run(self) -> Finished | Failed:
        self.started_at = time.monotonic()
        self._emit(Started(self.genkey, "stream"))
        self._state(ConnectionState.CONNECTING, "sending the request")
        self._reader = asyncio.ensure_future(self._stream())
        try:
            await asyncio.shield(self._reader)
            outcome: Finished | Failed = Finished(
                self.text, self.finish_reason or "length", stopped=self._stopping
            )
        except asyncio.CancelledError:
            if not (self._stopping and self._reader.cancelled()):
                self._reader.cancel()
                raise
            outcome = Finished(self.text, "stopped", stopped=True)
        except E.KoboldError as err:
            log.warning("generation %s failed: %s %s", self.genkey, err.message, err.context)
            outcome = (Finished(self.text, "stopped", stopped=True) if self._stopping
                       else Failed(err, self.text))
        finally:
            if self._stop_task is not None and not self._stop_task.done():
                self._stop_task.cancel()
        self._state(ConnectionState.CONNECTED if not isinstance(outcome, Failed)
                    else ConnectionState.OFFLINE if isinstance(outcome.error, E.ConnectionFailed)
                    else ConnectionState.CONNECTED)
        self.outcome = outcome
        self._emit(outcome)
        return outcome

    def stop(self) -> None:
        """Abort on the server by genkey; keep the text; close the stream if the server dawdles."""
        if self._stopping or self.outcome is not None:
            return
        self._stopping = True
        self._stop_task = asyncio.ensure_future(self._abort_then_close())

    # ------------------------------------------------------------------ internals
    async def _abort_then_close(self) -> None:
        try:
            await asyncio.wait_for(self.client.abort(self.genkey), timeout=STOP_GRACE_SECONDS)
        except (E.KoboldError, TimeoutError) as err:
            log.info("abort of %s failed (%s); closing the stream instead", self.genkey, err)
            self._close_reader()
            return
        if self.first_token_at is None:
            # Never read a stream cancelled before it produced text: a request aborted while
            # queued replays the previous generation's text (1.76 bug).
            self._close_reader()
            return
        await asyncio.sleep(STOP_GRACE_SECONDS)
        self._close_reader()

    def _close_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()

    async def _stream(self) -> None:
        async with self.client.stream(self.body) as stream:
            self._state(ConnectionState.PROCESSING, "the server is reading the prompt")
            async with aclosing(stream.events()) as events:
                async for event in events:
                    if self.first_token_at is None:
                        self.first_token_at = time.monotonic()
                        self._state(ConnectionState.STREAMING)
                    self._append(self._trimmer.feed(event.token))
                    if event.final:
                        self._append(self._trimmer.flush())
                        self.finish_reason = "stop" if self._trimmer.hit else event.finish_reason

    def _append(self, text: str) -> None:
        if text:
            self._chunks.append(text)
            self._emit(Tokens(text))

    def _state(self, state: ConnectionState, detail: str = "") -> None:
        self._emit(StateChanged(state, detail))
