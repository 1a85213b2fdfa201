"""Real servers on 127.0.0.1 that are not KoboldCPP: a static file server, a redirector, TLS.

Each runs a stdlib `http.server` in a thread on a free port, as a user would meet them
(`python3 -m http.server` at the address they typed, a proxy that redirects, an https:// server
with a self-signed certificate).
"""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler],
          context: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[str]]]:
    """Yield (base address, list of request lines seen) while the server runs."""
    seen: list[str] = []

    class Recording(handler):  # type: ignore[valid-type,misc]
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            seen.append(self.requestline)  # once per answered request

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    scheme = "http"
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@contextmanager
def static_file_server(root: Path) -> Iterator[tuple[str, list[str]]]:
    """`python3 -m http.server`: HTML 404 for /api/..., 501 for POST."""

    class Static(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

    with serve(Static) as served:
        yield served


@contextmanager
def redirecting_server(location: str) -> Iterator[tuple[str, list[str]]]:
    """Every GET and POST answers 301 to `location` (an http->https proxy, a moved host)."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def _redirect(self) -> None:
            self.send_response(301)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _redirect

    with serve(Redirect) as served:
        yield served


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate (made by `openssl req`)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@contextmanager
def tls_server(directory: Path) -> Iterator[tuple[str, list[str]]]:
    with serve(http.server.BaseHTTPRequestHandler, self_signed_context(directory)) as served:
        yield served
