"""KoboldClient against the emulator over real HTTP on loopback."""

import asyncio
import http.server
import socket
import threading
from contextlib import aclosing

import pytest

from kobold_gui.core import errors as E
from kobold_gui.core.generation import new_genkey
from kobold_gui.core.protocol import KoboldClient, normalize_url
from kobold_gui.emulator import Faults

pytestmark = pytest.mark.asyncio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def stream_text(client: KoboldClient, body: dict) -> tuple[str, str]:
    parts: list[str] = []
    async with client.stream(body) as stream, aclosing(stream.events()) as events:
        async for event in events:
            parts.append(event.token)
            if event.final:
                return "".join(parts), event.finish_reason
    raise AssertionError("no final event")


async def test_connect_identifies_the_server(make_emulator):
    emu = make_emulator(model="koboldcpp/test-model", context_length=8192)
    client = KoboldClient(emu.url)
    try:
        info = await client.connect()
    finally:
        await client.aclose()
    assert info.model == "koboldcpp/test-model"
    assert info.version.is_koboldcpp and info.version.version == "1.76"
    assert info.max_context_length == 8192


async def test_streamed_text_equals_ground_truth_with_multibyte(emulator):
    client = KoboldClient(emulator.url)
    prompt = "Once upon a time"
    try:
        text, reason = await stream_text(
            client, {"prompt": prompt, "max_length": 120, "genkey": new_genkey()})
    finally:
        await client.aclose()
    assert text == emulator.expected_text(prompt, 120)
    assert text == emulator.last_generation.text
    assert reason == "length"
    assert any(ord(ch) > 127 for ch in text), "the sample should include multi-byte characters"


async def test_sync_generate_and_check_by_genkey(emulator):
    client = KoboldClient(emulator.url)
    key = new_genkey()
    try:
        result = await client.generate({"prompt": "Hello", "max_length": 30, "genkey": key})
        assert result.text == emulator.expected_text("Hello", 30)
        assert await client.check(key) == result.text
        assert await client.check(new_genkey()) == ""
    finally:
        await client.aclose()


async def test_abort_stops_the_server_side_generation(make_emulator):
    emu = make_emulator(token_rate=40.0)
    client = KoboldClient(emu.url)
    key = new_genkey()
    body = {"prompt": "Long story", "max_length": 400, "genkey": key}
    received: list[str] = []
    try:
        async with client.stream(body) as stream, aclosing(stream.events()) as events:
            async for event in events:
                received.append(event.token)
                if len(received) == 3:
                    assert await client.abort(key) is True
                if event.final:
                    break
        assert emu.wait_idle(5.0)
        record = emu.generation(key)
        assert record.aborted_by == "abort"
        assert len(record.tokens) < 400
        assert "".join(received) == record.text
        assert (await client.perf()).idle
    finally:
        await client.aclose()


async def test_second_generation_gets_server_busy(make_emulator):
    emu = make_emulator(token_rate=40.0, multiuser=0)
    client = KoboldClient(emu.url)
    try:
        body = {"prompt": "a", "max_length": 200, "genkey": "K1"}
        async with client.stream(body) as stream, aclosing(stream.events()) as events:
            await anext(events)
            with pytest.raises(E.ServerBusy) as info:
                await client.generate({"prompt": "b", "max_length": 5, "genkey": "K2"})
            assert info.value.retryable
            assert "busy" in info.value.message
    finally:
        await client.aclose()


async def test_password_required_wrong_and_right(make_emulator):
    emu = make_emulator(password="s3cret")
    body = {"prompt": "x", "max_length": 5, "genkey": new_genkey()}
    for password, message in ((None, "needs a password"), ("nope", "rejected the password")):
        client = KoboldClient(emu.url, password)
        try:
            with pytest.raises(E.AuthenticationFailed, match=message):
                await stream_text(client, body)
            with pytest.raises(E.AuthenticationFailed):
                await client.connect()
        finally:
            await client.aclose()
    client = KoboldClient(emu.url, "s3cret")
    try:
        text, _ = await stream_text(client, body)
        assert text == emu.expected_text("x", 5)
        assert (await client.connect()).model != "koboldcpp/protected-model"
    finally:
        await client.aclose()


async def test_malformed_events_are_skipped_not_fatal(make_emulator):
    emu = make_emulator()
    emu.faults = Faults(garbage_events=True)
    client = KoboldClient(emu.url)
    try:
        async with client.stream({"prompt": "p", "max_length": 40, "genkey": "G"}) as stream:
            parts = []
            async with aclosing(stream.events()) as events:
                async for event in events:
                    parts.append(event.token)
            assert stream.skipped > 0
    finally:
        await client.aclose()
    assert "".join(parts) == emu.expected_text("p", 40)


async def test_server_down_is_a_connection_error():
    client = KoboldClient(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(E.ConnectionFailed, match="Cannot reach the server.*connection refused"):
            await client.connect()
    finally:
        await client.aclose()


async def test_stream_closed_without_final_event_is_interrupted(make_emulator):
    emu = make_emulator(token_rate=100.0)
    emu.faults = Faults(drop_after_events=3)
    client = KoboldClient(emu.url)
    try:
        with pytest.raises(E.StreamInterrupted) as info:
            await stream_text(client, {"prompt": "p", "max_length": 200, "genkey": "D"})
        assert info.value.retryable
    finally:
        await client.aclose()


async def test_something_that_is_not_koboldcpp():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"<html>router admin</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = KoboldClient(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        with pytest.raises(E.NotKoboldServer, match="KoboldCPP"):
            await client.connect()
        with pytest.raises(E.NotKoboldServer, match="not an event stream"):
            await stream_text(client, {"prompt": "p", "genkey": "x"})
    finally:
        await client.aclose()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("url, expected", [
    ("localhost:5001", "http://localhost:5001"),
    ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
    ("https://example.org/kobold/", "https://example.org/kobold"),
])
async def test_urls_people_type_are_accepted(url, expected):
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["", "ftp://host", "http://", "http://host:99999",
                                 "http://host:5001/?x=1"])
async def test_bad_urls_are_rejected_clearly(url):
    with pytest.raises(E.InvalidURL):
        normalize_url(url)


async def test_tokencount_and_perf(emulator):
    client = KoboldClient(emulator.url)
    try:
        assert await client.tokencount("hello world") > 0
        perf = await client.perf()
        assert perf.idle and perf.queue == 0
    finally:
        await client.aclose()
    await asyncio.sleep(0)


async def test_newer_servers_json_null_finish_reason(make_emulator):
    emu = make_emulator(json_null_finish=True)
    client = KoboldClient(emu.url)
    try:
        text, reason = await stream_text(
            client, {"prompt": "New server", "max_length": 30, "genkey": new_genkey()})
    finally:
        await client.aclose()
    assert text == emu.expected_text("New server", 30)
    assert reason == "length"


async def test_final_event_text_is_kept_and_eos_reports_stop(make_emulator):
    emu = make_emulator(eos_chance=0.2, token_rate=0)
    client = KoboldClient(emu.url)
    try:
        text, reason = await stream_text(
            client, {"prompt": "Short", "max_length": 200, "genkey": new_genkey()})
    finally:
        await client.aclose()
    assert text == emu.expected_text("Short", 200)
    assert reason == emu.expected_finish_reason("Short", 200) == "stop"
