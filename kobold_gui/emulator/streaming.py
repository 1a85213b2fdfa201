"""The ``/api/extra/generate/stream`` response loop (1.76 ``handle_sse_stream``) and its faults.

Timeline of a normal stream: headers at once -> ``first_poll_delay`` of silence -> every
``poll_interval`` one event with all text produced since the previous poll -> when the
generation has finished, one final event ("stop"/"length") carrying whatever was pending ->
``stream_close_delay`` -> the socket is closed -> (caller) ``lock_release_delay`` -> lock free.
A failed write means the client went away: the generation is aborted, like the real server.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from .config import Faults
from .engine import (
    ABORT_DISCONNECT,
    ABORT_RESTART,
    Engine,
    Generation,
    GenerationRecord,
    _ReplayView,
)
from .params import GenParams
from .sse import SseWriter
from .textgen import chunk_may_start_stop, finish_reason_for, trim_at_stop

if TYPE_CHECKING:
    from .http_handler import KoboldHandler

log = logging.getLogger(__name__)


class _ConnectionGone(Exception):  # noqa: N818 - control flow
    """The stream can no longer be written (client left, fault dropped it, server stopping)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def send_stream_headers(handler: KoboldHandler, json_null_finish: bool) -> None:
    """Status line and headers in the captured order (two cache-control headers)."""
    handler.send_response(200)
    if json_null_finish:
        handler.send_header("X-Accel-Buffering", "no")
    handler.send_header("cache-control", "no-cache")
    handler.send_header("connection", "keep-alive")
    handler.end_headers(content_type="text/event-stream")


def close_socket(sock: socket.socket, reset: bool = False) -> None:
    """Close our side now: FIN, or RST when ``reset`` (SO_LINGER 0)."""
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def hang_stream(handler: KoboldHandler, engine: Engine) -> None:
    """The 1.76 type-error stream: headers, then silence until the client closes.

    (The real server would stay busy even after the client left; the emulator notices the
    close so one bad request cannot wedge a test session.)
    """
    send_stream_headers(handler, engine.config.json_null_finish)
    sock = handler.connection
    while not engine.closed.is_set():
        try:
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable and not sock.recv(4096):
                return
        except (OSError, ValueError):
            return


def run_stream(
    handler: KoboldHandler,
    engine: Engine,
    gen: Generation | None,
    view: Generation | _ReplayView,
    params: GenParams,
    faults: Faults,
    record: GenerationRecord,
) -> None:
    """Serve one SSE stream for ``gen`` (``view`` is what is polled; see Engine)."""
    cfg = engine.config
    sock = handler.connection
    if faults.headers_delay > 0 and not engine.sleep(faults.headers_delay):
        _abort(gen, engine.close_reason)
        return
    writer = SseWriter(handler.wfile.write, faults, cfg.json_null_finish, sock)
    stalled = False

    def after_events(count: int) -> None:
        nonlocal stalled
        if faults.stall_after_events == count and not stalled:
            stalled = True
            if not engine.sleep(faults.stall_seconds):
                raise _ConnectionGone(engine.close_reason)
        if faults.drop_after_events == count:
            writer.discard()
            close_socket(sock)
            raise _ConnectionGone(ABORT_DISCONNECT)
        if faults.reset_after_events == count:
            writer.discard()
            # The handler's file objects hold the socket open; without closing them first,
            # sock.close() would not really close it and no RST would be sent.
            for stream in (handler.rfile, handler.wfile):
                with contextlib.suppress(OSError):
                    stream.close()
            close_socket(sock, reset=True)
            raise _ConnectionGone(ABORT_DISCONNECT)
        if faults.restart_after_events == count:
            writer.discard()
            handler.server.emulator.restart_async(faults.restart_seconds)
            raise _ConnectionGone(ABORT_RESTART)

    try:
        try:
            send_stream_headers(handler, cfg.json_null_finish)
            after_events(0)
            if not engine.sleep(cfg.first_poll_delay):
                raise _ConnectionGone(engine.close_reason)
            _poll_loop(engine, view, params, writer, record, after_events)
            writer.finish()
        except OSError as exc:
            log.debug("stream write failed (%s): client disconnected", exc)
            raise _ConnectionGone(ABORT_DISCONNECT) from exc
    except _ConnectionGone as gone:
        _abort(gen, gone.reason)
        if gone.reason == ABORT_DISCONNECT:
            engine.sleep(cfg.disconnect_delay)
        _wait_generation(gen, engine)
        return
    engine.sleep(cfg.stream_close_delay)
    close_socket(sock)
    _wait_generation(gen, engine)


def _poll_loop(
    engine: Engine,
    view: Generation | _ReplayView,
    params: GenParams,
    writer: SseWriter,
    record: GenerationRecord,
    after_events: Callable[[int], None],
) -> None:
    """Poll the token buffer; one event per poll with new text; exactly one final event.

    An EOS ending always shows as a final ``("", "stop")`` event: text still pending at that
    point goes out first in an ordinary event. (With real models the EOS step takes a whole
    token time, so this is what a 1.76 client nearly always sees; only very fast models can
    merge the last text into the "stop" event.)
    """
    stops = params.stop_sequence
    current = 0
    reserve = ""  # 1.76 trim_stop hold-back ("tokenReserve")
    while True:
        done = view.finished.is_set()
        new = view.tokens_from(current)
        current += len(new)
        chunk = "".join(new)
        to_send: str | None = None
        if chunk or done:
            if params.trim_stop and not done and chunk_may_start_stop(chunk, stops):
                reserve += chunk
            else:
                if chunk or reserve:
                    chunk = reserve + chunk
                    reserve = ""
                    if params.trim_stop:
                        chunk = trim_at_stop(chunk, stops)
                if chunk or done:
                    to_send = chunk
        if to_send is not None:
            reason = finish_reason_for(view.stop_reason) if done else None
            if reason == "stop" and to_send:
                record.sent_events.extend(writer.event(to_send, None))
                after_events(writer.events_sent)
                to_send = ""
            record.sent_events.extend(writer.event(to_send, reason))
            if done:
                return
            after_events(writer.events_sent)
        if not engine.sleep(engine.config.poll_interval):
            raise _ConnectionGone(engine.close_reason)


def _abort(gen: Generation | None, reason: str) -> None:
    if gen is not None:
        gen.abort(reason)


def _wait_generation(gen: Generation | None, engine: Engine) -> None:
    """The handler returns only when the generation thread is done (asyncio.gather)."""
    if gen is None:
        return
    while not gen.wait(0.05):
        if engine.closed.is_set():
            gen.wait(1.0)
            return
