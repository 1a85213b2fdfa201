"""Odd input and foreign servers meet typed errors, never a traceback (issue 6, points 5 and 6)."""

from __future__ import annotations

import ssl
from contextlib import aclosing
from pathlib import Path

import h11
import httpx
import pytest
from foreign_servers import redirecting_server, static_file_server, tls_server

from kobold_gui.core import errors as E
from kobold_gui.core.protocol import TRANSPORT_EXCEPTIONS, KoboldClient, normalize_url

pytestmark = pytest.mark.asyncio


# ----------------------------------------------------------------------------- passwords
async def test_a_latin1_password_reaches_the_server_and_matches(make_emulator):
    emu = make_emulator(password="pässwort")
    client = KoboldClient(emu.url, "pässwort")
    try:
        info = await client.connect()
        assert info.model
        body = {"prompt": "p", "max_length": 4, "genkey": "KCPP1"}
        assert (await client.generate(body)).text == emu.expected_text("p", 4)
    finally:
        await client.aclose()


@pytest.mark.parametrize("password, words", [
    ("line\r\nX-Evil: 1", "line break"),
    ("new\nline", "line break"),
    ("tab\there", "control character"),
    ("nul\x00", "control character"),
    ("argv\udcffbytes", "not valid UTF-8"),
    ("世界", "Latin-1"),
    (" padded ", "space"),
])
async def test_unusable_passwords_are_refused_before_anything_is_sent(password, words):
    with pytest.raises(E.InvalidPassword, match=words) as info:
        KoboldClient("http://127.0.0.1:5001", password)
    assert info.value.exit_code == 2
    client = KoboldClient("http://127.0.0.1:5001")
    try:
        with pytest.raises(E.InvalidPassword):
            client.set_password(password)
        assert not client.has_password
    finally:
        await client.aclose()


# ----------------------------------------------------------------------------- addresses
@pytest.mark.parametrize("url", [
    "http://127.0.0.1:5001/\x00", "http://host\t:5001", "http://ho\x7fst", "http://a b:5001",
    "http://host\n:5001", "http://h\udcffost", "http://user:pw@host:5001", "http://host:0x50",
])
async def test_control_characters_and_credentials_in_the_address_are_refused(url):
    with pytest.raises(E.InvalidURL):
        normalize_url(url)
    with pytest.raises(E.InvalidURL):
        KoboldClient(url)


# ----------------------------------------------------------------------------- exception table
def _make(kind: type[BaseException]) -> BaseException:
    request = httpx.Request("GET", "http://127.0.0.1:1/api/extra/perf")
    if issubclass(kind, UnicodeDecodeError):
        return kind("utf-8", b"\xff", 0, 1, "invalid start byte")
    if issubclass(kind, UnicodeEncodeError):
        return kind("ascii", "ä", 0, 1, "ordinal not in range")
    if issubclass(kind, UnicodeTranslateError):
        return kind("ä", 0, 1, "cannot translate")
    if kind is h11.ProtocolError:
        return h11.LocalProtocolError("boom")
    if issubclass(kind, httpx.StreamError) and kind is not httpx.StreamError:
        return kind()
    if issubclass(kind, httpx.RequestError):
        return kind("boom", request=request)
    if issubclass(kind, httpx.HTTPStatusError):
        return kind("boom", request=request, response=httpx.Response(500, request=request))
    if issubclass(kind, ssl.SSLCertVerificationError):
        err = kind(1, "certificate verify failed")
        err.verify_message = "self-signed certificate"
        return err
    return kind("boom")


def _all_subclasses(root: type[BaseException]) -> set[type[BaseException]]:
    found = {root}
    for sub in root.__subclasses__():
        if sub.__module__.split(".")[0] in ("httpx", "h11", "ssl", "builtins"):
            found |= _all_subclasses(sub)
    return found


RAISABLE = sorted(
    {cls for root in (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict,
                      httpx.StreamError, h11.ProtocolError, UnicodeError, ssl.SSLError)
     for cls in _all_subclasses(root)}
    | {OSError, ConnectionRefusedError, ConnectionResetError, TimeoutError},
    key=lambda c: f"{c.__module__}.{c.__qualname__}",
)


@pytest.mark.parametrize("kind", RAISABLE, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
async def test_every_transport_exception_becomes_a_typed_error(kind):
    """Whatever httpx, h11, ssl or the codecs raise, the caller gets a KoboldError."""
    exc = _make(kind)
    assert isinstance(exc, TRANSPORT_EXCEPTIONS)

    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    client = KoboldClient("http://127.0.0.1:1", transport=httpx.MockTransport(fail))
    try:
        with pytest.raises(E.KoboldError) as info:
            await client.perf()
        with pytest.raises(E.KoboldError):
            async with client.stream({"prompt": "p", "genkey": "KCPP1"}):
                pass
    finally:
        await client.aclose()
    err = info.value
    assert err.message and "\n" not in err.message
    if isinstance(exc, ssl.SSLError):
        assert isinstance(err, E.TLSError) and not err.retryable


# ----------------------------------------------------------------------------- foreign servers
async def test_a_static_file_server_is_not_koboldcpp_and_says_so_at_once(tmp_path: Path):
    with static_file_server(tmp_path) as (url, seen):
        client = KoboldClient(url)
        try:
            with pytest.raises(E.NotKoboldServer, match="not a KoboldCPP server") as info:
                await client.connect()
            assert info.value.exit_code == 7 and not info.value.retryable
            with pytest.raises(E.NotKoboldServer, match="not a KoboldCPP server") as info:
                await client.generate({"prompt": "p", "genkey": "KCPP1"})
            assert not info.value.retryable
            with pytest.raises(E.NotKoboldServer):
                async with client.stream({"prompt": "p", "genkey": "KCPP1"}):
                    pass
        finally:
            await client.aclose()


async def test_a_redirect_is_reported_never_followed_with_the_password(tmp_path: Path):
    with static_file_server(tmp_path) as (target, reached), \
            redirecting_server(target + "/api/v1/model") as (url, seen):
        client = KoboldClient(url, "secret")
        try:
            with pytest.raises(E.Redirected,
                               match=f"redirects to {target}/api/v1/model: use that address"):
                await client.connect()
            with pytest.raises(E.Redirected) as info:
                await client.generate({"prompt": "p", "genkey": "KCPP1"})
            assert not info.value.retryable
            with pytest.raises(E.Redirected):
                async with client.stream({"prompt": "p", "genkey": "KCPP1"}):
                    pass
        finally:
            await client.aclose()
    assert len(seen) == 3
    assert reached == []  # the password never went to the other address


async def test_a_self_signed_certificate_is_a_tls_problem_not_unreachable(tmp_path: Path):
    with tls_server(tmp_path) as (url, _seen):
        client = KoboldClient(url)
        try:
            with pytest.raises(E.TLSError, match="TLS/certificate problem") as info:
                await client.connect()
            assert not info.value.retryable
            assert "certificate" in info.value.message
        finally:
            await client.aclose()
        # http:// to a TLS port, https:// to a plain one: also said to be about TLS.
        plain = KoboldClient(url.replace("https://", "http://"))
        try:
            with pytest.raises(E.KoboldError) as info:
                await plain.connect()
            assert not isinstance(info.value, E.TLSError) or not info.value.retryable
        finally:
            await plain.aclose()


async def test_https_to_a_plain_http_server_is_a_tls_problem(emulator):
    client = KoboldClient(emulator.url.replace("http://", "https://"))
    try:
        with pytest.raises(E.TLSError, match="TLS/certificate problem"):
            await client.connect()
    finally:
        await client.aclose()


async def test_stream_events_unchanged_for_kobold(emulator):
    """The byte header encoding keeps the ordinary path working (no password)."""
    client = KoboldClient(emulator.url)
    try:
        async with client.stream({"prompt": "p", "max_length": 3, "genkey": "KCPP2"}) as s, \
                aclosing(s.events()) as events:
            text = "".join([e.token async for e in events])
        assert text == emulator.expected_text("p", 3)
    finally:
        await client.aclose()
