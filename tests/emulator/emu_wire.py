"""Raw-socket HTTP helpers for the emulator tests: every byte and every read is visible."""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Replies recorded from a real KoboldCPP 1.76 server (see tests/data/README.md).
CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


@dataclass
class RawResponse:
    """Everything the client saw on one connection."""

    reads: list[tuple[float, bytes]] = field(default_factory=list)  # (seconds since send, data)
    eof: bool = False
    timed_out: bool = False
    error: BaseException | None = None
    sent_at: float = 0.0  # time.monotonic() the read times count from

    @property
    def raw(self) -> bytes:
        return b"".join(d for _, d in self.reads)

    @property
    def head(self) -> bytes:
        return self.raw.split(b"\r\n\r\n", 1)[0]

    @property
    def status_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    @property
    def headers(self) -> list[tuple[str, str]]:
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        return [(n, v) for n, _, v in (line.partition(": ") for line in lines)]

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    @property
    def body(self) -> bytes:
        parts = self.raw.split(b"\r\n\r\n", 1)
        return parts[1] if len(parts) == 2 else b""

    def json(self) -> object:
        return json.loads(self.body)

    def time_of(self, marker: bytes) -> float | None:
        """Seconds after sending at which the byte string ``marker`` was complete."""
        seen = b""
        for t, data in self.reads:
            seen += data
            if marker in seen:
                return t
        return None

    def clock_of(self, marker: bytes) -> float | None:
        """``time_of`` on the time.monotonic() clock the emulator's records use."""
        t = self.time_of(marker)
        return None if t is None else self.sent_at + t


def build_request(method: str, path: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None, content_length: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "User-Agent: emu-test"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append("Content-Type: application/json")
        if content_length:
            lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def open_request(port: int, method: str, path: str, body: object = None,
                 headers: dict[str, str] | None = None) -> socket.socket:
    """Send a request and return the socket without reading anything."""
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(build_request(method, path, body, headers))
    return sock


def read_response(sock: socket.socket, timeout: float = 10.0, t0: float | None = None,
                  until: bytes | None = None) -> RawResponse:
    """Read until EOF (or ``timeout`` of total time, or until ``until`` was seen)."""
    t0 = time.monotonic() if t0 is None else t0
    resp = RawResponse(sent_at=t0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                resp.timed_out = True
                break
            readable, _, _ = select.select([sock], [], [], left)
            if not readable:
                resp.timed_out = True
                break
            data = sock.recv(65536)
            if not data:
                resp.eof = True
                break
            resp.reads.append((time.monotonic() - t0, data))
            if until is not None and until in resp.raw:
                break
    except OSError as exc:
        resp.error = exc
    return resp


def request(port: int, method: str, path: str, body: object = None,
            headers: dict[str, str] | None = None, timeout: float = 10.0) -> RawResponse:
    t0 = time.monotonic()
    sock = open_request(port, method, path, body, headers)
    try:
        return read_response(sock, timeout, t0)
    finally:
        sock.close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> RawResponse:
    return request(port, "GET", path, headers=headers)


def post(port: int, path: str, body: object, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> RawResponse:
    return request(port, "POST", path, body if body is not None else b"", headers, timeout)


def sse_blocks(body: bytes) -> list[dict[str, str]]:
    """Spec-style SSE parse: blocks separated by blank lines (LF or CRLF); comments skipped."""
    text = body.decode("utf-8")
    text = text.replace("\r\n", "\n")
    blocks: list[dict[str, str]] = []
    for chunk in text.split("\n\n"):
        if not chunk:
            continue
        fields: dict[str, str] = {}
        for line in chunk.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if fields:
            blocks.append(fields)
    return blocks


def stream_events(body: bytes) -> list[dict]:
    """The valid ``message`` events with a token (what a robust client keeps)."""
    events = []
    for block in sse_blocks(body):
        if block.get("event", "message") != "message" or "data" not in block:
            continue
        try:
            data = json.loads(block["data"])
        except ValueError:
            continue
        if isinstance(data, dict) and "token" in data:
            events.append(data)
    return events


def stream_text(body: bytes) -> str:
    return "".join(e["token"] for e in stream_events(body))


def capture_bytes(name: str) -> bytes:
    """A recorded reply; a missing one is a broken checkout, so it fails the test (no skip)."""
    path = CAPTURES / name
    if not path.is_file():
        raise AssertionError(f"recorded capture {name} is missing from {CAPTURES}")
    return path.read_bytes()


def capture_head(name: str) -> tuple[str, list[tuple[str, str]]]:
    """(status line, headers) of a recorded reply."""
    head = capture_bytes(name).split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return head[0], [(n, v) for n, _, v in (line.partition(": ") for line in head[1:])]


def capture_body(name: str) -> bytes:
    return capture_bytes(name).split(b"\r\n\r\n", 1)[1]


def find_prompt(emu, predicate, max_length: int = 30, tries: int = 500, **kwargs) -> str:
    """A prompt whose expected text satisfies ``predicate`` (deterministic search)."""
    for i in range(tries):
        prompt = f"Prompt number {i}"
        if predicate(emu.expected_text(prompt, max_length, **kwargs)):
            return prompt
    raise AssertionError("no prompt found")


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
