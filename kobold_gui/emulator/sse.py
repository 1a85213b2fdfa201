"""SSE event framing, exactly as 1.76 writes it, plus the framing faults.

Real framing: ``event: message\\n`` and ``data: {json}\\n\\n`` written as two separate writes,
LF only, JSON via ``json.dumps`` defaults (ASCII with \\u escapes, ``", "``/``": "``).
Intermediate ``finish_reason`` is the *string* "null" (newer servers: JSON null plus an extra
empty final event).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable

from .config import Faults

#: kinds of ``Faults.garbage_instead``: how the real token is made unreadable
GARBAGE_KINDS = ("json", "no_token", "number", "list")


def unreadable_payload(kind: str, token: str, reason: str | None) -> str:
    """A data line carrying `token` in a way a client cannot read."""
    if kind == "json":
        return json.dumps({"token": token, "finish_reason": reason})[:-1]  # unterminated
    if kind == "no_token":
        return json.dumps({"text": token, "finish_reason": reason})
    if kind == "number":
        return json.dumps({"token": len(token), "finish_reason": reason})
    if kind == "list":
        return json.dumps({"token": [token], "finish_reason": reason})
    raise ValueError(f"unknown garbage kind {kind!r}; known: {', '.join(GARBAGE_KINDS)}")


_GARBAGE_BLOCKS = (
    ("message", "{not json"),
    ("ping", json.dumps({"token": "PING", "finish_reason": "null"})),
    ("message", json.dumps({"finish_reason": "null"})),
)


class SseWriter:
    """Turns (token, finish_reason) events into bytes on the wire, applying stream faults.

    ``write`` is a raw write to the client socket; it raises OSError when the peer is gone,
    which the caller treats as a disconnect.
    """

    def __init__(
        self,
        write: Callable[[bytes], object],
        faults: Faults,
        json_null_finish: bool = False,
        sock: socket.socket | None = None,
    ) -> None:
        self._write = write
        self.faults = faults
        self.json_null_finish = json_null_finish
        self._buffer: list[bytes] | None = [] if faults.buffer_stream else None
        self._garbage_index = 0
        self._instead = [k.strip() for k in faults.garbage_instead.split(",") if k.strip()]
        for kind in self._instead:
            unreadable_payload(kind, "", None)  # unknown kinds fail at once, not mid-stream
        self._instead_index = 0
        self._nl = "\r\n" if faults.crlf else "\n"
        self.events_sent = 0
        if faults.split_utf8 and sock is not None:
            # Without Nagle every piece leaves as its own segment.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- public --------------------------------------------------------------------------------
    def event(self, token: str, finish_reason: str | None) -> list[str]:
        """Send one logical event; ``finish_reason`` None = intermediate.

        Returns the tokens of the readable data events written (the json-null mode may split a
        final event with text into two events; ``garbage_instead`` makes some unreadable).
        """
        written: list[str] = []
        if finish_reason is None:
            events: list[tuple[str, str | None]] = [
                (token, None if self.json_null_finish else "null")
            ]
        elif self.json_null_finish and token:
            events = [(token, None), ("", finish_reason)]
        else:
            events = [(token, finish_reason)]
        for tok, reason in events:
            if self.faults.comments:
                self._send([f": keep-alive{self._nl}{self._nl}".encode()])
            if self.faults.garbage_events:
                name, data = _GARBAGE_BLOCKS[self._garbage_index % len(_GARBAGE_BLOCKS)]
                self._garbage_index += 1
                self._send(self._frame(name, data))
            every = max(1, self.faults.garbage_every)
            if (self._instead and reason in (None, "null") and tok
                    and (self.events_sent + 1) % every == 0):
                kind = self._instead[self._instead_index % len(self._instead)]
                self._instead_index += 1
                self._send(self._frame("message", unreadable_payload(kind, tok, reason)))
                self.events_sent += 1
                continue
            payload = json.dumps(
                {"token": tok, "finish_reason": reason}, ensure_ascii=not self.faults.split_utf8
            )
            self._send(self._frame("message", payload))
            self.events_sent += 1
            written.append(tok)
        return written

    def finish(self) -> None:
        """Flush what a buffering proxy held back (``buffer_stream``)."""
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer = []
            self._write(data)

    def discard(self) -> None:
        """Forget buffered bytes (the connection is being dropped)."""
        if self._buffer is not None:
            self._buffer = []

    # -- framing -------------------------------------------------------------------------------
    def _frame(self, event_name: str, data: str) -> list[bytes]:
        nl = self._nl
        return [f"event: {event_name}{nl}".encode(), f"data: {data}{nl}{nl}".encode()]

    def _send(self, writes: list[bytes]) -> None:
        if self.faults.split_utf8:
            writes = [piece for w in writes for piece in split_pieces(w)]
        if self._buffer is not None:
            self._buffer.extend(writes)
            return
        for i, chunk in enumerate(writes):
            if i and self.faults.split_utf8 and self.faults.split_gap > 0:
                time.sleep(self.faults.split_gap)
            self._write(chunk)


def split_pieces(chunk: bytes) -> list[bytes]:
    """Cut one write inside every multi-byte UTF-8 character and after a ``data: `` prefix.

    Without any multi-byte character, a data line is still cut once in the middle of its JSON.
    """
    cuts: set[int] = set()
    if chunk.startswith(b"data: "):
        cuts.add(len(b"data: "))
    for i, byte in enumerate(chunk):
        if byte >= 0xC0:  # lead byte of a multi-byte sequence: cut right after it
            cuts.add(i + 1)
    if len(cuts) <= 1 and chunk.startswith(b"data: ") and len(chunk) > 12:
        cuts.add(len(b"data: ") + (len(chunk) - len(b"data: ")) // 2)
    points = sorted(c for c in cuts if 0 < c < len(chunk))
    pieces: list[bytes] = []
    last = 0
    for c in points:
        pieces.append(chunk[last:c])
        last = c
    pieces.append(chunk[last:])
    return pieces
