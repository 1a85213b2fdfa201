"""Recovery decisions: true endings, remaining tokens, continuation bodies, event limits."""

from __future__ import annotations

import pytest

from kobold_gui.core.events import FINISH_WORDS
from kobold_gui.core.recovery import (
    ServerFacts,
    continuation_body,
    event_limit,
    finish_reason,
    perf_is_ours,
    remaining_tokens,
)

OURS = {r: ServerFacts(True, 10, r) for r in (-1, 0, 1, 2)}
NOT_OURS = ServerFacts(False, 99, 2)


@pytest.mark.parametrize("stream, facts, trimmed, reason", [
    ("length", OURS[0], False, "length"),
    ("length", OURS[2], False, "stop_sequence"),  # KoboldCPP says "length" for a stop string
    ("stop", OURS[1], False, "eos"),
    ("length", OURS[-1], False, "length"),  # an error: no better word than the stream's
    ("length", NOT_OURS, False, "length"),  # someone else's generation: ignored
    ("length", None, True, "stop_sequence"),  # the client saw the stop string itself
    ("stop", None, False, "stop"),  # end of sequence or a stop string: cannot tell
    (None, None, False, "length"),
])
def test_finish_reason(stream, facts, trimmed, reason):
    assert finish_reason(stream, facts, trimmed) == reason
    assert reason in FINISH_WORDS


@pytest.mark.parametrize("facts, counted, chars, remaining", [
    (ServerFacts(True, 12, 0), None, 0, 28),  # the server counted: exact
    (ServerFacts(True, 12, 1), None, 0, 0),  # it ended by itself
    (ServerFacts(True, 12, 2), 5, 0, 0),
    (None, 17, 100, 23),  # the server forgot it (restart): counted by its tokenizer
    (ServerFacts(False, 3, 0), 17, 100, 23),
    (None, None, 100, 15),  # tokencount failed too: about four characters a token
    (None, None, 0, 40),
    (None, None, 2, 39),
])
def test_remaining_tokens(facts, counted, chars, remaining):
    assert remaining_tokens(40, facts, counted, chars) == remaining


@pytest.mark.parametrize("idle, total, before, has_text, ours", [
    (False, 5, 4, False, True), (True, 6, 4, True, True), (True, 6, 4, False, False),
    (False, 4, 4, True, False), (True, 0, None, True, True), (True, 0, None, False, False),
])
def test_perf_is_ours(idle, total, before, has_text, ours):
    assert perf_is_ours(idle, total, before, has_text) is ours


def test_continuation_body_keeps_settings_and_extends_the_prompt():
    body = {"prompt": "P", "max_length": 40, "genkey": "OLD", "temperature": 0.5}
    out = continuation_body(body, "P", " so far", 12, "NEW")
    assert out == {"prompt": "P so far", "max_length": 12, "genkey": "NEW", "temperature": 0.5}
    assert body["genkey"] == "OLD"


@pytest.mark.parametrize("max_length", [1, 30, 200, 16384])
def test_event_limit_allows_every_real_stream(max_length):
    limit = event_limit(max_length)
    # One event per token, plus a final event (and an extra empty one on newer servers).
    assert max_length + 2 <= limit <= max_length * 1.1 + 10
