"""What silence means, from probe answers and a fake clock."""

from __future__ import annotations

import pytest

from kobold_gui.core.events import ConnectionState
from kobold_gui.core.stall import Probe, StallWatch, Verdict, describe, server_done


def probe(now, *, last_event_at=0.0, check=0, held=0, done=False, headers=True, polling=False):
    return Probe(now=now, last_event_at=last_event_at, check_length=check, held_length=held,
                 done=done, headers=headers, polling=polling)


# (probes in order, verdicts expected, whether polling starts at the last probe)
CASES = {
    "queued: no headers yet": ([probe(5, headers=False)], [Verdict.QUEUED], False),
    "reading the prompt": ([probe(5)], [Verdict.PROCESSING], False),
    "busy after some text": ([probe(5, held=10, check=10)], [Verdict.STALLED], False),
    "check ahead once: take it, no conclusion": (
        [probe(5, held=10, check=20)], [Verdict.AHEAD], False),
    "check ahead twice in a row: a buffering proxy": (
        [probe(5, held=10, check=20), probe(6, held=20, check=30)],
        [Verdict.AHEAD, Verdict.AHEAD], True),
    "ahead twice but no headers: just late": (
        [probe(5, check=5, headers=False), probe(6, held=5, check=9, headers=False)],
        [Verdict.AHEAD, Verdict.AHEAD], False),
    "done twice, quiet long enough: the stream never ended": (
        [probe(5, held=10, check=10, done=True), probe(6, held=10, check=10, done=True)],
        [Verdict.WAIT, Verdict.NEVER_ENDED], False),
    "done twice but text grew just now: wait": (
        [probe(5, held=5, check=10), probe(6, held=10, check=10, done=True),
         probe(7, held=10, check=10, done=True)],
        [Verdict.AHEAD, Verdict.WAIT, Verdict.WAIT], False),
    "done, then busy again: counting starts over": (
        [probe(5, held=10, check=10, done=True), probe(6, held=10, check=10),
         probe(7, held=10, check=10, done=True)],
        [Verdict.WAIT, Verdict.STALLED, Verdict.WAIT], False),
    "polling and nothing new: quiet": (
        [probe(5, held=10, check=10, polling=True)], [Verdict.WAIT], False),
}


@pytest.mark.parametrize("probes, verdicts, polling", CASES.values(), ids=CASES.keys())
def test_stall_table(probes, verdicts, polling):
    watch = StallWatch(stall_after=3.0, last_growth=0.0)
    decisions = [watch.classify(p) for p in probes]
    assert [d.verdict for d in decisions] == verdicts
    assert decisions[-1].start_polling is polling


def test_reset_forgets_signs_seen_before_an_event():
    watch = StallWatch(stall_after=3.0)
    watch.classify(probe(5, held=10, check=10, done=True))
    watch.reset()  # the stream spoke meanwhile
    assert watch.classify(probe(6, held=10, check=10, done=True)).verdict is Verdict.WAIT


@pytest.mark.parametrize("idle, total, before, has_text, done", [
    (True, 0, None, False, True),
    (False, 5, 4, True, True),  # ours completed, a stuck writer still holds the lock
    (False, 5, 4, False, False),  # no text of ours in hand: may be someone else's
    (False, 4, 4, True, False),
    (False, 5, None, True, False),
])
def test_server_done(idle, total, before, has_text, done):
    assert server_done(idle, total, before, has_text) is done


@pytest.mark.parametrize("verdict, polling, state, words", [
    (Verdict.AHEAD, False, ConnectionState.STREAMING, ""),
    (Verdict.AHEAD, True, ConnectionState.STREAMING, "buffering proxy"),
    (Verdict.QUEUED, False, ConnectionState.QUEUED, "(2 waiting)"),
    (Verdict.PROCESSING, False, ConnectionState.PROCESSING, "reading the prompt (7 s)"),
    (Verdict.STALLED, False, ConnectionState.STALLED, "no new text for 7 s"),
])
def test_describe(verdict, polling, state, words):
    shown = describe(verdict, 7.4, 2, polling)
    assert shown is not None and shown[0] is state and words in shown[1]


@pytest.mark.parametrize("verdict", [Verdict.WAIT, Verdict.NEVER_ENDED])
def test_describe_leaves_the_state_alone(verdict):
    assert describe(verdict, 7.0, 0, False) is None
