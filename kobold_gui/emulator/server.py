"""``Emulator``: start/stop the emulated server in background threads and expose ground truth.

Typical test use::

    with Emulator(EmulatorConfig(seed=1, token_rate=500, first_poll_delay=0.05)) as emu:
        ...  # talk HTTP to emu.url
        assert emu.last_generation.text == emu.expected_text(prompt, 20)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from .config import EmulatorConfig, Faults
from .engine import ABORT_RESTART, ABORT_SHUTDOWN, Engine, GenerationRecord
from .http_handler import EmulatorHTTPServer, EmulatorHTTPServer6
from .instruct import reply_steps
from .params import cap_max_length
from .textgen import STOP_LENGTH, TextModel, normalize_stop_sequence, trim_at_stop

log = logging.getLogger(__name__)


class Emulator:
    """A KoboldCpp 1.76-compatible HTTP server with fault injection, for tests and demos."""

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        config = config or EmulatorConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self._faults = config.faults
        self._records: list[GenerationRecord] = []
        self._records_lock = threading.Lock()
        self._lifecycle = threading.RLock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._conn_lock = threading.Lock()
        self._server: EmulatorHTTPServer | None = None
        self._engine: Engine | None = None
        self._serve_thread: threading.Thread | None = None
        self._restart_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._up = threading.Event()
        self._port: int = config.port
        self.restarts = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind (port 0 = any free port) and serve in a background thread; returns self."""
        with self._lifecycle:
            if self._server is not None:
                return self
            self._stopped.clear()
            self._bind_and_serve(self._port)
        return self

    def _bind_and_serve(self, port: int) -> None:
        engine = Engine(self.config, self._add_record)
        server_cls = EmulatorHTTPServer6 if ":" in self.config.host else EmulatorHTTPServer
        server = server_cls((self.config.host, port), self, engine)
        self._port = server.server_address[1]
        self._engine = engine
        self._server = server
        self._serve_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02},
            name=f"kobold-emulator:{self._port}", daemon=True)
        self._serve_thread.start()
        self._up.set()
        log.debug("emulator listening on %s", self.url)

    def _take_down(self, reason: str) -> None:
        """Close the listening socket, every connection and the engine (caller holds lock)."""
        self._up.clear()
        server, engine = self._server, self._engine
        if engine is not None:
            engine.close(reason)
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)
        self._server = None

    def stop(self) -> None:
        """Shut down: abort generations, close open streams, join the threads."""
        self._stopped.set()
        with self._lifecycle:
            if self._server is not None:
                self._take_down(ABORT_SHUTDOWN)
            elif self._engine is not None:
                self._engine.close(ABORT_SHUTDOWN)
        restart = self._restart_thread
        if restart is not None and restart is not threading.current_thread():
            restart.join(timeout=5)
        deadline = time.monotonic() + 5
        with self._conn_lock:
            threads = list(self._handler_threads)
        for t in threads:
            if t is not threading.current_thread():
                t.join(timeout=max(0.0, deadline - time.monotonic()))
        engine = self._engine
        if engine is not None and engine.native is not None:
            engine.native.join(timeout=max(0.1, deadline - time.monotonic()))

    def restart(self, down_seconds: float = 0.5) -> None:
        """Simulate a server restart: drop everything, refuse connections, come back fresh.

        Blocks for ``down_seconds``. The port stays the same; records are kept, but the
        server state (check text, counters, genkeys, queue) starts from scratch.
        """
        with self._lifecycle:
            if self._server is None or self._stopped.is_set():
                return
            self._take_down(ABORT_RESTART)
        if self._stopped.wait(down_seconds):
            return
        with self._lifecycle:
            if self._stopped.is_set() or self._server is not None:
                return
            self._bind_and_serve(self._port)
            self.restarts += 1

    def restart_async(self, down_seconds: float = 0.5) -> None:
        """``restart`` in a background thread (used by the restart fault from a handler)."""
        t = threading.Thread(target=self.restart, args=(down_seconds,),
                             name="kobold-emulator-restart", daemon=True)
        self._restart_thread = t
        t.start()

    def wait_up(self, timeout: float = 5.0) -> bool:
        """Wait until the server listens (e.g. after a restart)."""
        return self._up.wait(timeout)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connection bookkeeping (called by handlers) -------------------------------------------
    def _register_connection(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)
            self._handler_threads.add(threading.current_thread())

    def _unregister_connection(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(conn)
            self._handler_threads.discard(threading.current_thread())

    def _add_record(self, record: GenerationRecord) -> None:
        with self._records_lock:
            self._records.append(record)

    # -- addresses -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def host(self) -> str:
        return self.config.host or "127.0.0.1"

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}"

    # -- faults --------------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._faults = value if value is not None else Faults()

    # -- ground truth --------------------------------------------------------------------------
    @property
    def engine(self) -> Engine | None:
        """The current server lifetime's state (replaced by a restart)."""
        return self._engine

    @property
    def generations(self) -> list[GenerationRecord]:
        """Every admitted generation request, in arrival order (kept across restarts)."""
        with self._records_lock:
            return list(self._records)

    @property
    def last_generation(self) -> GenerationRecord | None:
        with self._records_lock:
            return self._records[-1] if self._records else None

    def generation(self, genkey: str) -> GenerationRecord | None:
        """The most recent record with this genkey."""
        with self._records_lock:
            for rec in reversed(self._records):
                if rec.genkey == genkey:
                    return rec
        return None

    @property
    def is_idle(self) -> bool:
        """No generation running or queued, and the lock is free."""
        engine = self._engine
        return engine is None or engine.is_idle

    def wait_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_idle:
                return True
            time.sleep(0.01)
        return self.is_idle

    def perf(self) -> dict[str, object]:
        """The current /api/extra/perf payload."""
        engine = self._engine
        return engine.perf() if engine is not None else {}

    def _expected(
        self, prompt: str, max_length: int, stop_sequence: Sequence[str] | str | None,
        memory: str, ban_eos: bool,
    ) -> tuple[list[str], int]:
        """(tokens, native stop reason) of a generation with these parameters."""
        length = cap_max_length(max_length, self.config.context_length)
        model = TextModel(self.config.seed, self.config.eos_chance)
        tokens: list[str] = []
        for step in reply_steps(model, memory + prompt, length, _stops(stop_sequence), ban_eos,
                                self.config.reply_prefix, self.config.adapter):
            if step.token is not None:
                tokens.append(step.token)
            if step.stop_reason is not None:
                return tokens, step.stop_reason
        return tokens, STOP_LENGTH

    def expected_tokens(
        self,
        prompt: str,
        max_length: int,
        stop_sequence: Sequence[str] | str | None = None,
        memory: str = "",
        ban_eos: bool = False,
    ) -> list[str]:
        """Tokens a generation with these parameters will produce (if not aborted).

        Applies the server's max_length cap and reads ``stop_sequence`` like the server
        (a bare string = its characters). EOS follows ``eos_chance`` deterministically.
        """
        return self._expected(prompt, max_length, stop_sequence, memory, ban_eos)[0]

    def expected_text(
        self,
        prompt: str,
        max_length: int,
        stop_sequence: Sequence[str] | str | None = None,
        trim_stop: bool = False,
        memory: str = "",
        ban_eos: bool = False,
    ) -> str:
        """Joined ``expected_tokens``; cut at the first stop string when ``trim_stop``."""
        text = "".join(self.expected_tokens(prompt, max_length, stop_sequence, memory, ban_eos))
        return trim_at_stop(text, _stops(stop_sequence)) if trim_stop else text

    def expected_finish_reason(
        self,
        prompt: str,
        max_length: int,
        stop_sequence: Sequence[str] | str | None = None,
        memory: str = "",
        ban_eos: bool = False,
    ) -> str:
        """"stop" if the generation will end on EOS, else "length"."""
        _, reason = self._expected(prompt, max_length, stop_sequence, memory, ban_eos)
        return "stop" if reason == 1 else "length"


def _stops(stop_sequence: Sequence[str] | str | None) -> list[str]:
    """Read ``stop_sequence`` the way the server does (a bare string = its characters)."""
    return normalize_stop_sequence(
        list(stop_sequence) if isinstance(stop_sequence, tuple) else stop_sequence)
