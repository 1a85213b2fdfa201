"""One generation end to end: send, stream, watch, recover, retry, stop; typed events out.

A face (window or terminal) creates a Generation with a callback, awaits `run()` in a task and may
call `stop()` at any time. `run()` never raises a KoboldError: it ends with Finished or Failed,
and every piece of text the server generated for us is in that last event.

The rules that make it resilient:
- Every request carries a fresh genkey, so `check` and `abort` only ever touch our text.
- Text can arrive from the stream or from `check` (cumulative); both are merged into one raw text
  per request (`textmerge`), so nothing is shown twice and nothing is skipped. An event the client
  cannot read is made good at once from `check`; when a generation ends (or is stopped) the
  server's record is taken once more, so text generated but never received is still kept.
- The decisions are pure and table-tested: `stall` (what silence means), `recovery` (is a broken
  request complete, how many tokens remain, why did it end) and `textmerge`. This module only
  drives them: the requests, the readers and the watch.
- Silence is not failure: after `stall_after` seconds we ask the server (`perf`, `check`) whether
  it is queueing, reading the prompt, generating behind a buffering proxy, or really stuck.
- A stream that breaks before its final event is recovered through `check`, then continued with
  a new request whose prompt ends with the recovered text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors as E
from .events import (
    ConnectionState,
    Event,
    Failed,
    Finished,
    GenerationMode,
    Recovered,
    Retrying,
    Started,
    StateChanged,
    Tokens,
)
from .recovery import (
    ServerFacts,
    continuation_body,
    event_limit,
    finish_reason,
    perf_is_ours,
    remaining_tokens,
)
from .retry import RetryPolicy
from .settings import build_body
from .stall import Probe, StallWatch, Verdict, describe, server_done
from .stoptrim import StopTrimmer
from .textmerge import RequestText, ShownText

if TYPE_CHECKING:  # the client comes from the caller: importing httpx here would cost ~30 ms
    from .protocol import KoboldClient, Perf, StreamEvent

log = logging.getLogger(__name__)


#: after an abort the server reported done, how long to keep reading for the final event
STOP_READ_GRACE = 0.3


def new_genkey() -> str:
    """Unique and unguessable: `check` and `abort` by genkey must only ever touch our request."""
    import uuid  # here, not at import: it is not needed to start the window

    return "KG" + uuid.uuid4().hex


@dataclass(frozen=True)
class ResilienceConfig:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: seconds without an event before asking the server what is going on (never an abort)
    stall_after: float = 5.0
    #: how often `check` is polled when the stream cannot be used
    poll_interval: float = 0.5
    #: after Stop, how long the abort may take, and how long check is asked for the text the
    #: server generated until the abort took effect
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


class _Oversized(E.ProtocolError):
    """Internal: the stream sent more events than `max_length` tokens can make."""


class _Request:
    """One HTTP generation request: the first one, or a continuation after a break."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.genkey: str = body["genkey"]
        #: the raw text the server generated for this request, as far as we received it
        self.text = RequestText()
        self.headers = False
        self.last_event_at = time.monotonic()
        self.polling = False
        #: the stream's (or sync reply's) finish_reason; None until the request ended
        self.finish_reason: str | None = None
        self.sent = False
        #: events read from the stream, and events that could not be read
        self.events = 0
        self.unreadable_events = 0
        #: the server's completed-generation count when it was last seen idle before sending
        self.gens_before: int | None = None
        #: what perf said about this request once it ended (None: not asked or no answer)
        self.facts: ServerFacts | None = None
        #: the abort after Stop found this request running on the server (not queued)
        self.abort_running = False

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
        mode: GenerationMode = "stream",
    ) -> None:
        self.client = client
        self.config = config or ResilienceConfig()
        self.prompt = prompt
        # Validates now, so bad settings fail before anything is sent.
        self._request = _Request(build_body(prompt, settings, new_genkey()))
        self.genkey = self._request.genkey
        self.requests: list[_Request] = [self._request]
        self.mode: GenerationMode = mode
        self._emit = emit
        body = self._request.body
        self._trimmer = StopTrimmer(body.get("stop_sequence", []) if body.get("trim_stop") else [])
        self._shown = ShownText()
        #: stream events taken since the last Tokens (their text may have been held back)
        self._unshown_events = 0
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
        self._warnings: list[str] = []

    # ------------------------------------------------------------------ public
    @property
    def text(self) -> str:
        """Everything shown so far (joined on demand: appends stay O(1))."""
        return self._shown.text

    @property
    def recovered(self) -> list[tuple[int, int]]:
        return self._shown.recovered

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
        if isinstance(outcome, Failed) and isinstance(outcome.error, E.NotKoboldServer):
            self._set_state(ConnectionState.INCOMPATIBLE, outcome.error.message)
        elif isinstance(outcome, Failed) and isinstance(outcome.error, E.ConnectionFailed):
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
            progress = self._shown.length
            try:
                if self._stopping:
                    raise _Stopped("stopped")
                pending = self._recovery_pending
                if pending is not None:
                    await self._recover(pending)
                    if await self._complete(pending):
                        return await self._finished()
                    await self._continue_after(pending)
                await self._wait_until_idle()
                await self._send(self._request)
                if not self._stopping:
                    await self._settle(self._request)
                return await self._finished()
            except _Stopped:
                return await self._finished()
            except _Oversized as err:
                log.warning("%s", err.message)
                return await self._give_up_oversized(err)
            except E.EndpointMissing as err:
                if self.mode == "stream" and str(err.context.get("endpoint", "")).endswith(
                    "/stream"
                ):
                    log.info("%s has no stream endpoint; polling instead", self.client.url)
                    self.mode = "poll"
                    continue
                return self._failed(err)
            except E.KoboldError as err:
                broke_midway = False
                self._log_failure(err, attempt)
                if self._stopping:
                    return await self._finished()
                error = err
                req = self._request
                broke_midway = isinstance(err, E.StreamInterrupted) or (
                    req.headers and isinstance(err, E.ConnectionFailed | E.ProtocolError
                                               | E.ServerError))
                if broke_midway and self._recovery_pending is None:
                    if not self.config.recover:
                        return self._failed(err)
                    # The server may hold text we never received: fetch it before going on.
                    self._recovery_pending = req
            if self._shown.length > progress:
                attempt = 0  # progress was made: the budget of attempts starts again
            attempt += 1
            retryable = error.retryable or broke_midway
            if not retryable or attempt > self.config.retry.max_attempts:
                return self._failed(error)
            if broke_midway and attempt == 1:
                continue  # first break since the last progress: recover at once, no waiting
            delay = self.config.retry.delay(attempt)
            self._emit(Retrying(attempt, self.config.retry.max_attempts, delay, error))
            self._set_state(ConnectionState.RETRYING,
                            f"{error.message}; attempt {attempt} of "
                            f"{self.config.retry.max_attempts} in {delay:.1f} s")
            if await self._sleep(delay):
                return await self._finished()

    async def _finished(self) -> Finished | Failed:
        req = self._request
        if self._stopping:
            await self._keep_after_abort(req)
        self._show(self._trimmer.flush(), recovered=False)
        warnings = self._collect_warnings()
        if self._stopping:
            if not self._shown.length and not any(r.sent for r in self.requests):
                return Failed(E.Cancelled("Cancelled before anything was generated"), "")
            return Finished(self.text, "stopped", True, tuple(self.recovered), self.mode,
                            warnings)
        reason = finish_reason(req.finish_reason, req.facts, self._trimmer.hit)
        return Finished(self.text, reason, False, tuple(self.recovered), self.mode, warnings)

    def _failed(self, error: E.KoboldError) -> Failed:
        self._show(self._trimmer.flush(), recovered=False)
        return Failed(error, self.text, tuple(self.recovered))

    def _collect_warnings(self) -> tuple[str, ...]:
        out = list(self._warnings)
        for r in self.requests:
            if r.text.divergence is not None:
                out.append(f"{r.text.divergence}; the text shown was kept")
            if r.text.gaps:
                out.append(f"the text of {r.text.gaps} unreadable stream event(s) is missing: "
                           "the server's record could not supply it")
        return tuple(out)

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

    async def _read_stream(self, req: _Request) -> None:
        req.sent = True
        limit = event_limit(req.max_length)
        async with self.client.stream(req.body) as stream:
            req.headers = True
            req.last_event_at = time.monotonic()
            if not req.text.length:
                self._set_state(ConnectionState.PROCESSING, "the server is reading the prompt")
            last_resync = 0.0
            # One network read at a time: its readable events come merged (`count`), so a
            # flood costs one merge, one trim and one Tokens per read, not per event. The
            # merge stops at the event limit, so an endless stream is cut exactly there.
            async with aclosing(stream.batches(cut_after=limit + 1)) as batches:
                async for batch in batches:
                    now = req.last_event_at = time.monotonic()
                    for event in batch:
                        if await self._on_stream_event(req, event, now, last_resync):
                            last_resync = now
                        if event.final:
                            req.finish_reason = event.finish_reason
                            return
                        if (max(req.events, req.unreadable_events) > limit
                                and not self._stopping):
                            raise _Oversized(
                                f"The server sent {req.events} events for at most "
                                f"{req.max_length} tokens without ending the stream; "
                                "stopped reading it",
                                url=self.client.url, genkey=req.genkey, events=req.events)

    async def _on_stream_event(self, req: _Request, event: StreamEvent, now: float,
                               last_resync: float) -> bool:
        """Take one (merged) stream event; True when the server's record was asked."""
        if event.unreadable is not None:
            req.unreadable_events += 1
            # Its text is lost on the wire but not on the server: take it from there.
            req.text.lose_stream_position()
            log.warning("unreadable stream event (%s) for %s; resynchronising "
                        "from the server's record", event.unreadable, req.genkey)
            await self._resync(req)
            return True
        req.events += event.count
        if req.text.stream_anchored:
            self._take_stream(req, event.token, event.count)
            return False
        req.text.from_stream(event.token)
        if (req.text.unplaced_events == 1 or event.final
                or now - last_resync >= self.config.poll_interval):
            # This check covers the events read since the loss: find their
            # place, or follow check until they can be placed.
            await self._resync(req)
            req.text.reanchor()
            return True
        return False

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
                    self._take_check(req, await self.client.check(req.genkey))
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
        self._take_check(req, final if len(final) >= len(result.text) else result.text)
        req.finish_reason = result.finish_reason

    async def _resync(self, req: _Request) -> None:
        """Take the server's record for `req` now (the stream lost or cannot place text)."""
        try:
            text = await self.client.check(req.genkey)
        except E.KoboldError as err:
            log.info("resynchronising %s from check failed: %s", req.genkey, err)
            return
        if len(text) > req.text.length and not req.polling:
            self._set_state(ConnectionState.STREAMING)
        self._take_check(req, text)

    async def _settle(self, req: _Request) -> None:
        """The request ended: compare with the server's record once more, learn why it ended."""
        try:
            text = await self.client.check(req.genkey)
        except E.KoboldError as err:
            log.info("final check of %s failed: %s", req.genkey, err)
            text = ""
        if req.text.agrees_with(text):
            self._take_check(req, text, recovered=True)
        for _ in range(5):
            try:
                perf = await self.client.perf()
            except E.KoboldError:
                return
            ours = perf_is_ours(perf.idle, perf.total_gens, req.gens_before, bool(text))
            if ours or (req.gens_before is not None and perf.total_gens > req.gens_before):
                req.facts = ServerFacts(ours, perf.last_token_count, perf.stop_reason)
                return
            # Not counted yet (the lock is released just after the final event): ask again.
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ watching silence
    async def _watch(self, req: _Request, reader: asyncio.Task[None]) -> None:
        """Tell a queue, a long prompt, a buffering proxy and a dead stream apart."""
        cfg = self.config
        watch = StallWatch(cfg.stall_after, last_growth=time.monotonic())
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
                watch.reset()
                continue  # the stream spoke while we asked: these answers are already stale
            now = time.monotonic()
            silent = now - req.last_event_at
            decision = watch.classify(Probe(
                now=now, last_event_at=req.last_event_at, check_length=len(text),
                held_length=req.text.length,
                done=server_done(perf.idle, perf.total_gens, req.gens_before, bool(text)),
                headers=req.headers, polling=req.polling))
            if decision.start_polling:
                req.polling = True
                log.warning("stream %s delivers nothing while the server generates: "
                            "polling check (a buffering proxy?)", req.genkey)
            if decision.verdict is Verdict.NEVER_ENDED:
                self._cancel_reason = E.StreamInterrupted(
                    "The server finished but the stream never ended",
                    url=self.client.url, genkey=req.genkey)
                reader.cancel()
                return
            shown = describe(decision.verdict, silent, perf.queue, req.polling)
            if shown is not None:
                self._set_state(*shown)
            if decision.verdict is Verdict.AHEAD:
                self._take_check(req, text)
            await asyncio.sleep(cfg.poll_interval)

    # ------------------------------------------------------------------ recovery
    async def _recover(self, req: _Request) -> None:
        """Take every character the server generated for `req` (via check) into the text."""
        self._recovery_pending = req
        self._set_state(ConnectionState.RECOVERING, "fetching the text the server generated")
        deadline = time.monotonic() + max(10.0, self.config.stall_after * 2)
        while True:
            before = req.text.length
            # perf first: if it says the server is done, the check that follows is complete.
            perf: Perf = await self.client.perf()
            text = await self.client.check(req.genkey)
            self._take_check(req, text, recovered=True)
            if req.text.length > before:
                deadline = time.monotonic() + max(10.0, self.config.stall_after * 2)
            done = server_done(perf.idle, perf.total_gens, req.gens_before, bool(text))
            if done or time.monotonic() > deadline:
                break
            if await self._sleep(self.config.poll_interval):
                raise _Stopped("stopped")
        self._recovery_pending = None
        ours = done and perf_is_ours(perf.idle, perf.total_gens, req.gens_before, bool(text))
        req.facts = ServerFacts(ours, perf.last_token_count, perf.stop_reason)

    async def _complete(self, req: _Request) -> bool:
        """Did the broken request already produce everything it was asked for?"""
        if self._trimmer.hit or req.finish_reason is not None:
            return True
        return await self._remaining(req) <= 0

    async def _remaining(self, req: _Request) -> int:
        counted: int | None = None
        if req.facts is None or not req.facts.ours:
            # The server lost the request (a restart): count what we hold with its tokenizer.
            held = req.text.text
            try:
                counted = await self.client.tokencount(held, special=False) if held else 0
            except E.KoboldError as err:
                log.info("tokencount failed (%s); estimating the remaining length", err)
        return remaining_tokens(req.max_length, req.facts, counted, req.text.length)

    async def _continue_after(self, req: _Request) -> None:
        """Next request: the same settings, the prompt extended by all text so far."""
        remaining = await self._remaining(req)
        raw_total = "".join(r.text.text for r in self.requests)
        self._request = _Request(continuation_body(req.body, self.prompt, raw_total, remaining,
                                                   new_genkey()))
        self.requests.append(self._request)
        log.info("continuing generation %s as %s for %d more tokens", self.genkey,
                 self._request.genkey, remaining)

    async def _give_up_oversized(self, err: E.KoboldError) -> Failed:
        """Too many events: abort on the server, keep what it generated, say why."""
        req = self._request
        try:
            async with asyncio.timeout(self.config.stop_grace):
                running = await self.client.abort_status(req.genkey)
        except (E.KoboldError, TimeoutError) as exc:
            log.info("abort of %s failed: %s", req.genkey, exc)
            running = False
        req.abort_running = running or req.events > 0
        await self._keep_after_abort(req)
        return self._failed(err)

    # ------------------------------------------------------------------ stop
    async def _abort_then_close(self, req: _Request) -> None:
        try:
            async with asyncio.timeout(self.config.stop_grace):
                req.abort_running = await self.client.abort_status(req.genkey)
        except (E.KoboldError, TimeoutError) as err:
            log.info("abort of %s failed (%s); closing the stream instead", req.genkey, err)
            self._close_reader()
            return
        reader = self._reader
        if not req.abort_running or not req.text.length or reader is None:
            # A request aborted while queued replays the previous generation's text (1.76
            # bug): never read it. One aborted before its first event: check has its text.
            self._close_reader()
            return
        # The final event usually follows the abort at once; if not (a flood, a server that
        # goes on), stop reading anyway: check has everything the stream would still bring.
        await asyncio.wait({reader}, timeout=min(self.config.stop_grace, STOP_READ_GRACE))
        self._close_reader()

    async def _keep_after_abort(self, req: _Request) -> None:
        """After an abort, the server's record for our genkey holds text we may never have
        received (e.g. generated before the first event): keep it. Only for a request the
        server really ran: for one aborted while queued, check replays someone else's text.
        """
        task = self._stop_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait({task}, timeout=self.config.stop_grace * 2)
        if not req.abort_running:
            return
        deadline = time.monotonic() + self.config.stop_grace
        last: str | None = None
        while True:
            try:
                text = await self.client.check(req.genkey)
            except E.KoboldError as err:
                log.info("check after abort of %s failed: %s", req.genkey, err)
                return
            self._take_check(req, text, recovered=True)
            # The abort takes effect after the token in progress: wait until it stands still.
            if text == last or time.monotonic() > deadline:
                return
            last = text
            await asyncio.sleep(min(0.1, self.config.poll_interval))

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
    def _take_stream(self, req: _Request, token: str, events: int = 1) -> None:
        """`token`: the text of `events` consecutive stream events."""
        self._unshown_events += events
        new = req.text.from_stream(token)
        if req.polling and not req.text.stream_behind:
            req.polling = False  # the stream caught up: stop polling check
        if new:
            if not req.polling:
                self._set_state(ConnectionState.STREAMING)
            self._take(new, recovered=False)

    def _take_check(self, req: _Request, cumulative: str, recovered: bool = False) -> None:
        """Merge a cumulative view of `req`'s raw text; only what is new gets shown."""
        new = req.text.from_check(cumulative)
        if new:
            self._take(new, recovered)

    def _take(self, raw: str, recovered: bool) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        self._show(self._trimmer.feed(raw), recovered)

    def _show(self, text: str, recovered: bool) -> None:
        piece = self._shown.append(text, recovered)
        if piece is None:
            return
        if piece.recovered:
            self._emit(Recovered(piece.text))
        else:
            # Events whose text was held back (a possible stop sequence) count with this one.
            self._emit(Tokens(piece.text, max(1, self._unshown_events)))
            self._unshown_events = 0

    # ------------------------------------------------------------------ reporting
    def _set_state(self, state: ConnectionState, detail: str = "") -> None:
        if (state, detail) != self._state:
            self._state = (state, detail)
            self._emit(StateChanged(state, detail))

    def _log_failure(self, err: E.KoboldError, attempt: int) -> None:
        elapsed = time.monotonic() - (self.started_at or time.monotonic())
        log.warning("generation %s (request %s) failed: %s | attempt=%d elapsed=%.2fs %s",
                    self.genkey, self._request.genkey, err.message, attempt, elapsed, err.context)
