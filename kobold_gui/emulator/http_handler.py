"""Request routing, auth and response framing, modelled on koboldcpp.py 1.76's handler.

Same base class as the real server (``http.server``), so the status line (HTTP/1.0), the
``Server``/``Date`` headers and "one request per connection" come out identical. Routes are
matched by suffix after stripping trailing ``/``; the query string is *not* removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from .config import EmulatorConfig, Faults
from .engine import Engine, GenerationRecord, LockClosed
from .instruct import CHATML_ADAPTER, fills_placeholders
from .params import BadTypeError, DropConnection, parse_gen_params
from .streaming import hang_stream, run_stream
from .textgen import tokenize

if TYPE_CHECKING:
    from .server import Emulator

log = logging.getLogger(__name__)

CORS_ALLOW_HEADERS = (
    "*, Accept, Content-Type, Content-Length, Cache-Control, Accept-Encoding, X-CSRF-Token, "
    "Client-Agent, X-Fields, Content-Type, Authorization, X-Requested-With, "
    "X-HTTP-Method-Override, apikey, genkey"
)
NOT_FOUND_TEXT = (
    "Error: HTTP Server is running, but this endpoint does not exist. Please check the URL."
)
MAX_PAYLOAD = 32 * 1024 * 1024
KOBOLDAI_API_VERSION = "1.2.5"

BUSY_BODY = {"detail": {"msg": "Server is busy; please try again later.",
                        "type": "service_unavailable"}}
UNAUTHORIZED_BODY = {"detail": {"error": "Unauthorized",
                                "msg": "Authentication key is missing or invalid.",
                                "type": "unauthorized"}}
BAD_INPUT_BODY = {"detail": {"msg": "Error parsing input.", "type": "bad_input"}}
TOO_BIG_BODY = {"detail": {"msg": "Payload is too big. Max payload size is 32MB.",
                           "type": "bad_input"}}

SYNC_PATHS = ("/api/v1/generate", "/api/latest/generate")
STREAM_PATH = "/api/extra/generate/stream"

_ROOT_HTML = (
    "<!DOCTYPE html><html><head><title>KoboldCpp (emulated)</title></head>"
    "<body><p>KoboldCpp API emulator. See /api/extra/version.</p></body></html>"
)


def dumps(obj: object) -> bytes:
    """Server JSON: ``json.dumps`` defaults (ASCII only, ``", "`` and ``": "``)."""
    return json.dumps(obj).encode()


class EmulatorHTTPServer(ThreadingHTTPServer):
    """One server lifetime: its listening socket and its Engine (a restart makes a new one)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # bursts of test clients must not hit SYN retries

    def __init__(self, address: tuple[str, int], emulator: Emulator, engine: Engine) -> None:
        self.emulator = emulator
        self.engine = engine
        super().__init__(address, KoboldHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); not needed here.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        # Client resets and dropped connections are normal here: no traceback on stderr.
        log.debug("error while handling %s", client_address, exc_info=True)


class EmulatorHTTPServer6(EmulatorHTTPServer):
    """The same server on an IPv6 address (``--host ::1``)."""

    address_family = socket.AF_INET6


class KoboldHandler(BaseHTTPRequestHandler):
    """Serves one request per connection, like koboldcpp's ``ServerRequestHandler``."""

    server_version = "ConcedoLlamaForKoboldServer"
    sys_version = ""  # version_string() -> "ConcedoLlamaForKoboldServer " (trailing space)
    protocol_version = "HTTP/1.0"
    server: EmulatorHTTPServer

    # -- plumbing ------------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.server.emulator._register_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._unregister_connection(self.connection)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s - %s", self.address_string(), format % args)

    def log_error(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s - %s", self.address_string(), format % args)

    def end_headers(self, content_type: str | None = None) -> None:
        """CORS + ``cache-control: no-store`` + content type, as the real server appends."""
        self.send_header("access-control-allow-origin", "*")
        self.send_header("access-control-allow-methods", "*")
        self.send_header("access-control-allow-headers", CORS_ALLOW_HEADERS)
        self.send_header("cache-control", "no-store")
        if content_type is not None:
            self.send_header("content-type", content_type)
        super().end_headers()

    @property
    def engine(self) -> Engine:
        return self.server.engine

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def _reply(self, code: int, body: bytes, content_type: str = "application/json",
               with_length: bool = True) -> None:
        self.send_response(code)
        if with_length:
            self.send_header("content-length", str(len(body)))
        self.end_headers(content_type=content_type)
        self.wfile.write(body)

    def _reply_json(self, obj: object, code: int = 200) -> None:
        self._reply(code, dumps(obj))

    def _reply_error(self, code: int, obj: object) -> None:
        """401/500/503 replies carry no content-length (body ends at close)."""
        self._reply(code, dumps(obj), with_length=False)

    def _drop_connection(self) -> None:
        """Close without any response (the real server raised outside its handler)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- auth ----------------------------------------------------------------------------------
    def _key_ok(self) -> bool:
        password = self.engine.config.effective_password
        if not password:
            return True
        header = self.headers.get("Authorization")
        if header is None or not header.startswith("Bearer "):
            return False
        return header[len("Bearer "):].strip() == password

    def _secure(self) -> bool:
        """Send 401 and return False when a password is set and the key is wrong."""
        if self._key_ok():
            return True
        self._reply_error(401, UNAUTHORIZED_BODY)
        return False

    # -- methods -------------------------------------------------------------------------------
    def do_OPTIONS(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers(content_type="text/html")

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers(content_type="text/html")

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.rstrip("/")
        cfg = self.engine.config
        body: bytes | None = None
        content_type = "application/json"
        if path in ("", "/?") or path.startswith(("/?", "?")) or path in ("/api", "/docs"):
            body, content_type = _ROOT_HTML.encode(), "text/html"
        elif path.endswith(("/api/v1/model", "/api/latest/model")):
            name = cfg.model_name if self._key_ok() else "koboldcpp/protected-model"
            body = dumps({"result": name})
        elif path.endswith(("/api/v1/config/max_length", "/api/latest/config/max_length")):
            body = dumps({"value": cfg.horde_max_length})
        elif path.endswith(
            ("/api/v1/config/max_context_length", "/api/latest/config/max_context_length")
        ):
            body = dumps({"value": min(cfg.context_length, cfg.horde_max_context)})
        elif path.endswith(("/api/v1/config/soft_prompt", "/api/latest/config/soft_prompt")):
            body = dumps({"value": ""})
        elif path.endswith(
            ("/api/v1/config/soft_prompts_list", "/api/latest/config/soft_prompts_list")
        ):
            body = dumps({"values": []})
        elif path.endswith(("/api/v1/info/version", "/api/latest/info/version")):
            body = dumps({"result": KOBOLDAI_API_VERSION})
        elif path.endswith("/api/extra/true_max_context_length"):
            body = dumps({"value": cfg.context_length})
        elif path.endswith("/api/extra/version"):
            body = dumps(_version_body(cfg))
        elif path.endswith("/api/extra/perf"):
            body = dumps(self.engine.perf())
        elif path.endswith("/api/extra/generate/check"):
            if not self._secure():
                return
            body = dumps({"results": [{"text": self._check_text(None, via_get=True)}]})
        elif path == "/api/extra/preloadstory":
            body = dumps({})
        elif path.endswith("/v1/models"):
            body = dumps({"object": "list", "data": [{
                "id": cfg.model_name, "object": "model", "created": int(time.time()),
                "owned_by": "koboldcpp", "permission": [], "root": "koboldcpp"}]})
        if body is None:
            self.send_response(404)
            self.end_headers(content_type="text/html")
            self.wfile.write(NOT_FOUND_TEXT.encode())
        else:
            self._reply(200, body, content_type)

    def do_POST(self) -> None:  # noqa: N802
        faults = self.emulator.faults
        length_header = self.headers.get("content-length")
        body: bytes | None = None
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                self._drop_connection()
                return
            if length > MAX_PAYLOAD:
                self._reply_error(500, TOO_BIG_BODY)
                return
            body = self.rfile.read(length)
        path = self.path.rstrip("/")
        if path.endswith("/api/extra/tokencount"):
            self._tokencount(body)
        elif path.endswith("/api/extra/abort"):
            self._abort(body)
        elif path.endswith("/api/extra/generate/check"):
            if self._secure():
                key = _body_genkey(body)
                self._reply_json({"results": [{"text": self._check_text(key, via_get=False)}]})
        else:
            self._lock_taking_post(path, body, faults)

    # -- lock-free POST endpoints ------------------------------------------------------------
    def _tokencount(self, body: bytes | None) -> None:
        if not self._secure():
            return
        try:
            data = json.loads(body or b"")  # no body reads like an empty one: both fail
            prompt = data.get("prompt", "")
            if not isinstance(prompt, str):
                raise TypeError("prompt must be a string")
            ids = tokenize(prompt, add_bos=bool(data.get("special", True)))
        except Exception:
            self._reply(400, dumps({"value": -1}))
            return
        self._reply_json({"value": len(ids), "ids": ids})

    def _abort(self, body: bytes | None) -> None:
        if not self._secure():
            return
        reply, aborted = self.engine.abort(_body_genkey(body))
        if aborted:
            self.engine.sleep(self.engine.config.abort_reply_delay)
        self._reply_json(reply)

    def _check_text(self, genkey: object, via_get: bool) -> str:
        override = self.emulator.faults.check_text_override
        if override is not None:
            return override
        return self.engine.check_text(genkey, via_get)

    # -- lock-taking POST endpoints ------------------------------------------------------------
    def _lock_taking_post(self, path: str, body: bytes | None, faults: Faults) -> None:
        engine = self.engine
        kind: str | None = None
        if path.endswith(SYNC_PATHS):
            kind = "sync"
        elif path.endswith(STREAM_PATH) and not faults.no_stream_endpoint:
            kind = "stream"
        if kind is not None and engine.take_busy_fault(faults):
            self._reply_error(503, BUSY_BODY)
            return
        records: list[GenerationRecord] = []

        def admitted() -> None:
            if kind is not None:
                records.append(engine.new_record(_peek_json(body), kind))

        try:
            acquired = engine.lock.acquire(engine.config.multiuser, admitted)
        except LockClosed:
            for rec in records:
                _fail_record(rec, "shutdown")
            self._drop_connection()
            return
        if not acquired:
            self._reply_error(503, BUSY_BODY)
            return
        try:
            self._locked(kind, body, faults, records[0] if records else None)
        finally:
            engine.sleep(engine.config.lock_release_delay)
            engine.lock.release()

    def _locked(self, kind: str | None, body: bytes | None, faults: Faults,
                record: GenerationRecord | None) -> None:
        engine = self.engine
        if kind is None or record is None:
            self.send_response(404)
            self.end_headers(content_type="text/html")
            return
        engine.mark_request()
        if not self._secure():
            _fail_record(record, "unauthorized")
            return
        try:
            data = json.loads(body or b"")  # no body reads like an empty one: both fail
        except Exception:
            _fail_record(record, "bad_input")
            self._reply_error(500, BAD_INPUT_BODY)
            return
        try:
            params = parse_gen_params(data, engine.config.context_length,
                                      engine.config.default_max_length,
                                      _placeholder_adapter(engine.config))
        except DropConnection:
            _fail_record(record, "dropped")
            self._drop_connection()
            return
        except BadTypeError as exc:
            log.debug("type error in generation body: %s", exc)
            _fail_record(record, "bad_type")
            if kind == "sync":
                self._reply(200, b"null")
            else:
                hang_stream(self, engine)
            return
        gen, view = engine.start_generation(params, record, faults)
        if kind == "stream":
            run_stream(self, engine, gen, view, params, faults, record)
            return
        if gen is not None:
            while not gen.wait(0.05) and not engine.closed.is_set():
                pass
        if engine.closed.is_set():  # the server went away mid-generation: no reply
            self._drop_connection()
            return
        if faults.drop_sync_response:
            self._drop_connection()
            return
        text = record.response_text if gen is not None else ""
        reply = {"results": [{"text": text, "finish_reason": record.finish_reason or "length"}]}
        try:
            self._reply_json(reply)
        except OSError:
            # The sync endpoint never aborts on disconnect; the reply is simply lost.
            log.debug("sync reply could not be sent: client gone")


def _fail_record(record: GenerationRecord, error: str) -> None:
    record.error = error
    record.state = "done"
    record.ended_at = time.monotonic()


def _peek_json(body: bytes | None) -> dict | None:
    try:
        data = json.loads(body or b"")  # no body reads like an empty one: both fail
    except Exception:
        return None
    return data if isinstance(data, dict) else None


def _body_genkey(body: bytes | None) -> object:
    data = _peek_json(body)
    return data.get("genkey", "") if data is not None else ""


def _version_body(cfg: EmulatorConfig) -> dict[str, object]:
    """/api/extra/version: 1.76's flags, and from 1.88 on the newer servers' too (§12)."""
    body: dict[str, object] = {"result": "KoboldCpp", "version": cfg.version,
                               "protected": bool(cfg.effective_password), "txt2img": False,
                               "vision": False, "transcribe": False}
    if fills_placeholders(cfg.version):
        body.update({"multiplayer": False, "websearch": False, "tts": False,
                     "embeddings": False, "savedata": False, "admin": 0, "guidance": False,
                     "jinja": False, "llm": True, "audio": False})
    return body


def _placeholder_adapter(cfg: EmulatorConfig) -> dict[str, str] | None:
    """The adapter whose tags fill instruct placeholders (None: this version does not)."""
    if not fills_placeholders(cfg.version):
        return None
    return cfg.adapter if cfg.adapter is not None else CHATML_ADAPTER
