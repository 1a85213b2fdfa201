"""Every injectable fault, observed from a raw-socket client."""

from __future__ import annotations

import json
import socket
import time

import pytest
from emu_wire import (
    find_prompt,
    get,
    open_request,
    post,
    read_response,
    sse_blocks,
    stream_events,
    stream_text,
    wait_for,
)

from kobold_gui.emulator import Faults
from kobold_gui.emulator.sse import SseWriter, split_pieces

STREAM = "/api/extra/generate/stream"
CHECK = "/api/extra/generate/check"


def check(emu, key: str) -> str:
    return post(emu.port, CHECK, {"genkey": key}).json()["results"][0]["text"]


@pytest.fixture
def slow_emu(start_emulator):
    """~2 tokens per 20 ms poll: streams have many events."""
    return start_emulator(token_rate=100.0)


def test_drop_after_events(slow_emu):
    emu = slow_emu
    emu.faults = Faults(drop_after_events=2)
    r = post(emu.port, STREAM, {"prompt": "drop", "max_length": 60, "genkey": "DR"})
    assert r.eof and r.error is None
    events = stream_events(r.body)
    assert len(events) == 2 and all(e["finish_reason"] == "null" for e in events)
    assert emu.wait_idle()
    rec = emu.generation("DR")
    assert rec.aborted_by == "disconnect" and len(rec.tokens) < 60
    streamed = "".join(e["token"] for e in events)
    assert rec.text.startswith(streamed)
    assert check(emu, "DR") == rec.text
    assert rec.text == emu.expected_text("drop", 60)[: len(rec.text)]


def test_drop_after_zero_events_sends_only_headers(emu):
    emu.faults = Faults(drop_after_events=0)
    r = post(emu.port, STREAM, {"prompt": "x", "max_length": 10})
    assert r.status == 200 and r.body == b"" and r.eof


def test_reset_after_events(slow_emu):
    emu = slow_emu
    emu.faults = Faults(reset_after_events=1)
    sock = open_request(emu.port, "POST", STREAM, {"prompt": "rst", "max_length": 60,
                                                    "genkey": "RS"})
    try:
        r = read_response(sock)
    finally:
        sock.close()
    assert isinstance(r.error, ConnectionResetError) and not r.eof
    assert emu.wait_idle()
    assert emu.generation("RS").aborted_by == "disconnect"


def test_stall_after_events(start_emulator):
    emu = start_emulator(token_rate=100.0)
    emu.faults = Faults(stall_after_events=1, stall_seconds=0.8)
    sock = open_request(emu.port, "POST", STREAM, {"prompt": "stall", "max_length": 30,
                                                    "genkey": "ST"})
    try:
        first = read_response(sock, until=b"}\n\n")
        t_first = time.monotonic()
        first_text = stream_text(first.body)
        # The stream is silent but the generation runs on: check shows more text.
        assert wait_for(lambda: len(check(emu, "ST")) > len(first_text), 2.0)
        rest = read_response(sock, t0=t_first)
    finally:
        sock.close()
    # Nothing during the stall (t_first is stamped after the first event's read, so a margin).
    assert rest.eof and rest.reads[0][0] >= 0.5
    events = stream_events(first.body + rest.raw)
    assert events[-1]["finish_reason"] == "length"
    assert "".join(e["token"] for e in events) == emu.expected_text("stall", 30)
    assert len(events[1]["token"]) > len(events[0]["token"])  # the backlog comes at once


def test_busy_first(emu):
    emu.faults = Faults(busy_first=2)
    assert post(emu.port, "/api/v1/generate", {"prompt": "a", "max_length": 2}).status == 503
    assert post(emu.port, STREAM, {"prompt": "a", "max_length": 2}).status == 503
    assert post(emu.port, "/api/extra/tokencount", {"prompt": "a"}).status == 200  # not counted
    assert post(emu.port, "/api/v1/generate", {"prompt": "a", "max_length": 2}).status == 200
    emu.faults = Faults(busy_first=1)  # a new Faults object starts counting again
    r = post(emu.port, STREAM, {"prompt": "a", "max_length": 2})
    assert r.status == 503 and r.json()["detail"]["type"] == "service_unavailable"
    assert post(emu.port, STREAM, {"prompt": "a", "max_length": 2}).status == 200


def test_prompt_delay(emu):
    emu.faults = Faults(prompt_delay=0.6)
    # The clock starts before the request leaves: read times are then a true lower bound on
    # the server's silence, however long the checks below take on a busy machine.
    t0 = time.monotonic()
    sock = open_request(emu.port, "POST", STREAM, {"prompt": "pd", "max_length": 5,
                                                    "genkey": "PD"})
    try:
        assert wait_for(lambda: emu.generation("PD") is not None
                        and emu.generation("PD").state == "running")
        assert get(emu.port, "/api/extra/perf").json()["idle"] == 0
        assert check(emu, "PD") == ""
        r = read_response(sock, t0=t0)
    finally:
        sock.close()
    started = emu.generation("PD").started_at
    assert t0 + r.time_of(b"data: ") >= started + 0.6  # silent while the prompt is processed
    assert stream_text(r.body) == emu.expected_text("pd", 5)
    assert get(emu.port, "/api/extra/perf").json()["last_process"] > 0


def test_buffer_stream(slow_emu):
    emu = slow_emu
    emu.faults = Faults(buffer_stream=True)
    r = post(emu.port, STREAM, {"prompt": "buf", "max_length": 20, "genkey": "BF"})
    rec = emu.generation("BF")
    assert r.time_of(b"\r\n\r\n") < r.time_of(b"data: ")
    assert r.clock_of(b"data: ") >= rec.ended_at  # no event before the generation ended
    events = stream_events(r.body)
    assert len(events) > 1 and events[-1]["finish_reason"] == "length"
    assert "".join(e["token"] for e in events) == emu.expected_text("buf", 20)


def test_garbage_events(slow_emu):
    emu = slow_emu
    emu.faults = Faults(garbage_events=True)
    r = post(emu.port, STREAM, {"prompt": "junk", "max_length": 20})
    assert b"data: {not json\n\n" in r.body
    assert b"event: ping\n" in r.body
    assert b'data: {"finish_reason": "null"}\n\n' in r.body
    names = [b.get("event") for b in sse_blocks(r.body)]
    assert "ping" in names
    events = stream_events(r.body)
    assert events[-1]["finish_reason"] == "length"
    assert "".join(e["token"] for e in events) == emu.expected_text("junk", 20)


def test_split_utf8_pieces_cut_inside_characters():
    writes: list[bytes] = []
    SseWriter(writes.append, Faults(split_utf8=True, split_gap=0)).event(" café 世界", None)
    assert writes[0] == b"event: message\n"
    assert writes[1] == b"data: "
    joined = b"".join(writes)
    expected = 'event: message\ndata: {"token": " café 世界", "finish_reason": "null"}\n\n'
    assert joined == expected.encode()
    undecodable = 0
    for w in writes:
        try:
            w.decode("utf-8")
        except UnicodeDecodeError:
            undecodable += 1
    assert undecodable >= 3
    assert len(split_pieces(b'data: {"token": " plain", "finish_reason": "null"}\n\n')) == 3


def test_split_utf8_on_the_wire(start_emulator):
    emu = start_emulator(token_rate=100.0)
    prompt = find_prompt(emu, lambda t: sum(ord(c) > 127 for c in t) >= 3, 40)
    emu.faults = Faults(split_utf8=True, split_gap=0.01)
    r = post(emu.port, STREAM, {"prompt": prompt, "max_length": 40})
    body = r.body
    assert any(b > 127 for b in body)  # raw UTF-8, not \\u escapes
    assert stream_text(body) == emu.expected_text(prompt, 40)

    def decodable(data: bytes) -> bool:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    assert not all(decodable(d) for _, d in r.reads)
    assert any(d == b"event: message\n" for _, d in r.reads)


def test_crlf(slow_emu):
    emu = slow_emu
    emu.faults = Faults(crlf=True)
    r = post(emu.port, STREAM, {"prompt": "crlf", "max_length": 20})
    assert b"event: message\r\ndata: " in r.body and r.body.endswith(b"}\r\n\r\n")
    assert b"\n" not in r.body.replace(b"\r\n", b"")
    assert stream_text(r.body) == emu.expected_text("crlf", 20)


def test_comments(slow_emu):
    emu = slow_emu
    emu.faults = Faults(comments=True)
    r = post(emu.port, STREAM, {"prompt": "cmt", "max_length": 20})
    assert r.body.startswith(b": keep-alive\n\nevent: message\n")
    assert r.body.count(b": keep-alive\n\n") == len(stream_events(r.body))
    assert stream_text(r.body) == emu.expected_text("cmt", 20)


def test_faults_compose(slow_emu):
    emu = slow_emu
    prompt = find_prompt(emu, lambda t: any(ord(c) > 127 for c in t), 30)
    emu.faults = Faults(crlf=True, comments=True, garbage_events=True, split_utf8=True,
                        split_gap=0.0)
    r = post(emu.port, STREAM, {"prompt": prompt, "max_length": 30})
    assert b": keep-alive\r\n\r\n" in r.body and b"{not json\r\n" in r.body
    events = stream_events(r.body)
    assert events[-1]["finish_reason"] == "length"
    assert "".join(e["token"] for e in events) == emu.expected_text(prompt, 30)


def test_no_stream_endpoint(emu):
    emu.faults = Faults(no_stream_endpoint=True)
    r = post(emu.port, STREAM, {"prompt": "x", "max_length": 3})
    assert r.status == 404 and r.body == b""
    assert post(emu.port, "/api/v1/generate", {"prompt": "x", "max_length": 3}).status == 200
    assert [g.endpoint for g in emu.generations] == ["sync"]


def test_restart_after_events(start_emulator):
    emu = start_emulator(token_rate=100.0)
    port = emu.port
    post(emu.port, "/api/v1/generate", {"prompt": "before", "max_length": 3, "genkey": "B"})
    emu.faults = Faults(restart_after_events=2, restart_seconds=0.5)
    r = post(emu.port, STREAM, {"prompt": "restart", "max_length": 60, "genkey": "RE"})
    assert r.eof or r.error is not None
    events = stream_events(r.body)
    assert len(events) == 2 and events[-1]["finish_reason"] == "null"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert emu.wait_up(5.0)
    assert emu.port == port and emu.restarts == 1
    emu.faults = Faults()
    assert check(emu, "RE") == "" and check(emu, "B") == ""  # state is fresh
    perf = get(port, "/api/extra/perf").json()
    assert perf["total_gens"] == 0 and perf["idle"] == 1
    rec = emu.generation("RE")
    assert rec.aborted_by == "restart" and rec.state == "done"
    again = post(port, STREAM, {"prompt": "after", "max_length": 5})
    assert stream_text(again.body) == emu.expected_text("after", 5)


def test_check_text_override(emu):
    post(emu.port, "/api/v1/generate", {"prompt": "x", "max_length": 3})
    emu.faults = Faults(check_text_override="forced")
    assert get(emu.port, CHECK).json() == {"results": [{"text": "forced"}]}
    assert check(emu, "any") == "forced"


def test_headers_delay(emu):
    emu.faults = Faults(headers_delay=0.3)
    r = post(emu.port, STREAM, {"prompt": "x", "max_length": 3})
    assert r.time_of(b"HTTP/1.0 200 OK") >= 0.3
    assert stream_text(r.body) == emu.expected_text("x", 3)


def test_drop_sync_response(emu):
    emu.faults = Faults(drop_sync_response=True)
    r = post(emu.port, "/api/v1/generate", {"prompt": "x", "max_length": 6, "genkey": "DS"})
    assert r.raw == b""
    rec = emu.generation("DS")
    assert rec.state == "done" and rec.text == emu.expected_text("x", 6)
    assert check(emu, "DS") == rec.text


def _decode_unreadable(data: str) -> str:
    """The text an unreadable ``garbage_instead`` event carries (for checking, not reading)."""
    try:
        payload = json.loads(data)
    except ValueError:
        payload = json.loads(data + "}")  # the ``json`` kind: unterminated
        return payload["token"]
    if "text" in payload:
        return payload["text"]
    token = payload["token"]
    return token[0] if isinstance(token, list) else "\0" * token


@pytest.mark.parametrize("kind", ["json", "no_token", "number", "list"])
def test_garbage_instead_replaces_real_events(slow_emu, kind):
    emu = slow_emu
    emu.faults = Faults(garbage_instead=kind, garbage_every=2)
    r = post(emu.port, STREAM, {"prompt": "lossy", "max_length": 30, "genkey": "LOSSY"})
    expected = emu.expected_text("lossy", 30)
    readable = [e for e in stream_events(r.body) if isinstance(e["token"], str)]
    assert readable[-1]["finish_reason"] == "length"
    # The replaced events' text really is missing for a reader of the stream ...
    assert "".join(e["token"] for e in readable) != expected
    # ... it went out in their place, in order, where no client can read it ...
    pieces = []
    for block in sse_blocks(r.body):
        data = block["data"]
        try:
            event = json.loads(data)
            readable_event = isinstance(event.get("token"), str)
        except ValueError:
            readable_event = False
        pieces.append(event["token"] if readable_event else _decode_unreadable(data))
    if kind != "number":
        assert "".join(pieces) == expected
    # ... and the server's record still has it.
    assert check(emu, "LOSSY") == expected
    assert emu.last_generation.streamed_text == "".join(e["token"] for e in readable)


def test_garbage_instead_cycles_through_kinds(slow_emu):
    emu = slow_emu
    emu.faults = Faults(garbage_instead="json,list", garbage_every=1)
    r = post(emu.port, STREAM, {"prompt": "lossy", "max_length": 30})
    datas = [b["data"] for b in sse_blocks(r.body)][:-1]  # the final event stays readable
    assert len(datas) >= 2
    assert not datas[0].endswith("}") and '"token": [' in datas[1]
    assert stream_events(r.body)[-1]["finish_reason"] == "length"


def test_unknown_garbage_kind_is_refused():
    with pytest.raises(ValueError, match="unknown garbage kind"):
        SseWriter(lambda b: None, Faults(garbage_instead="nonsense"))


def test_endless_stream_ignores_max_length_until_the_client_leaves(start_emulator):
    emu = start_emulator(token_rate=2000.0, poll_interval=0.002)
    emu.faults = Faults(endless_stream=True)
    sock = open_request(emu.port, "POST", STREAM, {"prompt": "again", "max_length": 5})
    try:
        assert wait_for(lambda: emu.last_generation is not None
                        and len(emu.last_generation.sent_events) > 40, timeout=20)
        assert emu.last_generation.state == "running"
    finally:
        sock.close()
    assert emu.wait_idle(10.0)
    rec = emu.last_generation
    assert rec.aborted_by == "disconnect" and len(rec.tokens) > 40  # far beyond max_length
