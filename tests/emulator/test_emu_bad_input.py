"""Malformed bodies the 1.76 way (h_* captures) and /api/extra/tokencount (f_* captures)."""

from __future__ import annotations

import select
import socket
import time

import pytest
from emu_wire import build_request, get, open_request, post, read_response, wait_for

GEN = "/api/v1/generate"
STREAM = "/api/extra/generate/stream"
BAD_INPUT = {"detail": {"msg": "Error parsing input.", "type": "bad_input"}}


@pytest.mark.parametrize("path", [GEN, STREAM])
def test_invalid_json_is_500(emu, path):
    r = post(emu.port, path, b'{"prompt": "x", "max_length": }')
    assert r.status == 500 and r.json() == BAD_INPUT
    assert r.header("content-length") is None


def test_empty_body_without_content_length_is_500(emu):
    sock = socket.create_connection(("127.0.0.1", emu.port))
    try:
        sock.sendall(b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\n\r\n")
        r = read_response(sock)
    finally:
        sock.close()
    assert r.status == 500 and r.json() == BAD_INPUT


def test_payload_too_big_is_500_before_reading(emu):
    sock = socket.create_connection(("127.0.0.1", emu.port))
    try:
        sock.sendall(b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 40000000\r\n\r\n{")
        r = read_response(sock)
    finally:
        sock.close()
    assert r.status == 500
    assert r.json()["detail"]["msg"] == "Payload is too big. Max payload size is 32MB."


@pytest.mark.parametrize("body", [b"[1, 2]", b"123", b'"text"', b"null",
                                  b'{"prompt": "x", "rep_pen": "abc"}'])
def test_non_object_body_closes_without_reply(emu, body):
    r = post(emu.port, GEN, body)
    assert r.raw == b"" and (r.eof or r.error is not None)
    assert wait_for(lambda: emu.is_idle)
    assert emu.generations[-1].error == "dropped"


@pytest.mark.parametrize("max_length", [-1, 0])
def test_non_positive_max_length_gives_empty_text(emu, max_length):
    r = post(emu.port, GEN, {"prompt": "x", "max_length": max_length})
    assert r.body == b'{"results": [{"text": "", "finish_reason": "length"}]}'


def test_missing_prompt_and_unknown_fields_are_fine(emu):
    r = post(emu.port, GEN, {"max_length": 9, "n": 1, "quiet": True, "whatever": [1]})
    assert r.json()["results"][0]["text"] == emu.expected_text("", 9)


@pytest.mark.parametrize("field, value", [
    ("temperature", "abc"), ("max_length", "100"), ("max_length", 40.0),
    ("max_length", None), ("max_length", True), ("top_k", 40.0), ("prompt", 123),
    ("temperature", None), ("mirostat", 2.0), ("stop_sequence", 5),
    ("stop_sequence", ["ok", 3]), ("sampler_seed", "abc"),
])
def test_wrong_types_give_200_null(emu, field, value):
    r = post(emu.port, GEN, {"prompt": "x", "max_length": 5, field: value})
    assert r.status == 200
    assert r.body == b"null" and r.header("content-length") == "4"
    assert emu.generations[-1].error == "bad_type"
    assert emu.generations[-1].tokens == []


def test_lenient_fields(emu):
    r = post(emu.port, GEN, {"prompt": "x", "max_length": 3, "temperature": 1,
                             "sampler_seed": "77", "stop_sequence": ["", None],
                             "sampler_order": [6, "x"], "rep_pen": 1})
    assert r.json()["results"][0]["text"] == emu.expected_text("x", 3)


def test_stream_with_wrong_type_hangs_after_headers(start_emulator):
    emu = start_emulator()
    sock = open_request(emu.port, "POST", STREAM,
                        {"prompt": "x", "max_length": "100", "genkey": "H"})
    try:
        r = read_response(sock, timeout=0.4)
        assert r.timed_out and not r.eof  # socket left open ...
        assert r.status == 200 and r.header("content-type") == "text/event-stream"
        assert r.body == b""  # ... and silent
        assert get(emu.port, "/api/extra/perf").json()["idle"] == 0  # the lock is held
    finally:
        sock.close()
    # The emulator notices the client closing and frees the lock.
    assert wait_for(lambda: emu.is_idle, 3.0)


def test_stream_with_wrong_type_ends_when_the_server_stops(start_emulator):
    emu = start_emulator()
    sock = open_request(emu.port, "POST", STREAM, {"prompt": "x", "temperature": None})
    try:
        read_response(sock, timeout=0.2)
        t0 = time.monotonic()
        emu.stop()
        assert time.monotonic() - t0 < 3.0
        readable, _, _ = select.select([sock], [], [], 2.0)
        assert readable and sock.recv(100) == b""
    finally:
        sock.close()


def test_max_length_capped_by_context(start_emulator):
    emu = start_emulator(context_length=64)
    r = post(emu.port, GEN, {"prompt": "x", "max_length": 100000})
    assert len(emu.last_generation.tokens) == 48  # 64 - min(60, 16)
    assert r.json()["results"][0]["text"] == emu.expected_text("x", 100000)
    post(emu.port, GEN, {"prompt": "x", "max_length": 100, "max_context_length": 100000})
    assert len(emu.last_generation.tokens) == 48  # max_context_length capped at 64 first
    post(emu.port, GEN, {"prompt": "x", "max_length": 100, "max_context_length": -5})
    assert len(emu.last_generation.tokens) == 4  # -5 - min(-9, 16)
    post(emu.port, GEN, {"prompt": "x", "max_length": 30, "max_context_length": 40})
    assert len(emu.last_generation.tokens) == 24


def test_chunked_body_is_not_supported(emu):
    sock = socket.create_connection(("127.0.0.1", emu.port))
    try:
        sock.sendall(b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        r = read_response(sock)
    finally:
        sock.close()
    assert r.status == 500


def test_one_request_per_connection(emu):
    sock = socket.create_connection(("127.0.0.1", emu.port))
    try:
        req = build_request("GET", "/api/v1/model")
        sock.sendall(req + req)
        r = read_response(sock)
    finally:
        sock.close()
    assert r.eof and r.raw.count(b"HTTP/1.0 200 OK") == 1


# -- tokencount ---------------------------------------------------------------------------------
def test_tokencount(emu):
    r = post(emu.port, "/api/extra/tokencount", {"prompt": "hello world"})
    body = r.json()
    assert r.status == 200 and body["value"] == len(body["ids"]) and body["ids"][0] == 1
    assert list(body) == ["value", "ids"]
    plain = post(emu.port, "/api/extra/tokencount",
                 {"prompt": "hello world", "special": False}).json()
    assert plain["ids"] == body["ids"][1:]
    assert post(emu.port, "/api/extra/tokencount", {"prompt": ""}).json() == {
        "value": 1, "ids": [1]}
    assert post(emu.port, "/api/extra/tokencount", {}).json() == {"value": 1, "ids": [1]}
    longer = post(emu.port, "/api/extra/tokencount", {"prompt": "hello world again"}).json()
    assert longer["ids"][: len(body["ids"])] == body["ids"] and longer["value"] > body["value"]
    uni = post(emu.port, "/api/extra/tokencount", {"prompt": "café 世界 🙂"}).json()
    assert uni["value"] >= 4


@pytest.mark.parametrize("body", [b"notjson", b'{"prompt": 123}', b"[1]", b""])
def test_tokencount_bad_body_is_400(emu, body):
    r = post(emu.port, "/api/extra/tokencount", body)
    assert r.status == 400 and r.body == b'{"value": -1}'


def test_tokencount_runs_during_a_generation(start_emulator):
    emu = start_emulator(multiuser=0, token_rate=50.0)
    sock = open_request(emu.port, "POST", GEN, {"prompt": "a", "max_length": 20})
    try:
        assert wait_for(lambda: not emu.is_idle)
        assert post(emu.port, "/api/extra/tokencount", {"prompt": "x"}).status == 200
        read_response(sock)
    finally:
        sock.close()
