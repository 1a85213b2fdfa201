"""KoboldClient: every KoboldCPP endpoint the app uses, mapped to typed results and errors.

One `httpx.AsyncClient` is built per KoboldClient and reused (building one blocks for 20-40 ms).
KoboldCPP answers with HTTP/1.0 and closes every connection, so keep-alive is switched off and
each request opens a fresh connection. Streams have no read timeout: a long prompt or a queue is
silence, not failure; the generation layer watches for stalls itself.
"""

from __future__ import annotations

import codecs
import json
import logging
import socket
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import h11
import httpx
from httpx_sse import EventSource

from . import errors as E
from .serverinfo import (  # noqa: F401 (re-exported: they were defined here)
    DEFAULT_URL,
    Perf,
    ServerInfo,
    ServerVersion,
    authorization_header,
    normalize_url,
)

log = logging.getLogger(__name__)

#: Ordinary requests: a healthy server answers info endpoints in milliseconds.
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: Streams and synchronous generation: no read limit (prompt processing and queues are silent).
GENERATION_TIMEOUT = httpx.Timeout(10.0, connect=5.0, read=None)

#: Everything httpx, its transports and the codecs can raise while sending or receiving;
#: `KoboldClient.map_exception` turns each into a typed KoboldError.
TRANSPORT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError,
    h11.ProtocolError, UnicodeError, ssl.SSLError, OSError,
)


@dataclass(frozen=True)
class GenerateResult:
    text: str
    finish_reason: str


@dataclass(frozen=True)
class StreamEvent:
    """One `data:` event; `finish_reason` is None on every event but the last.

    An event that could not be read (invalid JSON, no `token`, a token that is not a string)
    is still reported, with `unreadable` saying why and an empty token: its text is missing
    here, and the generation takes it from the server's record (`check`).
    """

    token: str
    finish_reason: str | None = None
    unreadable: str | None = None
    #: how many stream events this stands for: `EventStream.batches` merges the consecutive
    #: readable events of one network read into one (their tokens joined, in order)
    count: int = 1

    @property
    def final(self) -> bool:
        return self.finish_reason is not None


def _detail(body: bytes) -> tuple[str, str]:
    """(msg, type) from KoboldCPP's `{"detail": {...}}` error bodies; empty when absent."""
    try:
        detail = json.loads(body)["detail"]
        return str(detail.get("msg", "")), str(detail.get("type", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", ""


def tls_verify(url: str) -> ssl.SSLContext | bool:
    """httpx's `verify` for a client of `url`. An https server: httpx's default (certifi's
    roots). Plain http never does TLS (the client asks only `url`, redirects are not followed),
    so its context trusts nothing: were it ever used, it would refuse the certificate, and
    certifi's ~150 roots are not parsed for nothing (1.3 MB of the idle window, a few ms)."""
    if urlsplit(url).scheme == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with no root to trust
    return True


class KoboldClient:
    """Talks to one server. Cheap to call, costly to build: make one per server address."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        password: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = normalize_url(url)
        self._password: str | None = None
        self._auth: bytes | None = None
        self.set_password(password)
        self._http = httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
            headers={"User-Agent": "kobold_gui"},
            # A redirect is reported, never followed: it would carry the password elsewhere.
            follow_redirects=False,
            verify=tls_verify(self.url),
        )

    # ----------------------------------------------------------------- plumbing
    @property
    def has_password(self) -> bool:
        return self._password is not None

    def set_password(self, password: str | None) -> None:
        """Raises InvalidPassword at once (nothing is sent) when it cannot be used."""
        auth = authorization_header(password) if password else None
        self._password = password or None
        self._auth = auth

    def _headers(self) -> dict[bytes, bytes]:
        return {b"Authorization": self._auth} if self._auth else {}

    async def aclose(self) -> None:
        await self._http.aclose()

    def _network_error(self, exc: BaseException, path: str) -> E.KoboldError:
        """Any of TRANSPORT_EXCEPTIONS (or anything else) as the typed error a person reads."""
        ctx = {"url": self.url, "endpoint": path, "exception": repr(exc)}
        tls = _tls_problem(exc)
        if tls is not None:
            return E.TLSError(f"TLS/certificate problem with {self.url}: {tls}", **ctx)
        if isinstance(exc, httpx.ConnectTimeout):
            return E.ConnectTimeout(
                f"The server at {self.url} did not accept the connection in time", **ctx
            )
        if isinstance(exc, httpx.ConnectError):
            return E.ConnectionFailed(
                f"Cannot reach the server at {self.url}: {_reason(exc)}. "
                "Is KoboldCPP running at that address?", **ctx
            )
        if isinstance(exc, httpx.TimeoutException):
            return E.ServerError(f"The server at {self.url} stopped answering ({path})", **ctx)
        if isinstance(exc, httpx.RemoteProtocolError | h11.RemoteProtocolError):
            return E.ProtocolError(
                f"The server closed the connection without a proper answer ({path})", **ctx
            )
        if isinstance(exc, httpx.DecodingError | UnicodeDecodeError):
            return E.ProtocolError(f"The server's answer to {path} could not be decoded", **ctx)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return E.InvalidURL(f"{self.url} is not a usable server address", **ctx)
        if isinstance(exc, httpx.TooManyRedirects):
            return E.Redirected(f"The server at {self.url} redirects: use the final address",
                                **ctx)
        if isinstance(exc, httpx.LocalProtocolError | h11.LocalProtocolError | UnicodeError
                      | httpx.CookieConflict | httpx.StreamError):
            return E.BadRequest(f"The request to {path} could not be sent ({_reason(exc)})",
                                **ctx)
        if isinstance(exc, httpx.HTTPError | OSError):
            return E.ConnectionFailed(f"Lost the connection to {self.url}: {_reason(exc)}",
                                      **ctx)
        return E.ProtocolError(f"Unexpected failure talking to {self.url}: {_reason(exc)}",
                               **ctx)

    def _status_error(self, status: int, body: bytes, path: str, location: str = ""
                      ) -> E.KoboldError:
        msg, kind = _detail(body)
        ctx = {"url": self.url, "endpoint": path, "status": status, "body": body[:300]}
        if status == 401:
            if self._password:
                return E.AuthenticationFailed("The server rejected the password", **ctx)
            return E.AuthenticationFailed("The server needs a password", **ctx)
        if status == 503:
            # Newer servers also answer 503 for rate limits: show their words when they differ.
            extra = f" ({msg})" if msg and "busy" not in msg.lower() else ""
            return E.ServerBusy("The server is busy with another generation" + extra, **ctx)
        if 300 <= status < 400:
            location = location or "another address"
            return E.Redirected(
                f"The server at {self.url} redirects to {location}: use that address", **ctx,
                location=location,
            )
        if status == 404:
            return E.EndpointMissing(f"This server has no {path} endpoint", **ctx)
        if status in (405, 501):
            # KoboldCPP answers GET and POST on every path; refusing the method means it is
            # something else (`python3 -m http.server` answers 501 to POST).
            return E.NotKoboldServer(
                f"The server at {self.url} is not a KoboldCPP server "
                f"(HTTP {status} to a {path} request)", **ctx)
        if kind == "bad_input" or 400 <= status < 500:
            return E.BadRequest(
                f"The server rejected the request: {msg or f'HTTP {status}'}", **ctx
            )
        return E.ServerError(f"The server failed (HTTP {status}{': ' + msg if msg else ''})",
                             **ctx)

    async def _request(
        self, method: str, path: str, *, json_body: Any = None, timeout: Any = None,
        allow_null: bool = False,
    ) -> Any:
        """Send one request; return parsed JSON or raise a KoboldError."""
        started = time.monotonic()
        try:
            response = await self._http.request(
                method, self.url + path, json=json_body, headers=self._headers(),
                timeout=timeout or REQUEST_TIMEOUT,
            )
        except TRANSPORT_EXCEPTIONS as exc:
            err = self._network_error(exc, path)
            err.context["elapsed"] = round(time.monotonic() - started, 3)
            raise err from exc
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.content, path,
                                     response.headers.get("location", ""))
        try:
            data = response.json()
        except ValueError:
            raise E.NotKoboldServer(
                f"The server at {self.url} answered {path} with something that is not JSON "
                f"({response.headers.get('content-type', 'no content type')}). "
                "Is this a KoboldCPP server?",
                url=self.url, endpoint=path, body=response.content[:300],
            ) from None
        if data is None and not allow_null:
            raise E.BadRequest(
                "The server could not use the request (a setting probably has the wrong type)",
                url=self.url, endpoint=path,
            )
        return data

    # ----------------------------------------------------------------- info endpoints
    async def version(self) -> ServerVersion:
        data = await self._request("GET", "/api/extra/version")
        if not isinstance(data, dict) or "result" not in data:
            raise E.NotKoboldServer(
                f"The server at {self.url} does not look like KoboldCPP", url=self.url
            )
        return ServerVersion(
            name=str(data.get("result")), version=str(data.get("version", "")),
            protected=bool(data.get("protected", False)), raw=data,
        )

    async def model(self) -> str:
        data = await self._request("GET", "/api/v1/model")
        if not isinstance(data, dict) or not isinstance(data.get("result"), str):
            raise E.NotKoboldServer(f"The server at {self.url} reported no model", url=self.url)
        return data["result"]

    async def max_context_length(self) -> int:
        """The real context size; older servers only have the (4096-capped) config value."""
        try:
            data = await self._request("GET", "/api/extra/true_max_context_length")
        except E.EndpointMissing:
            data = await self._request("GET", "/api/v1/config/max_context_length")
        try:
            return int(data["value"])
        except (KeyError, TypeError, ValueError):
            raise E.ProtocolError("The server reported no context size", url=self.url) from None

    async def perf(self) -> Perf:
        d = await self._request("GET", "/api/extra/perf")
        try:
            return Perf(
                idle=bool(d.get("idle", 1)), queue=int(d.get("queue", 0)),
                last_token_count=int(d.get("last_token_count", 0)),
                stop_reason=int(d.get("stop_reason", -1)),
                total_gens=int(d.get("total_gens", 0)),
                last_eval=float(d.get("last_eval", 0.0)),
                last_process=float(d.get("last_process", 0.0)),
                raw=d,
            )
        except (AttributeError, TypeError, ValueError):
            raise E.ProtocolError("The server's status (perf) could not be read",
                                  url=self.url) from None

    async def connect(self) -> ServerInfo:
        """Identify the server: is it KoboldCPP, which model, how much context."""
        try:
            version = await self.version()
        except E.EndpointMissing:
            # A KoboldAI-API server without KoboldCPP's extras: usable, fewer features.
            version = ServerVersion(name="KoboldAI API", version="")
        if not version.is_koboldcpp and version.name != "KoboldAI API":
            raise E.NotKoboldServer(
                f"The server at {self.url} says it is {version.name!r}, not KoboldCPP",
                url=self.url,
            )
        try:
            model = await self.model()
        except E.EndpointMissing:
            # Every KoboldCPP and KoboldAI server has /api/v1/model.
            raise E.NotKoboldServer(
                f"The server at {self.url} is not a KoboldCPP server (it has no /api/v1/model)",
                url=self.url,
            ) from None
        if version.protected and model == "koboldcpp/protected-model":
            raise self._status_error(401, b"", "/api/v1/model")
        return ServerInfo(self.url, version, model, await self.max_context_length())

    async def tokencount(self, text: str, special: bool = True) -> int:
        """Tokens in `text` by the server's tokenizer; `special` adds the model's BOS token."""
        data = await self._request("POST", "/api/extra/tokencount",
                                   json_body={"prompt": text, "special": special})
        try:
            return int(data["value"])
        except (KeyError, TypeError, ValueError):
            raise E.ProtocolError("The server's token count could not be read") from None

    # ----------------------------------------------------------------- generation
    async def generate(self, body: dict[str, Any]) -> GenerateResult:
        """Synchronous generation: returns when the server is done."""
        data = await self._request("POST", "/api/v1/generate", json_body=body,
                                   timeout=GENERATION_TIMEOUT)
        try:
            result = data["results"][0]
            return GenerateResult(str(result["text"]), str(result.get("finish_reason", "")))
        except (KeyError, IndexError, TypeError):
            raise E.ProtocolError("The server's generation result could not be read",
                                  url=self.url) from None

    async def check(self, genkey: str) -> str:
        """All text generated so far for `genkey` (cumulative; also after it ended)."""
        data = await self._request("POST", "/api/extra/generate/check",
                                   json_body={"genkey": genkey})
        try:
            return str(data["results"][0]["text"])
        except (KeyError, IndexError, TypeError):
            raise E.ProtocolError("The server's progress (check) could not be read",
                                  url=self.url) from None

    async def abort(self, genkey: str) -> bool:
        """Ask the server to stop generation `genkey`; True if it says it did."""
        data = await self._request("POST", "/api/extra/abort", json_body={"genkey": genkey})
        return isinstance(data, dict) and str(data.get("success")).lower() == "true"

    async def abort_status(self, genkey: str) -> bool:
        """Abort `genkey`; True only if it was running (`done`), False if it was still queued
        (a deferred abort) or unknown. Only a request that ran has text of its own in `check`.
        """
        data = await self._request("POST", "/api/extra/abort", json_body={"genkey": genkey})
        return (isinstance(data, dict) and str(data.get("success")).lower() == "true"
                and str(data.get("done")).lower() == "true")

    @asynccontextmanager
    async def stream(self, body: dict[str, Any]) -> AsyncIterator[EventStream]:
        """Open `/api/extra/generate/stream`; errors before the first byte raise here.

        Leaving the `async with` closes the connection, which the server takes as an abort.
        """
        path = "/api/extra/generate/stream"
        headers = {**self._headers(), b"Accept": b"text/event-stream",
                   b"Cache-Control": b"no-store"}
        try:
            request = self._http.build_request("POST", self.url + path, json=body,
                                               headers=headers, timeout=GENERATION_TIMEOUT)
            response = await self._http.send(request, stream=True)
        except TRANSPORT_EXCEPTIONS as exc:
            raise self._network_error(exc, path) from exc
        try:
            if response.status_code != 200:
                try:
                    content = await response.aread()
                except TRANSPORT_EXCEPTIONS:
                    content = b""
                raise self._status_error(response.status_code, content, path,
                                         response.headers.get("location", ""))
            ctype = response.headers.get("content-type", "")
            if "text/event-stream" not in ctype:
                raise E.NotKoboldServer(
                    f"The server answered the stream request with {ctype or 'no content type'}"
                    ", not an event stream. Is this a KoboldCPP server?",
                    url=self.url, endpoint=path,
                )
            yield EventStream(response, self, path)
        finally:
            await response.aclose()


#: KoboldCPP's framing of every event (`event: message` since 1.4x; plain `data:` elsewhere)
_MESSAGE = "event: message\ndata: "
_DATA = "data: "
_raw_decode = json.JSONDecoder().raw_decode


class _Framing:
    """Reads an event stream once per network read: `(event name, data)` of every event each
    read completed.

    KoboldCPP writes each event as `event: message\ndata: {json}\n\n`: for that framing one
    `split` per read finds every event, at a fraction of the cost of a general SSE line
    decoder. Anything else (carriage returns, comments, ids, several data lines, another
    charset) hands the rest of the stream, from the first such event on, to httpx-sse, which
    reads the whole SSE grammar; text is decoded as httpx does (UTF-8, bad bytes replaced).
    """

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        #: True once the rest of the stream is read by httpx-sse
        self.general = False

    async def reads(self) -> AsyncGenerator[list[tuple[str, str]], None]:
        response = self._response
        try:
            utf8 = codecs.lookup(response.encoding or "utf-8").name == "utf-8"
        except LookupError:
            utf8 = False
        if not utf8:
            async with aclosing(self._general(response)) as everything:
                async for one in everything:
                    yield one
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        tail = ""
        chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
        async with aclosing(chunks):
            async for chunk in chunks:
                text = tail + decoder.decode(chunk)
                blocks = text.split("\n\n")
                tail = blocks.pop()
                items: list[tuple[str, str]] = []
                odd = -1 if "\r" not in text else 0
                if odd < 0:
                    for i, block in enumerate(blocks):
                        if block.startswith(_MESSAGE):
                            data = block[21:]
                        elif block.startswith(_DATA):
                            data = block[6:]
                        else:
                            odd = i
                            break
                        if "\n" in data:
                            odd = i
                            break
                        items.append(("message", data))
                if odd >= 0:
                    # Not KoboldCPP's framing: httpx-sse reads the rest, from this event on.
                    rest = "".join(block + "\n\n" for block in blocks[odd:]) + tail
                    if items:
                        yield items
                    async with aclosing(self._general(self._rest(rest, decoder, chunks))
                                        ) as general:
                        async for one in general:
                            yield one
                    return
                if items:
                    yield items
        # An event without its closing blank line is not an event (httpx-sse drops it too).

    async def _general(self, response: httpx.Response) -> AsyncGenerator[
            list[tuple[str, str]], None]:
        self.general = True
        async with aclosing(EventSource(response).aiter_sse()) as events:
            async for sse in events:
                yield [(sse.event, sse.data)]

    def _rest(self, text: str, decoder: codecs.IncrementalDecoder,
              chunks: AsyncIterator[bytes]) -> httpx.Response:
        """The unread rest of the stream as a response httpx-sse can read."""
        async def content() -> AsyncIterator[bytes]:
            pending = text.encode("utf-8") + decoder.getstate()[0]
            if pending:
                yield pending
            async for chunk in chunks:
                yield chunk

        ctype = self._response.headers.get("content-type", "text/event-stream")
        return httpx.Response(200, headers={"content-type": ctype}, content=content())


class EventStream:
    """Iterate the events of one open stream; stops after the final event."""

    def __init__(self, response: httpx.Response, client: KoboldClient, path: str) -> None:
        self._response = response
        self._client = client
        self._path = path
        self._framing = _Framing(response)
        #: `message` events that could not be read (reported as unreadable)
        self.skipped = 0
        #: events read so far
        self.received = 0

    @property
    def general(self) -> bool:
        """The stream left KoboldCPP's framing and is read by httpx-sse."""
        return self._framing.general

    async def events(self) -> AsyncGenerator[StreamEvent, None]:
        """One StreamEvent per stream event. Use as `async with aclosing(stream.events()) as
        events:` so an early exit closes it."""
        async with aclosing(self._read(None)) as batches:
            async for batch in batches:
                for event in batch:
                    yield event

    async def batches(self, cut_after: int | None = None
                      ) -> AsyncGenerator[list[StreamEvent], None]:
        """The events of each network read, the consecutive readable ones merged into one
        StreamEvent (`count` says how many): a flood costs one merge, one story append and
        one signal per read, not per event. Unreadable events stay in place, alone.
        `cut_after`: a merged run ends at the stream's `cut_after`-th readable event, so a
        reader that stops at a count of events stops there exactly.
        """
        async with aclosing(self._read(cut_after if cut_after is not None else 0)) as batches:
            async for batch in batches:
                yield batch

    async def _read(self, cut_after: int | None) -> AsyncGenerator[list[StreamEvent], None]:
        """cut_after None: every event alone; 0: merged without a cut."""
        try:
            async with aclosing(self._framing.reads()) as reads:
                async for items in reads:
                    batch = self._events(items, cut_after)
                    if batch:
                        yield batch
                        if batch[-1].final:
                            return
        except TRANSPORT_EXCEPTIONS as exc:
            err = self._client._network_error(exc, self._path)
            raise E.StreamInterrupted(
                f"The stream broke after {self.received} events: {err.message}",
                **err.context, events=self.received,
            ) from exc
        raise E.StreamInterrupted(
            f"The server closed the stream after {self.received} events without finishing",
            url=self._client.url, endpoint=self._path, events=self.received,
        )

    def _events(self, items: list[tuple[str, str]], cut_after: int | None
                ) -> list[StreamEvent]:
        """The events of one read, up to and including the final one."""
        out: list[StreamEvent] = []
        run: list[str] = []
        for name, data in items:
            event: StreamEvent | None = None
            token: Any = None
            reason: Any = None
            try:  # the common case, decided without the general path below
                payload, end = _raw_decode(data)
                if end == len(data) and type(payload) is dict:
                    token = payload.get("token")
                    reason = payload.get("finish_reason")
            except Exception:  # noqa: BLE001 - anything odd is decided by _parse below
                token = None
            if type(token) is not str or name not in ("message", ""):
                event = self._parse(name, data)
                if event is None:
                    continue
                if event.unreadable is not None:
                    if run:
                        out.append(StreamEvent("".join(run), count=len(run)))
                        run = []
                    out.append(event)
                    if event.final:
                        return out
                    continue
                token, reason = event.token, event.finish_reason
            self.received += 1
            final = reason is not None and reason != "null"
            if cut_after is None:
                out.append(event if event is not None
                           else StreamEvent(token, str(reason) if final else None))
            else:
                run.append(token)
                if final or self.received == cut_after:
                    out.append(StreamEvent("".join(run), str(reason) if final else None,
                                           count=len(run)))
                    run = []
            if final:
                return out
        if run:
            out.append(StreamEvent("".join(run), count=len(run)))
        return out

    def _parse(self, name: str, data: str) -> StreamEvent | None:
        if name not in ("message", ""):
            log.debug("skipping unknown event %r", name)
            return None  # not a KoboldCPP text event: it never carries our text
        problem: str
        try:
            payload = json.loads(data)
        except ValueError:
            problem = "invalid JSON"
        else:
            token = payload.get("token") if isinstance(payload, dict) else None
            if isinstance(token, str):
                reason = payload.get("finish_reason")
                # 1.76 sends the string "null" on intermediate events, newer servers JSON null.
                final = reason not in (None, "null")
                return StreamEvent(token, str(reason) if final else None)
            if not isinstance(payload, dict):
                problem = f"a JSON {type(payload).__name__}, not an object"
            elif "token" not in payload:
                problem = "no token"
            else:
                problem = f"the token is a {type(token).__name__}, not text"
            reason = payload.get("finish_reason") if isinstance(payload, dict) else None
            if reason not in (None, "null"):
                self.skipped += 1
                log.warning("unreadable final stream event (%s): %.200r", problem, data)
                return StreamEvent("", str(reason), unreadable=problem)
        self.skipped += 1
        log.warning("unreadable stream event (%s): %.200r", problem, data)
        return StreamEvent("", None, unreadable=problem)


def _tls_problem(exc: BaseException) -> str | None:
    """The TLS failure in a few words when one is in the cause chain, else None."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return getattr(cause, "verify_message", None) or "the certificate is not trusted"
        if isinstance(cause, ssl.SSLError):
            # Attributes are set only when the ssl module raised it itself.
            return getattr(cause, "reason", None) or str(cause) or type(cause).__name__
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "[SSL" in text:
        return text
    return None


def _reason(exc: BaseException) -> str:
    """The root cause in a few words ("connection refused"), not anyio's generic wrapper."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host name"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__
