"""SSE streaming: framing, timing order, batching, stop sequences, abort and disconnect."""

from __future__ import annotations

import json
import re
import time

from emu_wire import (
    find_prompt,
    get,
    open_request,
    post,
    read_response,
    sse_blocks,
    stream_events,
    wait_for,
)

from kobold_gui.emulator import Faults
from kobold_gui.emulator.sse import SseWriter

STREAM = "/api/extra/generate/stream"
EVENT_RE = re.compile(rb'event: message\ndata: (\{[^\n]*\})\n\n')


def test_event_and_data_lines_are_two_separate_writes():
    writes: list[bytes] = []
    writer = SseWriter(writes.append, Faults())
    writer.event(" café", None)
    writer.event("", "length")
    assert writes == [
        b"event: message\n", b'data: {"token": " caf\\u00e9", "finish_reason": "null"}\n\n',
        b"event: message\n", b'data: {"token": "", "finish_reason": "length"}\n\n',
    ]


def test_stream_framing_final_event_and_close(emu):
    r = post(emu.port, STREAM, {"prompt": "Once upon a time", "max_length": 30, "genkey": "K"})
    assert r.eof and not r.timed_out
    body = r.body
    assert b"\r" not in body
    # The body is nothing but well-formed events, back to back.
    assert EVENT_RE.sub(b"", body) == b""
    events = [json.loads(m) for m in EVENT_RE.findall(body)]
    assert [list(e) for e in events] == [["token", "finish_reason"]] * len(events)
    assert all(e["finish_reason"] == "null" for e in events[:-1])
    assert events[-1]["finish_reason"] == "length"
    text = "".join(e["token"] for e in events)
    assert text == emu.expected_text("Once upon a time", 30)
    rec = emu.generation("K")
    assert rec.endpoint == "stream" and rec.state == "done" and rec.finish_reason == "length"
    assert rec.sent_events == [e["token"] for e in events]
    assert rec.text == text and rec.aborted_by is None


def test_nothing_before_first_poll_delay_then_batched_first_event(start_emulator):
    emu = start_emulator(token_rate=1000.0, first_poll_delay=0.3)
    r = post(emu.port, STREAM, {"prompt": "Batch", "max_length": 200})
    t_headers = r.time_of(b"\r\n\r\n")
    t_first = r.time_of(b"data: ")
    assert t_headers is not None and t_first is not None
    assert t_first >= 0.3 > t_headers  # silence for first_poll_delay, headers at once
    events = stream_events(r.body)
    tokens = emu.expected_tokens("Batch", 200)
    # ~300 tokens were ready at the first poll: they arrive batched in one event.
    assert len(events[0]["token"]) > len(tokens[0]) and len(events) < len(tokens)


def test_slow_model_sends_about_one_token_per_event(start_emulator):
    emu = start_emulator(token_rate=25.0, poll_interval=0.01)
    r = post(emu.port, STREAM, {"prompt": "Slow", "max_length": 12})
    events = stream_events(r.body)
    tokens = emu.expected_tokens("Slow", 12)
    assert len(events) >= 6
    # Event boundaries fall on token boundaries: every event is a run of whole tokens.
    i = 0
    for e in events:
        chunk = ""
        while len(chunk) < len(e["token"]):
            chunk += tokens[i]
            i += 1
        assert chunk == e["token"]
    assert i == len(tokens)


def test_multibyte_text_round_trips(emu):
    prompt = find_prompt(emu, lambda t: "世界" in t or "こんにちは" in t, 80)
    expected = emu.expected_text(prompt, 80)
    r = post(emu.port, STREAM, {"prompt": prompt, "max_length": 80})
    assert all(b < 128 for b in r.body)
    assert "".join(e["token"] for e in stream_events(r.body)) == expected
    sync = post(emu.port, "/api/v1/generate", {"prompt": prompt, "max_length": 80})
    assert sync.json()["results"][0]["text"] == expected


def test_eos_gives_stop_with_empty_final_event(start_emulator):
    emu = start_emulator(eos_chance=0.15, token_rate=1000.0)
    prompt = next(p for p in (f"eos {i}" for i in range(200))
                  if emu.expected_finish_reason(p, 50) == "stop"
                  and len(emu.expected_tokens(p, 50)) >= 2)
    r = post(emu.port, STREAM, {"prompt": prompt, "max_length": 50})
    events = stream_events(r.body)
    assert events[-1] == {"token": "", "finish_reason": "stop"}
    assert "".join(e["token"] for e in events) == emu.expected_text(prompt, 50)
    assert emu.last_generation.stop_reason == 1
    sync = post(emu.port, "/api/v1/generate", {"prompt": prompt, "max_length": 50})
    assert sync.json()["results"][0]["finish_reason"] == "stop"
    banned = post(emu.port, "/api/v1/generate",
                  {"prompt": prompt, "max_length": 10, "ban_eos_token": True})
    assert banned.json()["results"][0]["finish_reason"] == "length"
    assert len(emu.last_generation.tokens) == 10


def test_stop_sequence_without_trim_streams_the_stop_text(emu):
    prompt = find_prompt(emu, lambda t: "\n" in t.strip(), 60)
    r = post(emu.port, STREAM, {"prompt": prompt, "max_length": 60, "stop_sequence": ["\n"]})
    text = "".join(e["token"] for e in stream_events(r.body))
    assert text == emu.expected_text(prompt, 60, ["\n"])
    assert text.endswith("\n") and text.count("\n") == 1
    assert stream_events(r.body)[-1]["finish_reason"] == "length"
    assert get(emu.port, "/api/extra/perf").json()["stop_reason"] == 2


def test_stop_sequence_with_trim_stop(emu):
    full = emu.expected_tokens("Trim me", 80)
    stop = next(t.strip() for t in full[3:] if t.strip().isalpha() and len(t.strip()) > 3)
    raw = emu.expected_text("Trim me", 80, [stop])
    trimmed = emu.expected_text("Trim me", 80, [stop], trim_stop=True)
    assert raw.endswith(stop) and stop not in trimmed
    body = {"prompt": "Trim me", "max_length": 80, "stop_sequence": [stop], "trim_stop": True,
            "genkey": "T"}
    r = post(emu.port, STREAM, body)
    assert "".join(e["token"] for e in stream_events(r.body)) == trimmed
    check = post(emu.port, "/api/extra/generate/check", {"genkey": "T"}).json()
    assert check["results"][0]["text"] == raw  # check is never trimmed
    rec = emu.generation("T")
    assert rec.text == raw and rec.trimmed_text == trimmed
    sync = post(emu.port, "/api/v1/generate", {**body, "genkey": "S"})
    assert sync.json()["results"][0]["text"] == trimmed


def test_bare_string_stop_sequence_is_a_list_of_characters(emu):
    text = emu.expected_text("chars", 60)
    char = next(c for c in text[2:] if c.isalpha())
    r = post(emu.port, "/api/v1/generate",
             {"prompt": "chars", "max_length": 60, "stop_sequence": char + "\u2603"})
    got = r.json()["results"][0]["text"]
    assert got == emu.expected_text("chars", 60, [char, "\u2603"])
    assert got == emu.expected_text("chars", 60, char + "\u2603")
    assert got.endswith(char) or char in got[-12:]


def test_abort_mid_stream_ends_with_length(start_emulator):
    emu = start_emulator(token_rate=40.0)
    sock = open_request(emu.port, "POST", STREAM, {"prompt": "Abort", "max_length": 300,
                                                    "genkey": "A1"})
    try:
        first = read_response(sock, until=b"\n\n" + b"event")  # at least one event
        assert first.reads
        reply = post(emu.port, "/api/extra/abort", {"genkey": "A1"}).json()
        assert reply == {"success": "true", "done": "true"}
        rest = read_response(sock)
        assert rest.eof
    finally:
        sock.close()
    body = (first.raw + rest.raw).split(b"\r\n\r\n", 1)[1]
    events = stream_events(body)
    assert events[-1]["finish_reason"] == "length"
    rec = emu.generation("A1")
    assert rec.aborted_by == "abort" and 0 < len(rec.tokens) < 300
    assert "".join(e["token"] for e in events) == rec.text
    assert rec.text == emu.expected_text("Abort", 300)[: len(rec.text)]
    assert emu.wait_idle()


def test_client_disconnect_aborts_the_generation(start_emulator):
    emu = start_emulator(token_rate=50.0)
    sock = open_request(emu.port, "POST", STREAM, {"prompt": "Bye", "max_length": 300,
                                                    "genkey": "D1"})
    read_response(sock, until=b"data: ")
    sock.close()
    assert emu.wait_idle(5.0)
    rec = emu.generation("D1")
    assert rec.aborted_by == "disconnect" and rec.finish_reason == "length"
    assert 0 < len(rec.tokens) < 300
    check = post(emu.port, "/api/extra/generate/check", {"genkey": "D1"}).json()
    assert check["results"][0]["text"] == rec.text  # the text stays readable


def test_sync_generate_does_not_abort_on_disconnect(start_emulator):
    emu = start_emulator(token_rate=200.0)
    sock = open_request(emu.port, "POST", "/api/v1/generate",
                        {"prompt": "Keep", "max_length": 40, "genkey": "S1"})
    assert wait_for(lambda: emu.generation("S1") is not None
                    and emu.generation("S1").state == "running")
    sock.close()
    assert emu.wait_idle(5.0)
    rec = emu.generation("S1")
    assert rec.aborted_by is None and len(rec.tokens) == 40
    assert rec.text == emu.expected_text("Keep", 40)


def test_lock_released_after_stream_end(start_emulator):
    emu = start_emulator(multiuser=0, stream_close_delay=0.4, lock_release_delay=0.05)
    r = post(emu.port, STREAM, {"prompt": "x", "max_length": 5})
    t_eof = time.monotonic()
    t_final = r.clock_of(b'"finish_reason": "length"')
    # The connection stays open for stream_close_delay after the final event.  The final
    # event's read is stamped when this thread got to it, which on a loaded machine is some
    # milliseconds after the server wrote it, so the bound is well under the delay.
    assert t_eof - t_final >= 0.2
    assert wait_for(lambda: emu.is_idle, 2.0)
    assert post(emu.port, "/api/v1/generate", {"prompt": "y", "max_length": 2}).status == 200


def test_json_null_finish_mode(start_emulator):
    emu = start_emulator(json_null_finish=True, token_rate=1000.0)
    r = post(emu.port, STREAM, {"prompt": "new", "max_length": 20})
    names = [n for n, _ in r.headers]
    assert names[:4] == ["Server", "Date", "X-Accel-Buffering", "cache-control"]
    assert r.header("X-Accel-Buffering") == "no"
    events = [json.loads(b["data"]) for b in sse_blocks(r.body)]
    assert all(e["finish_reason"] is None for e in events[:-1])
    assert events[-1] == {"token": "", "finish_reason": "length"}
    assert "".join(e["token"] for e in events) == emu.expected_text("new", 20)


def test_deferred_abort_of_a_queued_stream_replays_previous_text(start_emulator):
    emu = start_emulator(token_rate=100.0)
    post(emu.port, "/api/v1/generate", {"prompt": "previous", "max_length": 8, "genkey": "P"})
    previous = emu.expected_text("previous", 8)
    running = open_request(emu.port, "POST", "/api/v1/generate",
                           {"prompt": "running", "max_length": 1000, "genkey": "R"})
    assert wait_for(lambda: emu.generation("R") is not None
                    and emu.generation("R").state == "running")
    queued = open_request(emu.port, "POST", STREAM, {"prompt": "queued", "max_length": 30,
                                                      "genkey": "Q"})
    assert wait_for(lambda: get(emu.port, "/api/extra/perf").json()["queue"] == 1)
    assert post(emu.port, "/api/extra/abort", {"genkey": "Q"}).json() == {
        "success": "true", "done": "false"}
    assert post(emu.port, "/api/extra/abort", {"genkey": "R"}).json()["done"] == "true"
    assert read_response(running).eof
    running.close()
    r = read_response(queued)
    queued.close()
    events = stream_events(r.body)
    running_text = emu.generation("R").text
    # 1.76 bug: the cancelled stream replays the previous generation's buffer.
    assert "".join(e["token"] for e in events) == running_text != previous
    assert events[-1]["finish_reason"] == "length"
    rec = emu.generation("Q")
    assert rec.deferred_abort and rec.aborted_by == "abort" and rec.tokens == []


class _ScriptedView:
    """A token buffer that reveals one scripted chunk per poll (to test the hold-back)."""

    def __init__(self, polls: list[list[str]], stop_reason: int = 0) -> None:
        self._polls = polls
        self._poll = -1
        self._tokens: list[str] = []
        self.stop_reason = stop_reason
        self.finished = self  # is_set() below is called once at the start of every poll

    def is_set(self) -> bool:
        self._poll += 1
        if self._poll < len(self._polls):
            self._tokens.extend(self._polls[self._poll])
        return self._poll >= len(self._polls) - 1

    def tokens_from(self, index: int) -> list[str]:
        return self._tokens[index:]


def _run_poll_loop(polls, stops, trim_stop, stop_reason=0):
    from kobold_gui.emulator import EmulatorConfig, GenerationRecord
    from kobold_gui.emulator.engine import Engine
    from kobold_gui.emulator.params import GenParams
    from kobold_gui.emulator.streaming import _poll_loop

    engine = Engine(EmulatorConfig(poll_interval=0), lambda rec: None)
    writes: list[bytes] = []
    record = GenerationRecord(genkey="", prompt="", endpoint="stream")
    params = GenParams(stop_sequence=stops, trim_stop=trim_stop)
    _poll_loop(engine, _ScriptedView(polls, stop_reason), params,
               SseWriter(writes.append, Faults()), record, lambda n: None)
    events = [json.loads(w[len(b"data: "):]) for w in writes if w.startswith(b"data: ")]
    return [(e["token"], e["finish_reason"]) for e in events]


def test_hold_back_leaks_a_stop_that_starts_with_whitespace():
    # §5.5/§5.10: tokens "Hi", " there", "\n", "You", ":" with stop "\nYou:" and trim_stop.
    polls = [["Hi"], [" there"], ["\n"], ["You"], [":"]]
    assert _run_poll_loop(polls, ["\nYou:"], True) == [
        ("Hi", "null"), (" there", "null"), ("\n", "null"), ("You:", "length")]
    # Without trim_stop the stop text is streamed like any other text.
    assert _run_poll_loop(polls, ["\nYou:"], False) == [
        ("Hi", "null"), (" there", "null"), ("\n", "null"), ("You", "null"), (":", "length")]


def test_hold_back_trims_a_stop_split_over_chunks():
    polls = [[" big"], [" dark"], [" forest"], [" went"]]
    assert _run_poll_loop(polls, ["dark forest"], True) == [(" big", "null"), (" ", "length")]
    # false positive: " dark" is held until the next chunk shows it was harmless
    polls = [[" dark"], [" night"], [" came"], []]
    assert _run_poll_loop(polls, ["dark forest"], True) == [
        (" dark night", "null"), (" came", "null"), ("", "length")]


def test_eos_pending_text_goes_out_before_the_stop_event():
    assert _run_poll_loop([["A"], [" b", " c"]], [], False, stop_reason=1) == [
        ("A", "null"), (" b c", "null"), ("", "stop")]
