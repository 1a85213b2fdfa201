"""One generation end to end: send, stream, watch, recover, retry, stop; typed events out.

A face (window or terminal) creates a Generation with a callback, awaits `run()` in a task and may
call `stop()` at any time. `run()` never raises a KoboldError: it ends with Finished or Failed,
and every piece of text the server generated for us is in that last event.

The rules that make it resilient:
- Every request carries a fresh genkey, so `check` and `abort` only ever touch our text.
- Text can arrive from the stream or from `check` (cumulative); both are merged by length into
  one raw text per request, so nothing is shown twice and nothing is skipped.
- Silence is not failure: after `stall_after` seconds we ask the server (`perf`, `check`) whether
  it is queueing, reading the prompt, generating behind a buffering proxy, or really stuck.
- A stream that breaks before its final event is recovered through `check`, then continued with
  a new request whose prompt ends with the recovered text.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from . import errors as E
from .events import (
    ConnectionState,
    Event,
    Failed,
    Finished,
    Recovered,
    Retrying,
    Started,
    StateChanged,
    Tokens,
)
from .protocol import KoboldClient, Perf
from .retry import RetryPolicy
from .settings import build_body
from .stoptrim import StopTrimmer

log = logging.getLogger(__name__)


def new_genkey() -> str:
    """Unique and unguessable: `check` and `abort` by genkey must only ever touch our request."""
    return "KG" + uuid.uuid4().hex


@dataclass(frozen=True)
class ResilienceConfig:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: seconds without an event before asking the server what is going on (never an abort)
    stall_after: float = 5.0
    #: how often `check` is polled when the stream cannot be used
    poll_interval: float = 0.5
    #: after Stop, how long to wait for the server's final event before closing the stream
    stop_grace: float = 3.0
    #: before sending, wait at most this long for the server to finish other work
    idle_wait: float = 30.0
    #: recover and continue after a broken stream (off: fail with the text so far)
    recover: bool = True

    @classmethod
    def from_options(cls, retries: int, retry_max_delay: float, stall_after: float = 5.0,
                     recover: bool = True) -> ResilienceConfig:
        """From command-line values, clamped to what makes sense (shared by both faces)."""
        return cls(
            retry=RetryPolicy(max_attempts=max(0, retries), max_delay=max(0.1, retry_max_delay)),
            stall_after=max(0.5, stall_after), recover=recover,
        )


class _Stopped(E.KoboldError):
    """Internal: the user pressed Stop while something was being awaited."""


class _Request:
    """One HTTP generation request: the first one, or a continuation after a break."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.genkey: str = body["genkey"]
        self.stream_raw = ""  # what the stream delivered
        self.raw = ""  # what was taken into the text (stream or check, whichever was ahead)
        self.headers = False
        self.last_event_at = time.monotonic()
        self.polling = False
        self.finish_reason: str | None = None
        self.sent = False
        #: the server's completed-generation count when it was last seen idle before sending
        self.gens_before: int | None = None
        #: what the server said at the end of recovering this request (perf, check text)
        self.recovered_perf: Perf | None = None
        self.recovered_check = ""

    @property
    def max_length(self) -> int:
        return int(self.body.get("max_length", 0))


class Generation:
    def __init__(
        self,
        client: KoboldClient,
        prompt: str,
        settings: Mapping[str, Any],
        emit: Callable[[Event], None],
        *,
        config: ResilienceConfig | None = None,
        mode: str = "stream",
    ) -> None:
        self.client = client
        self.config = config or ResilienceConfig()
        self.prompt = prompt
        # Validates now, so bad settings fail before anything is sent.
        self._request = _Request(build_body(prompt, settings, new_genkey()))
        self.genkey = self._request.genkey
        self.requests: list[_Request] = [self._request]
        self.mode = mode
        self._emit = emit
        body = self._request.body
        self._trimmer = StopTrimmer(body.get("stop_sequence", []) if body.get("trim_stop") else [])
        self._chunks: list[str] = []
        self._length = 0
        self.recovered: list[tuple[int, int]] = []
        self.finish_reason: str | None = None
        self.started_at: float | None = None
        self.first_token_at: float | None = None
        self.outcome: Finished | Failed | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._cancel_reason: E.KoboldError | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._recovery_pending: _Request | None = None
        self._state: tuple[ConnectionState, str] | None = None

    # ------------------------------------------------------------------ public
    @property
    def text(self) -> str:
        """Everything shown so far (joined on demand: appends stay O(1))."""
        if len(self._chunks) > 1:
            self._chunks[:] = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Abort on the server by genkey and keep the text; cancels a pending retry too."""
        if self._stopping or self.outcome is not None:
            return
        self._stopping = True
        self._stop_event.set()
        if self._reader is not None and not self._reader.done():
            self._stop_task = asyncio.ensure_future(self._abort_then_close(self._request))

    async def run(self) -> Finished | Failed:
        self.started_at = time.monotonic()
        self._emit(Started(self.genkey, self.mode))
        try:
            outcome = await self._run()
        finally:
            if self._stop_task is not None and not self._stop_task.done():
                self._stop_task.cancel()
        if isinstance(outcome, Failed) and isinstance(outcome.error, E.ConnectionFailed):
            self._set_state(ConnectionState.OFFLINE, outcome.error.message)
        else:
            self._set_state(ConnectionState.CONNECTED)
        self.outcome = outcome
        self._emit(outcome)
        return outcome

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> Finished | Failed:
        attempt = 0
        while True:
            progress = self._length
            try:
                if self._stopping:
                    raise _Stopped("stopped")
                pending = self._recovery_pending
                if pending is not None:
                    await self._recover(pending)
                    if self._complete(pending):
                        return self._finished()
                    self._continue_after(pending)
                await self._wait_until_idle()
                await self._send(self._request)
                return self._finished()
            except _Stopped:
                return self._finished()
            except E.EndpointMissing as err:
                if self.mode == "stream" and str(err.context.get("endpoint", "")).endswith(
                    "/stream"
                ):
                    log.info("%s has no stream endpoint; polling instead", self.client.url)
                    self.mode = "poll"
                    continue
                return Failed(err, self.text, tuple(self.recovered))
            except E.KoboldError as err:
                broke_midway = False
                self._log_failure(err, attempt)
                if self._stopping:
                    return self._finished()
                error = err
                req = self._request
                broke_midway = isinstance(err, E.StreamInterrupted) or (
                    req.headers and isinstance(err, E.ConnectionFailed | E.ProtocolError
                                               | E.ServerError))
                if broke_midway and self._recovery_pending is None:
                    if not self.config.recover:
                        return Failed(err, self.text, tuple(self.recovered))
                    # The server may hold text we never received: fetch it before going on.
                    self._recovery_pending = req
            if self._length > progress:
                attempt = 0  # progress was made: the budget of attempts starts again
            attempt += 1
            retryable = error.retryable or broke_midway
            if not retryable or attempt > self.config.retry.max_attempts:
                return Failed(error, self.text, tuple(self.recovered))
            if broke_midway and attempt == 1:
                continue  # first break since the last progress: recover at once, no waiting
            delay = self.config.retry.delay(attempt)
            self._emit(Retrying(attempt, self.config.retry.max_attempts, delay, error))
            self._set_state(ConnectionState.RETRYING,
                            f"{error.message}; attempt {attempt} of "
                            f"{self.config.retry.max_attempts} in {delay:.1f} s")
            if await self._sleep(delay):
                return self._finished()

    def _finished(self) -> Finished | Failed:
        self._append_shown(self._trimmer.flush(), recovered=False)
        if self._stopping:
            if not self._length and not any(r.sent for r in self.requests):
                return Failed(E.Cancelled("Cancelled before anything was generated"), "")
            return Finished(self.text, "stopped", True, tuple(self.recovered), self.mode)
        reason = "stop" if self._trimmer.hit else (self.finish_reason or "length")
        return Finished(self.text, reason, False, tuple(self.recovered), self.mode)

    # ------------------------------------------------------------------ sending
    async def _wait_until_idle(self) -> None:
        """Send only to an idle server: right after a Stop it is still finishing (503 risk)."""
        deadline = time.monotonic() + self.config.idle_wait
        while True:
            try:
                perf = await self.client.perf()
            except (E.EndpointMissing, E.ProtocolError, E.NotKoboldServer):
                return  # no perf endpoint: just send
            if perf.idle or time.monotonic() > deadline:
                self._request.gens_before = perf.total_gens if perf.idle else None
                return
            self._set_state(ConnectionState.QUEUED,
                            "waiting for the server to finish another generation"
                            + (f" ({perf.queue} queued)" if perf.queue else ""))
            if await self._sleep(min(0.25, self.config.poll_interval)):
                raise _Stopped("stopped")

    async def _send(self, req: _Request) -> None:
        self._set_state(ConnectionState.CONNECTING, "sending the request")
        self._cancel_reason = None
        if self.mode == "poll":
            reader = asyncio.ensure_future(self._read_polling(req))
            watchdog = None
        else:
            reader = asyncio.ensure_future(self._read_stream(req))
            watchdog = asyncio.ensure_future(self._watch(req, reader))
        self._reader = reader
        if self._stopping and self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self._abort_then_close(req))
        try:
            await reader
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if reader.cancelled() and self._cancel_reason is not None and (
                task is None or not task.cancelling()
            ):
                raise self._cancel_reason from None
            reader.cancel()
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
        if req.finish_reason is not None:
            self.finish_reason = req.finish_reason

    async def _read_stream(self, req: _Request) -> None:
        req.sent = True
        async with self.client.stream(req.body) as stream:
            req.headers = True
            req.last_event_at = time.monotonic()
            if not req.raw:
                self._set_state(ConnectionState.PROCESSING, "the server is reading the prompt")
            async with aclosing(stream.events()) as events:
                async for event in events:
                    req.last_event_at = time.monotonic()
                    req.stream_raw += event.token
                    if req.polling and len(req.stream_raw) >= len(req.raw):
                        req.polling = False  # the stream caught up: stop polling check
                    if len(req.stream_raw) > len(req.raw):
                        if not req.polling:
                            self._set_state(ConnectionState.STREAMING)
                        self._take(req, req.stream_raw)
                    if event.final:
                        req.finish_reason = event.finish_reason
                        return

    async def _read_polling(self, req: _Request) -> None:
        """For servers that cannot stream: synchronous generate, with `check` for live text."""
        req.sent = True
        req.headers = True
        self._set_state(ConnectionState.STREAMING, "polling: this server cannot stream")
        call = asyncio.ensure_future(self.client.generate(req.body))
        try:
            while not call.done():
                await asyncio.wait({call}, timeout=self.config.poll_interval)
                if call.done():
                    break
                try:
                    self._take(req, await self.client.check(req.genkey))
                except E.KoboldError as err:
                    log.debug("check while polling failed: %s", err)
            result = call.result()
        finally:
            if not call.done():
                call.cancel()
        try:
            final = await self.client.check(req.genkey)
        except E.KoboldError:
            final = ""
        # `check` holds the untrimmed text; the result may be trimmed by the server.
        self._take(req, final if len(final) >= len(result.text) else result.text)
        req.finish_reason = result.finish_reason

    # ------------------------------------------------------------------ watching silence
    async def _watch(self, req: _Request, reader: asyncio.Task[None]) -> None:
        """Tell a queue, a long prompt, a buffering proxy and a dead stream apart."""
        cfg = self.config
        done_seen = 0  # probes in a row that found the server done with our request
        ahead_seen = 0  # probes in a row that found `check` ahead of a silent stream
        last_growth = time.monotonic()
        while not reader.done():
            silent = time.monotonic() - req.last_event_at
            if silent < cfg.stall_after and not req.polling:
                await asyncio.sleep(min(cfg.stall_after - silent + 0.01, cfg.poll_interval))
                continue
            seen = req.last_event_at
            try:
                perf = await self.client.perf()
                text = await self.client.check(req.genkey)
            except E.KoboldError as err:
                log.info("stall probe failed: %s", err)
                await asyncio.sleep(cfg.poll_interval)
                continue
            if req.last_event_at != seen and not req.polling:
                done_seen = ahead_seen = 0
                continue  # the stream spoke while we asked: these answers are already stale
            now = time.monotonic()
            silent = now - req.last_event_at
            if len(text) > len(req.raw):
                done_seen = 0
                ahead_seen += 1
                last_growth = now
                if req.headers and not req.polling and ahead_seen >= 2:
                    # Twice ahead with no event in between: not a race, the stream is held back.
                    req.polling = True
                    log.warning("stream %s delivers nothing while the server generates: "
                                "polling check (a buffering proxy?)", req.genkey)
                if req.polling:
                    self._set_state(ConnectionState.STREAMING, "the stream is held back "
                                    "(a buffering proxy?); polling the text")
                else:
                    self._set_state(ConnectionState.STREAMING)
                self._take(req, text)
            elif self._server_done(req, perf, text):
                ahead_seen = 0
                done_seen += 1
                if done_seen >= 2 and now - max(req.last_event_at, last_growth) >= cfg.stall_after:
                    self._cancel_reason = E.StreamInterrupted(
                        "The server finished but the stream never ended",
                        url=self.client.url, genkey=req.genkey)
                    reader.cancel()
                    return
            else:
                done_seen = ahead_seen = 0
                if not req.headers:
                    self._set_state(ConnectionState.QUEUED,
                                    f"waiting in the server's queue ({perf.queue} waiting)")
                elif not req.raw:
                    self._set_state(ConnectionState.PROCESSING,
                                    f"the server is reading the prompt ({int(silent)} s)")
                elif not req.polling:
                    self._set_state(ConnectionState.STALLED,
                                    f"no new text for {int(silent)} s; the server is busy")
            await asyncio.sleep(cfg.poll_interval)

    @staticmethod
    def _server_done(req: _Request, perf: Perf, check_text: str) -> bool:
        """Is the server finished with `req`? Idle, or (with its text in hand) one more
        completed generation than before we sent it, though a stuck writer still holds the lock.
        """
        if perf.idle:
            return True
        return bool(check_text) and req.gens_before is not None and (
            perf.total_gens > req.gens_before)

    # ------------------------------------------------------------------ recovery
    async def _recover(self, req: _Request) -> None:
        """Take every character the server generated for `req` (via check) into the text."""
        self._recovery_pending = req
        self._set_state(ConnectionState.RECOVERING, "fetching the text the server generated")
        deadline = time.monotonic() + max(10.0, self.config.stall_after * 2)
        while True:
            before = len(req.raw)
            # perf first: if it says the server is done, the check that follows is complete.
            perf = await self.client.perf()
            text = await self.client.check(req.genkey)
            self._take(req, text, recovered=True)
            if len(req.raw) > before:
                deadline = time.monotonic() + max(10.0, self.config.stall_after * 2)
            if self._server_done(req, perf, text) or time.monotonic() > deadline:
                break
            if await self._sleep(self.config.poll_interval):
                raise _Stopped("stopped")
        self._recovery_pending = None
        req.recovered_perf = perf
        req.recovered_check = text

    def _complete(self, req: _Request) -> bool:
        """Did the broken request already produce everything it was asked for?"""
        if self._trimmer.hit or req.finish_reason is not None:
            return True
        return self._remaining(req) <= 0

    def _remaining(self, req: _Request) -> int:
        perf, check_text = req.recovered_perf, req.recovered_check
        if perf is not None and check_text and self._server_done(req, perf, check_text):
            generated = perf.last_token_count  # the server's last generation was ours
            if perf.stop_reason == 1:
                return 0  # it ended on end-of-sequence: nothing more to generate
        else:
            # The server lost it (restart): estimate from what we hold, about 4 chars a token.
            generated = max(len(req.raw) // 4, 1 if req.raw else 0)
        return req.max_length - generated

    def _continue_after(self, req: _Request) -> None:
        """Next request: the same settings, the prompt extended by all text so far."""
        remaining = self._remaining(req)
        raw_total = "".join(r.raw for r in self.requests)
        body = dict(req.body)
        body.update(prompt=self.prompt + raw_total, max_length=remaining, genkey=new_genkey())
        self._request = _Request(body)
        self.requests.append(self._request)
        log.info("continuing generation %s as %s for %d more tokens", self.genkey,
                 self._request.genkey, remaining)

    # ------------------------------------------------------------------ stop
    async def _abort_then_close(self, req: _Request) -> None:
        try:
            async with asyncio.timeout(self.config.stop_grace):
                await self.client.abort(req.genkey)
        except (E.KoboldError, TimeoutError) as err:
            log.info("abort of %s failed (%s); closing the stream instead", req.genkey, err)
            self._close_reader()
            return
        if not req.raw:
            # Never read a stream cancelled before it produced text: a request aborted while
            # queued replays the previous generation's text (1.76 bug).
            self._close_reader()
            return
        await asyncio.sleep(self.config.stop_grace)
        self._close_reader()

    def _close_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._cancel_reason = _Stopped("stopped")
            self._reader.cancel()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless Stop is pressed; True if it was."""
        try:
            async with asyncio.timeout(seconds):  # not wait_for: it can swallow a cancel (3.11)
                await self._stop_event.wait()
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------------ text
    def _take(self, req: _Request, cumulative_raw: str, recovered: bool = False) -> None:
        """Merge a cumulative view of `req`'s raw text; only what is new gets shown."""
        if len(cumulative_raw) <= len(req.raw):
            return
        if not cumulative_raw.startswith(req.raw):
            log.warning("text sources disagree for %s; keeping what was shown", req.genkey)
        new = cumulative_raw[len(req.raw):]
        req.raw = cumulative_raw
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        self._append_shown(self._trimmer.feed(new), recovered)

    def _append_shown(self, text: str, recovered: bool) -> None:
        if not text:
            return
        start = self._length
        self._chunks.append(text)
        self._length += len(text)
        if recovered:
            if self.recovered and self.recovered[-1][1] == start:
                self.recovered[-1] = (self.recovered[-1][0], self._length)
            else:
                self.recovered.append((start, self._length))
            self._emit(Recovered(text))
        else:
            self._emit(Tokens(text))

    # ------------------------------------------------------------------ reporting
    def _set_state(self, state: ConnectionState, detail: str = "") -> None:
        if (state, detail) != self._state:
            self._state = (state, detail)
            self._emit(StateChanged(state, detail))

    def _log_failure(self, err: E.KoboldError, attempt: int) -> None:
        elapsed = time.monotonic() - (self.started_at or time.monotonic())
        log.warning("generation %s (request %s) failed: %s | attempt=%d elapsed=%.2fs %s",
                    self.genkey, self._request.genkey, err.message, attempt, elapsed, err.context)
