"""/check and /abort genkey rules (tables of §6.2 and §6.3)."""

from __future__ import annotations

from emu_wire import get, open_request, post, read_response, wait_for

CHECK = "/api/extra/generate/check"
ABORT = "/api/extra/abort"
TRUE_TRUE = {"success": "true", "done": "true"}
TRUE_FALSE = {"success": "true", "done": "false"}
FALSE_FALSE = {"success": "false", "done": "false"}


def check_get(emu) -> str:
    return get(emu.port, CHECK).json()["results"][0]["text"]


def check_post(emu, body) -> str:
    return post(emu.port, CHECK, body).json()["results"][0]["text"]


def test_check_before_any_generation_is_empty(emu):
    assert check_get(emu) == ""
    assert check_post(emu, {}) == ""


def test_check_semantics_without_and_with_genkey(emu):
    # Mirrors d_check_semantics.txt.
    post(emu.port, "/api/v1/generate", {"prompt": "no key", "max_length": 8})
    text = emu.expected_text("no key", 8)
    assert check_get(emu) == text
    assert check_post(emu, {}) == text
    assert check_post(emu, b"garbage") == text  # a bad body counts as "no genkey"
    assert check_post(emu, {"genkey": "X"}) == ""

    post(emu.port, "/api/v1/generate", {"prompt": "with key", "max_length": 8, "genkey": "KZ"})
    text = emu.expected_text("with key", 8)
    assert check_get(emu) == ""
    assert check_post(emu, {}) == ""
    assert check_post(emu, {"genkey": "KZ"}) == text
    assert check_post(emu, {"genkey": "other"}) == ""


def test_check_during_generation_is_cumulative_and_key_protected(start_emulator):
    emu = start_emulator(token_rate=60.0)
    sock = open_request(emu.port, "POST", "/api/v1/generate",
                        {"prompt": "grow", "max_length": 40, "genkey": "G"})
    try:
        full = emu.expected_text("grow", 40)
        assert wait_for(lambda: len(check_post(emu, {"genkey": "G"})) > 0)
        seen = [check_post(emu, {"genkey": "G"}) for _ in range(3)]
        assert all(full.startswith(s) for s in seen)
        assert len(seen[-1]) >= len(seen[0])
        assert check_post(emu, {"genkey": "wrong"}) == ""
        assert check_post(emu, {}) == ""
        assert check_get(emu) == ""
        read_response(sock)
    finally:
        sock.close()
    assert check_post(emu, {"genkey": "G"}) == full  # stays after the end


def test_check_while_prompt_is_processing_is_empty(start_emulator):
    emu = start_emulator(prompt_delay=0.6)
    sock = open_request(emu.port, "POST", "/api/v1/generate",
                        {"prompt": "slow prompt", "max_length": 5, "genkey": "PP"})
    try:
        assert wait_for(lambda: emu.generation("PP") is not None
                        and emu.generation("PP").state == "running")
        assert check_post(emu, {"genkey": "PP"}) == ""
        assert get(emu.port, "/api/extra/perf").json()["idle"] == 0
        read_response(sock)
    finally:
        sock.close()


def test_abort_when_idle(emu):
    # d_abort_idle_variants.txt
    post(emu.port, "/api/v1/generate", {"prompt": "x", "max_length": 2, "genkey": "KCPP1234"})
    assert post(emu.port, ABORT, {"genkey": "KCPP1234"}).json() == TRUE_TRUE
    assert post(emu.port, ABORT, {}).json() == TRUE_TRUE
    assert post(emu.port, ABORT, b"").json() == TRUE_TRUE
    assert post(emu.port, ABORT, {"genkey": "WRONGKEY"}).json() == FALSE_FALSE
    # An idle abort has no lasting effect.
    r = post(emu.port, "/api/v1/generate", {"prompt": "y", "max_length": 6})
    assert r.json()["results"][0]["text"] == emu.expected_text("y", 6)


def test_abort_during_generation_wrong_key_then_no_key(start_emulator):
    emu = start_emulator(token_rate=50.0)
    sock = open_request(emu.port, "POST", "/api/v1/generate",
                        {"prompt": "long", "max_length": 200, "genkey": "RUN"})
    try:
        assert wait_for(lambda: len(emu.generation("RUN").tokens if emu.generation("RUN")
                                    else []) > 0)
        assert post(emu.port, ABORT, {"genkey": "WRONG"}).json() == FALSE_FALSE
        assert emu.generation("RUN").state == "running"
        assert post(emu.port, ABORT, {}).json() == TRUE_TRUE
        r = read_response(sock)
    finally:
        sock.close()
    result = r.json()["results"][0]
    rec = emu.generation("RUN")
    assert result == {"text": rec.text, "finish_reason": "length"}
    assert rec.aborted_by == "abort" and len(rec.tokens) < 200


def test_abort_rules_with_a_queue(start_emulator):
    emu = start_emulator(token_rate=100.0)
    running = open_request(emu.port, "POST", "/api/v1/generate",
                           {"prompt": "a", "max_length": 1000, "genkey": "RUN"})
    assert wait_for(lambda: emu.generation("RUN") is not None)
    queued = open_request(emu.port, "POST", "/api/v1/generate",
                          {"prompt": "b", "max_length": 10, "genkey": "QUE"})
    try:
        assert wait_for(lambda: get(emu.port, "/api/extra/perf").json()["queue"] == 1)
        assert emu.generation("QUE").state == "queued"
        # no genkey while something is queued: refused
        assert post(emu.port, ABORT, {}).json() == FALSE_FALSE
        # a queued request's check is empty, also with no key
        assert check_post(emu, {"genkey": "QUE"}) == ""
        assert check_post(emu, {}) == ""
        # unknown key with a queue: remembered as the deferred abort key
        assert post(emu.port, ABORT, {"genkey": "QUE"}).json() == TRUE_FALSE
        assert post(emu.port, ABORT, {"genkey": "RUN"}).json() == TRUE_TRUE
        r1 = read_response(running)
        r2 = read_response(queued)
    finally:
        running.close()
        queued.close()
    assert r1.json()["results"][0]["text"] == emu.generation("RUN").text
    assert r2.json() == {"results": [{"text": "", "finish_reason": "length"}]}
    rec = emu.generation("QUE")
    assert rec.deferred_abort and rec.tokens == [] and rec.state == "done"
    # the deferred abort is used up: the same key runs normally next time
    r3 = post(emu.port, "/api/v1/generate", {"prompt": "b", "max_length": 10, "genkey": "QUE"})
    assert r3.json()["results"][0]["text"] == emu.expected_text("b", 10)


def test_abort_current_key_while_others_wait(start_emulator):
    emu = start_emulator(token_rate=60.0)
    running = open_request(emu.port, "POST", "/api/v1/generate",
                           {"prompt": "a", "max_length": 200, "genkey": "RUN"})
    assert wait_for(lambda: emu.generation("RUN") is not None)
    queued = open_request(emu.port, "POST", "/api/v1/generate",
                          {"prompt": "b", "max_length": 3, "genkey": "QUE"})
    try:
        assert wait_for(lambda: get(emu.port, "/api/extra/perf").json()["queue"] == 1)
        assert post(emu.port, ABORT, {"genkey": "RUN"}).json() == TRUE_TRUE
        read_response(running)
        assert read_response(queued).json()["results"][0]["text"] == emu.expected_text("b", 3)
    finally:
        running.close()
        queued.close()
    assert emu.generation("RUN").aborted_by == "abort"
    assert emu.generation("QUE").aborted_by is None


def test_perf_reflects_generations(start_emulator):
    emu = start_emulator(token_rate=100.0)
    post(emu.port, "/api/v1/generate",
         {"prompt": "p", "max_length": 7, "sampler_seed": 1234})
    perf = get(emu.port, "/api/extra/perf").json()
    assert perf["total_gens"] == 1 and perf["last_token_count"] == 7
    assert perf["last_seed"] == 1234 and perf["stop_reason"] == 0 and perf["idle"] == 1
    assert perf["last_eval"] > 0
    assert perf["uptime"] >= perf["idletime"] >= 0
