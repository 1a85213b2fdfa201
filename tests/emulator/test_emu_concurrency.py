"""The generation lock: 503 with --multiuser 0, a silent queue otherwise, limits, ordering."""

from __future__ import annotations

import select
import time

import pytest
from emu_wire import get, open_request, post, read_response, stream_events, wait_for

STREAM = "/api/extra/generate/stream"


def busy(emu) -> bool:
    return get(emu.port, "/api/extra/perf").json()["idle"] == 0


def test_multiuser_0_answers_503_at_once(start_emulator):
    emu = start_emulator(multiuser=0, token_rate=100.0)
    first = open_request(emu.port, "POST", STREAM, {"prompt": "A", "max_length": 1000})
    try:
        assert wait_for(lambda: busy(emu))
        for path in (STREAM, "/api/v1/generate", "/api/unknown/post"):
            t0 = time.monotonic()
            r = post(emu.port, path, {"prompt": "B", "max_length": 5})
            assert r.status == 503 and r.eof
            assert time.monotonic() - t0 < 2.0  # immediate, not queued
        # lock-free endpoints keep working while busy
        assert post(emu.port, "/api/extra/tokencount", {"prompt": "hi"}).status == 200
        assert post(emu.port, "/api/extra/generate/check", {}).status == 200
        assert get(emu.port, "/api/extra/perf").json()["queue"] == 0
        post(emu.port, "/api/extra/abort", {})
        r = read_response(first)
        assert stream_events(r.body)[-1]["finish_reason"] == "length"
    finally:
        first.close()
    assert [g.prompt for g in emu.generations] == ["A"]  # 503s leave no record


def test_queued_stream_gets_no_bytes_until_it_owns_the_lock(start_emulator):
    emu = start_emulator(token_rate=50.0)
    first = open_request(emu.port, "POST", STREAM, {"prompt": "A", "max_length": 40,
                                                     "genkey": "A"})
    assert wait_for(lambda: emu.generation("A") is not None)
    second = open_request(emu.port, "POST", STREAM, {"prompt": "B", "max_length": 5,
                                                      "genkey": "B"})
    try:
        assert wait_for(lambda: get(emu.port, "/api/extra/perf").json()["queue"] == 1)
        perf = get(emu.port, "/api/extra/perf").json()
        assert perf["idle"] == 0
        assert emu.generation("B").state == "queued"
        assert not emu.is_idle
        # While A runs, B's socket stays silent: not even a status line.
        while emu.generation("A").state != "done":
            readable, _, _ = select.select([second], [], [], 0.02)
            assert not readable, "queued request received bytes"
        r1 = read_response(first)
        r2 = read_response(second)
    finally:
        first.close()
        second.close()
    assert r1.status == 200 and r2.status == 200
    a, b = emu.generation("A"), emu.generation("B")
    assert a.ended_at <= b.started_at
    assert r2.reads[0][0] >= r1.reads[0][0]  # B's headers came after A's
    assert "".join(e["token"] for e in stream_events(r2.body)) == emu.expected_text("B", 5)
    assert emu.wait_idle()


@pytest.mark.parametrize("multiuser, waiters", [(1, 6), (2, 1), (3, 2)])
def test_queue_limit(start_emulator, multiuser, waiters):
    emu = start_emulator(multiuser=multiuser, token_rate=100.0)
    running = open_request(emu.port, "POST", "/api/v1/generate",
                           {"prompt": "run", "max_length": 1000, "genkey": "RUN"})
    assert wait_for(lambda: emu.generation("RUN") is not None)
    queued = []
    try:
        for i in range(waiters):
            queued.append(open_request(emu.port, "POST", "/api/v1/generate",
                                       {"prompt": f"q{i}", "max_length": 1}))
            assert wait_for(lambda n=i + 1: emu.engine.lock.queue == n)
        assert get(emu.port, "/api/extra/perf").json()["queue"] == waiters
        extra = post(emu.port, "/api/v1/generate", {"prompt": "extra", "max_length": 1})
        assert extra.status == 503
        post(emu.port, "/api/extra/abort", {"genkey": "RUN"})
        results = [read_response(s) for s in [running, *queued]]
    finally:
        for s in [running, *queued]:
            s.close()
    assert all(r.status == 200 for r in results)
    # The emulator serves waiters in arrival order (the real mutex does not promise it).
    assert [g.prompt for g in emu.generations] == ["run", *[f"q{i}" for i in range(waiters)]]
    starts = [g.started_at for g in emu.generations]
    assert starts == sorted(starts)


def test_unknown_post_is_404_after_the_lock(emu):
    r = post(emu.port, "/api/extra/nothing", {"x": 1})
    assert r.status_line == "HTTP/1.0 404 Not Found"
    assert r.body == b"" and r.header("content-length") is None
    assert r.header("content-type") == "text/html"
    assert post(emu.port, "/api/v1/generate?x=1", {"prompt": "q"}).status == 404


def test_busy_check_comes_before_password(start_emulator):
    emu = start_emulator(multiuser=0, password="pw", token_rate=100.0)
    ok = {"Authorization": "Bearer pw"}
    first = open_request(emu.port, "POST", "/api/v1/generate",
                         {"prompt": "a", "max_length": 1000}, ok)
    try:
        assert wait_for(lambda: busy(emu))
        wrong = post(emu.port, "/api/v1/generate", {"prompt": "b"},
                     {"Authorization": "Bearer nope"})
        assert wrong.status == 503  # not 401: the lock is checked first
        post(emu.port, "/api/extra/abort", {}, ok)
        read_response(first)
    finally:
        first.close()


def test_wrong_password_waits_in_the_queue_then_gets_401(start_emulator):
    emu = start_emulator(password="pw", token_rate=100.0)
    ok = {"Authorization": "Bearer pw"}
    first = open_request(emu.port, "POST", "/api/v1/generate",
                         {"prompt": "a", "max_length": 20, "genkey": "A"}, ok)
    assert wait_for(lambda: emu.generation("A") is not None)
    second = open_request(emu.port, "POST", "/api/v1/generate", {"prompt": "b"})
    try:
        r2 = read_response(second)
        assert r2.status == 401
        assert emu.generation("A").state == "done"  # 401 only after A finished
        read_response(first)
    finally:
        first.close()
        second.close()
    assert emu.generations[-1].error == "unauthorized"


def test_lock_release_follows_the_sync_reply(start_emulator):
    emu = start_emulator(multiuser=0, lock_release_delay=0.2)
    r = post(emu.port, "/api/v1/generate", {"prompt": "a", "max_length": 2})
    assert r.status == 200 and r.eof
    # The body comes first; EOF only after the lock was released (~lock_release_delay).
    assert emu.is_idle
    assert post(emu.port, "/api/v1/generate", {"prompt": "b", "max_length": 2}).status == 200
