"""The emulated "native library": generation lock and queue, generation threads, abort, perf.

It mirrors how koboldcpp.py 1.76 drives its C++ core: one mutex guards the single generation
slot; a request may wait for it (``--multiuser``) or get 503; the generation runs in its own
thread and fills a token buffer that the stream handler polls; ``check`` reads that buffer
(which survives until the next generation starts); ``abort`` sets a flag the generation sees
after its current token.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .config import EmulatorConfig, Faults
from .instruct import reply_steps
from .params import GenParams
from .textgen import (
    STOP_LENGTH,
    Step,
    TextModel,
    finish_reason_for,
    tokenize,
    trim_at_stop,
)

log = logging.getLogger(__name__)

#: Values of ``GenerationRecord.aborted_by``.
ABORT_ENDPOINT = "abort"
ABORT_DISCONNECT = "disconnect"
ABORT_RESTART = "restart"
ABORT_SHUTDOWN = "shutdown"


@dataclass
class GenerationRecord:
    """Ground truth about one generation request, for tests to compare against.

    Created when the request is admitted (running or queued). ``tokens`` grows while the
    generation runs. ``error`` is set (and the record is ``done`` without tokens) when the
    request never generated: "unauthorized", "bad_input" (500), "bad_type" (200 null / hanging
    stream) or "dropped" (connection closed without reply) or "shutdown" (server went away
    while it was queued).
    """

    genkey: str
    prompt: str
    endpoint: str  # "stream" | "sync"
    max_length: int = 0
    memory: str = ""
    stop_sequence: list[str] = field(default_factory=list)
    trim_stop: bool = False
    #: the request's JSON body as received (the fields a client sent)
    body: dict = field(default_factory=dict)
    #: prompt, memory and stops as the client sent them (``prompt`` etc. are what the model
    #: saw: a 1.88+ server fills in instruct placeholders first)
    received_prompt: str = ""
    received_memory: str = ""
    received_stop_sequence: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    finish_reason: str | None = None  # "stop" | "length" once done
    stop_reason: int | None = None  # native: -1 error, 0 length/abort, 1 EOS, 2 stop string
    aborted_by: str | None = None  # "abort" | "disconnect" | "restart" | "shutdown" | None
    deferred_abort: bool = False  # aborted while queued (via /abort with its genkey)
    state: str = "queued"  # "queued" | "running" | "done"
    error: str | None = None
    #: Token strings exactly as the stream sent them, one entry per event (stream only).
    sent_events: list[str] = field(default_factory=list)
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None  # time.monotonic() when it got the lock
    ended_at: float | None = None

    @property
    def text(self) -> str:
        """Full raw text (stop strings included), as ``check`` shows it."""
        return "".join(list(self.tokens))

    @property
    def trimmed_text(self) -> str:
        """The text a client applying stop-sequence trimming would keep."""
        return trim_at_stop(self.text, self.stop_sequence)

    @property
    def response_text(self) -> str:
        """The text of the sync reply (trimmed only when the request asked for trim_stop)."""
        return self.trimmed_text if self.trim_stop else self.text

    @property
    def streamed_text(self) -> str:
        """Concatenation of the stream's events (what a stream client received)."""
        return "".join(list(self.sent_events))


class LockClosed(Exception):  # noqa: N818 - control flow, not an error report
    """The server is stopping/restarting while a request waited for the lock."""


class GenerationLock:
    """The single generation slot with the 1.76 queue accounting.

    ``queue`` counts waiters exactly like ``requestsinqueue`` (the number ``/api/extra/perf``
    shows). Unlike the OS mutex of the real server, waiters are served in FIFO order, which
    keeps multi-request tests deterministic.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._waiting: deque[object] = deque()
        self._closed = False
        self.queue = 0

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self, multiuser: int, on_admitted: Callable[[], None] | None = None) -> bool:
        """Take the lock, wait for it, or refuse (False = send 503).

        ``on_admitted`` runs once the request is known to run or wait (not for a 503).
        """
        limit = (multiuser - 1) if multiuser > 1 else 6
        with self._cond:
            if self._closed:
                raise LockClosed
            may_wait = multiuser > 0 and self.queue < limit
            if not self._held and not self._waiting:
                self._held = True
                if on_admitted:
                    on_admitted()
                return True
            if not may_wait:
                return False
            ticket = object()
            self._waiting.append(ticket)
            self.queue += 1
            if on_admitted:
                on_admitted()
            try:
                while self._held or self._waiting[0] is not ticket:
                    if self._closed:
                        raise LockClosed
                    self._cond.wait()
                if self._closed:
                    raise LockClosed
            except BaseException:
                self._waiting.remove(ticket)
                self.queue -= 1
                self._cond.notify_all()
                raise
            self._waiting.popleft()
            self.queue -= 1
            self._held = True
            return True

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter with LockClosed (server stop / restart)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Generation(threading.Thread):
    """One generation, run in its own thread like the native ``generate`` call.

    ``tokens`` is the native token buffer the stream polls and ``check`` reads.
    """

    def __init__(
        self,
        engine: Engine,
        params: GenParams,
        record: GenerationRecord,
        prompt_seconds: float,
        prompt_tokens: int = 1,
        endless: bool = False,
    ) -> None:
        super().__init__(name=f"emu-gen-{params.genkey or 'nokey'}", daemon=True)
        #: Faults.endless_stream: ignore max_length, EOS and stop strings (until aborted)
        self.endless = endless
        self.engine = engine
        self.params = params
        self.record = record
        self.prompt_seconds = prompt_seconds
        self.prompt_tokens = prompt_tokens  # prompt tokens actually (re)processed
        self.tokens = record.tokens  # shared: the record shows the live buffer
        self.stop_reason: int = STOP_LENGTH
        self.finished = threading.Event()
        self._abort = threading.Event()
        self.abort_reason: str | None = None
        self.prompt_time = 0.0
        self.eval_time = 0.0

    # -- read side (stream handler, check) -----------------------------------------------------
    def tokens_from(self, index: int) -> list[str]:
        return self.tokens[index : len(self.tokens)]

    @property
    def text(self) -> str:
        return "".join(list(self.tokens))

    @property
    def running(self) -> bool:
        return self.is_alive() and not self.finished.is_set()

    # -- control -------------------------------------------------------------------------------
    def abort(self, reason: str) -> bool:
        """Ask the generation to stop after its current token. True if it was still running."""
        if self.finished.is_set():
            return False
        if not self._abort.is_set():
            self.abort_reason = reason
            self._abort.set()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    # -- the generation loop -------------------------------------------------------------------
    def run(self) -> None:
        engine = self.engine
        p = self.params
        rec = self.record
        try:
            t0 = time.monotonic()
            if self.prompt_seconds > 0:
                # Prompt processing: abortable (after the current batch), nothing is produced.
                deadline = t0 + self.prompt_seconds
                while not self._abort.is_set() and not engine.closed.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._abort.wait(min(left, 0.05))
            t1 = time.monotonic()
            self.prompt_time = t1 - t0
            rate = engine.config.token_rate
            interval = 0.0 if (not rate or rate <= 0 or rate == float("inf")) else 1.0 / rate
            stop_reason = STOP_LENGTH
            if not self._abort.is_set() and not engine.closed.is_set():
                if self.endless:
                    steps = engine.model.steps(p.context, 10**12, (), True)
                else:
                    steps = self._steps()
                for i, step in enumerate(steps):
                    if interval:
                        # Pace against the start so the rate does not drift; an abort lets the
                        # token in progress finish (the native loop checks the flag per token).
                        left = t1 + (i + 1) * interval - time.monotonic()
                        if left > 0 and engine.closed.wait(left):
                            break
                    if engine.closed.is_set():
                        break
                    if step.token is not None:
                        self.tokens.append(step.token)
                    if step.stop_reason is not None:
                        stop_reason = step.stop_reason
                        break
                    if self._abort.is_set():
                        break
            self.eval_time = time.monotonic() - t1
            self.stop_reason = stop_reason
        except Exception:  # pragma: no cover - defensive: never leave waiters hanging
            log.exception("emulated generation failed")
            self.stop_reason = -1
        finally:
            if engine.closed.is_set() and self.abort_reason is None:
                self.abort_reason = engine.close_reason
            rec.stop_reason = self.stop_reason
            rec.finish_reason = finish_reason_for(self.stop_reason)
            rec.aborted_by = self.abort_reason
            rec.ended_at = time.monotonic()
            rec.state = "done"
            engine._generation_finished(self)
            self.finished.set()


    def _steps(self) -> Iterator[Step]:
        """The model's steps; a thinking model's fresh reply opens with its thoughts."""
        p, cfg = self.params, self.engine.config
        return reply_steps(self.engine.model, p.context, p.max_length, p.stop_sequence,
                           p.ban_eos, cfg.reply_prefix, cfg.adapter)


class _ReplayView:
    """What a deferred-aborted stream polls: the previous generation's buffer (1.76 bug)."""

    def __init__(self, previous: Generation | None) -> None:
        self.tokens: list[str] = list(previous.tokens) if previous else []
        self.stop_reason = previous.stop_reason if previous else STOP_LENGTH
        self.finished = threading.Event()
        self.finished.set()

    def tokens_from(self, index: int) -> list[str]:
        return self.tokens[index:]


class Engine:
    """Native-layer state of one server lifetime (a restart creates a fresh Engine)."""

    def __init__(
        self,
        config: EmulatorConfig,
        add_record: Callable[[GenerationRecord], None],
    ) -> None:
        self.config = config
        self.model = TextModel(config.seed, config.eos_chance)
        self._add_record = add_record
        self.lock = GenerationLock()
        self.closed = threading.Event()
        self.close_reason = ABORT_SHUTDOWN
        self._state_lock = threading.Lock()
        self.started_at = time.time()
        self.last_request_at = self.started_at
        # koboldcpp.py globals
        self.current_genkey = ""
        self.pending_abort_key = ""
        self.started_gens = 0  # python ``totalgens`` (check needs > 0)
        # native state
        self.native: Generation | None = None
        self.completed_gens = 0
        self.last_stop_reason = -1
        self.last_token_count = 0
        self.last_process_ms = 0.0
        self.last_eval_ms = 0.0
        self.last_seed = -1
        self._last_context_ids: list[int] = []
        self._seed_rng = random.Random(config.seed)
        self._busy_faults_served = 0
        self._busy_faults_of: Faults | None = None

    # -- queue / lock --------------------------------------------------------------------------
    def take_busy_fault(self, faults: Faults) -> bool:
        """True if this generation request must get the injected 503 (Faults.busy_first)."""
        with self._state_lock:
            if self._busy_faults_of is not faults:
                self._busy_faults_of = faults
                self._busy_faults_served = 0
            if self._busy_faults_served < faults.busy_first:
                self._busy_faults_served += 1
                return True
            return False

    @property
    def is_idle(self) -> bool:
        running = self.native is not None and self.native.running
        return not self.lock.held and self.lock.queue == 0 and not running

    def new_record(self, params_peek: dict | None, endpoint: str) -> GenerationRecord:
        """Record for an admitted request; fields refined once the body is validated."""
        peek = params_peek or {}
        prompt = peek.get("prompt", "")
        genkey = peek.get("genkey", "")
        rec = GenerationRecord(
            genkey=genkey if isinstance(genkey, str) else str(genkey),
            prompt=prompt if isinstance(prompt, str) else repr(prompt),
            endpoint=endpoint,
            body=dict(peek),
        )
        self._add_record(rec)
        return rec

    def mark_request(self) -> None:
        self.last_request_at = time.time()

    # -- starting a generation -----------------------------------------------------------------
    def start_generation(
        self, params: GenParams, record: GenerationRecord, faults: Faults
    ) -> tuple[Generation | None, Generation | _ReplayView]:
        """Start generating (caller owns the lock).

        Returns ``(generation, view)``: the stream polls ``view``. For a request that was
        deferred-aborted while queued no generation runs (``generation`` is None) and ``view``
        replays the previous buffer, as 1.76 does.
        """
        record.genkey = params.genkey
        record.prompt = params.prompt
        record.memory = params.memory
        record.max_length = params.max_length
        record.stop_sequence = list(params.stop_sequence)
        record.received_prompt = params.received_prompt
        record.received_memory = params.received_memory
        record.received_stop_sequence = list(params.received_stop_sequence)
        record.trim_stop = params.trim_stop
        record.started_at = time.monotonic()
        with self._state_lock:
            self.current_genkey = params.genkey
            self.started_gens += 1
            if self.pending_abort_key and self.pending_abort_key == params.genkey:
                self.pending_abort_key = ""
                record.deferred_abort = True
                record.aborted_by = ABORT_ENDPOINT
                record.stop_reason = -1
                record.finish_reason = "length"
                record.ended_at = time.monotonic()
                record.state = "done"
                return None, _ReplayView(self.native)
            context_ids = tokenize(params.context, add_bos=True)
            reuse = 0
            for a, b in zip(context_ids, self._last_context_ids, strict=False):
                if a != b:
                    break
                reuse += 1
            to_process = max(1, len(context_ids) - reuse)
            prompt_seconds = (
                self.config.prompt_delay
                + faults.prompt_delay
                + self.config.prompt_seconds_per_token * to_process
            )
            gen = Generation(self, params, record, prompt_seconds, to_process,
                             endless=faults.endless_stream)
            self.native = gen
            self.last_seed = (
                params.sampler_seed
                if params.sampler_seed > 0
                else self._seed_rng.randrange(1, 1_000_000)
            )
            record.state = "running"
        gen.start()
        return gen, gen

    def _generation_finished(self, gen: Generation) -> None:
        with self._state_lock:
            self.completed_gens += 1
            self.last_stop_reason = gen.stop_reason
            self.last_token_count = len(gen.tokens)
            self.last_process_ms = gen.prompt_time * 1000.0 / max(1, gen.prompt_tokens)
            self.last_eval_ms = gen.eval_time * 1000.0 / max(1, len(gen.tokens))
            self._last_context_ids = tokenize(gen.params.context + gen.text, add_bos=True)

    # -- check / abort / perf ------------------------------------------------------------------
    def check_text(self, genkey: object, via_get: bool) -> str:
        """Text for ``/api/extra/generate/check`` following the 1.76 genkey rules (§6)."""
        with self._state_lock:
            native = self.native
            if self.started_gens <= 0 or native is None:
                return ""
            if via_get:
                ok = self.lock.queue == 0 and self.current_genkey == ""
            else:
                key = genkey if isinstance(genkey, str) else ""
                ok = (key == "" and self.current_genkey == "" and self.lock.queue == 0) or (
                    key != "" and key == self.current_genkey
                )
        return native.text if ok else ""

    def abort(self, genkey: object) -> tuple[dict[str, str], bool]:
        """Apply ``/api/extra/abort``; returns (reply, whether the abort branch was taken)."""
        key = genkey if isinstance(genkey, str) else ""
        with self._state_lock:
            queue = self.lock.queue
            if (key == "" and queue == 0) or (key != "" and key == self.current_genkey):
                native = self.native
                if native is not None:
                    native.abort(ABORT_ENDPOINT)
                return {"success": "true", "done": "true"}, True
            if key != "" and queue > 0:
                self.pending_abort_key = key
                return {"success": "true", "done": "false"}, False
        return {"success": "false", "done": "false"}, False

    def perf(self) -> dict[str, object]:
        now = time.time()
        return {
            "last_process": self.last_process_ms,
            "last_eval": self.last_eval_ms,
            "last_token_count": self.last_token_count,
            "last_seed": self.last_seed,
            "total_gens": self.completed_gens,
            "stop_reason": self.last_stop_reason,
            "total_img_gens": 0,
            "queue": self.lock.queue,
            "idle": 0 if self.lock.held else 1,
            "hordeexitcounter": -1,
            "uptime": now - self.started_at,
            "idletime": now - self.last_request_at,
            "quiet": self.config.quiet,
        }

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self, reason: str = ABORT_SHUTDOWN) -> None:
        """Stop everything: running generation aborted, queued requests woken and dropped."""
        self.close_reason = reason
        self.lock.close()  # first: no waiter may slip into the slot from now on
        self.closed.set()
        native = self.native
        if native is not None and native.running:
            native.abort(reason)

    def sleep(self, seconds: float) -> bool:
        """Interruptible sleep for handler threads; False if the engine closed meanwhile."""
        if seconds <= 0:
            return not self.closed.is_set()
        return not self.closed.wait(seconds)
