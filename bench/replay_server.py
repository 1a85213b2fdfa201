"""A KoboldCPP stand-in that sends a whole recorded-style stream as fast as a socket takes it.

The emulator paces its events like the real server (a poll every few ms, ~4-5k events/s at
best), so a throughput ratio against it measures the emulator. This server pre-renders every
SSE event of a reply in KoboldCPP 1.76's exact framing (headers as captured from a real server)
and writes them with one `sendall`, so the client is the only thing that can be slow: a
throughput ratio against it measures us.

Only what a client touches around one streamed generation is answered: version, model,
context size, perf, check, abort, tokencount and the stream itself; anything else is a 404.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
from dataclasses import dataclass

#: the stream's header block exactly as a real KoboldCPP 1.76 sent it (captures/c_stream_rawsock)
STREAM_HEADERS = (
    b"HTTP/1.0 200 OK\r\n"
    b"Server: ConcedoLlamaForKoboldServer \r\n"
    b"cache-control: no-cache\r\n"
    b"connection: keep-alive\r\n"
    b"access-control-allow-origin: *\r\n"
    b"access-control-allow-methods: *\r\n"
    b"cache-control: no-store\r\n"
    b"content-type: text/event-stream\r\n\r\n"
)
WORDS = ("the", "lantern", "swung", "over", "quiet", "water", "while", "Mara", "counted",
         "ninety", "stars,", "then", "a", "hundred.", "Ünder", "it,", "café", "lights")


def token_text(index: int) -> str:
    """Deterministic 1-3 word tokens, a few with non-ASCII letters, a newline now and then."""
    word = WORDS[(index * 7) % len(WORDS)]
    return (" " + word) if index % 29 else "\n" + word


@dataclass(frozen=True)
class Reply:
    tokens: int
    body: bytes  # the whole SSE body, every event

    @property
    def text(self) -> str:
        return "".join(token_text(i) for i in range(self.tokens))


def render_reply(tokens: int) -> Reply:
    events = []
    for index in range(tokens):
        last = index == tokens - 1
        payload = {"token": token_text(index), "finish_reason": "length" if last else "null"}
        events.append(b"event: message\ndata: " + json.dumps(payload).encode() + b"\n\n")
    return Reply(tokens, b"".join(events))


def _json_response(payload: object, status: str = "200 OK") -> bytes:
    body = json.dumps(payload).encode()
    return (f"HTTP/1.0 {status}\r\nServer: ConcedoLlamaForKoboldServer \r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() \
        + body


class _Handler(socketserver.BaseRequestHandler):
    server: ReplayServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        method, path = lines[0].split(b" ")[:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        # OSError: the client went away (a stopped generation): nothing to tell anyone
        with contextlib.suppress(OSError):
            sock.sendall(self.server.answer(method.decode(), path.decode(), body))


class ReplayServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tokens: int, context_length: int = 500_000) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply = render_reply(tokens)
        self._replies = {tokens: self.reply}
        self.context_length = context_length
        self.streams = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, method: str, path: str, body: bytes) -> bytes:
        if path == "/api/extra/generate/stream" and method == "POST":
            self.streams += 1
            try:
                wanted = int(json.loads(body).get("max_length", self.reply.tokens))
            except (ValueError, AttributeError, TypeError):
                wanted = self.reply.tokens
            if wanted not in self._replies:
                self._replies[wanted] = render_reply(max(1, wanted))
            return STREAM_HEADERS + self._replies[wanted].body
        if path == "/api/extra/version":
            return _json_response({"result": "KoboldCpp", "version": "1.76", "protected": False,
                                   "txt2img": False, "vision": False, "transcribe": False})
        if path == "/api/v1/model":
            return _json_response({"result": "koboldcpp/replay"})
        if path in ("/api/extra/true_max_context_length", "/api/v1/config/max_context_length"):
            return _json_response({"value": self.context_length})
        if path == "/api/extra/perf":
            return _json_response({"last_process": 1.0, "last_eval": 1.0,
                                   "last_token_count": self.reply.tokens, "last_seed": 1,
                                   "total_gens": self.streams, "stop_reason": 1,
                                   "total_img_gens": 0, "queue": 0, "idle": 1,
                                   "hordeexitcounter": -1, "uptime": 1.0, "idletime": 0.1,
                                   "quiet": False})
        if path == "/api/extra/generate/check":
            return _json_response({"results": [{"text": ""}]})
        if path == "/api/extra/abort":
            return _json_response({"success": "true", "done": "true"})
        if path == "/api/extra/tokencount":
            try:
                prompt = json.loads(body or b"{}").get("prompt", "")
            except (ValueError, AttributeError):
                return _json_response({"value": -1}, "400 Bad Request")
            return _json_response({"value": max(1, len(str(prompt)) // 4), "ids": []})
        return _json_response({"detail": {"error": "not here"}}, "404 Not Found")

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


__all__ = ["ReplayServer", "Reply", "render_reply", "token_text"]
