"""The fault matrix through the core: whatever the emulator does wrong, no text is lost.

Each case runs one generation against a faulty emulator and compares what the client shows with
the emulator's ground truth: the text it generated for each request. After a broken stream the
client continues with a new request whose prompt ends with the text so far, so the ground truth
is the chain of those requests.
"""

from __future__ import annotations

import asyncio

import pytest
from ground_truth import FRAMING_FAULTS, assert_chain_is_ground_truth

from kobold_gui.core import settings as S
from kobold_gui.core.events import (
    ConnectionState,
    Failed,
    Finished,
    Recovered,
    Retrying,
    StateChanged,
    Tokens,
)
from kobold_gui.core.generation import Generation, ResilienceConfig
from kobold_gui.core.protocol import KoboldClient
from kobold_gui.core.recovery import event_limit
from kobold_gui.core.retry import RetryPolicy
from kobold_gui.emulator import Faults

pytestmark = pytest.mark.asyncio

FAST = ResilienceConfig(stall_after=0.3, poll_interval=0.1,
                        retry=RetryPolicy(base_delay=0.1, max_delay=0.5, max_attempts=8))
PROMPT = "In the beginning"  # its ground truth has multi-byte characters early


async def generate(emu, max_length=60, config=FAST, **overrides):
    values = S.defaults()
    values.update(max_length=max_length, **overrides)
    client = KoboldClient(emu.url)
    events: list = []
    try:
        gen = Generation(client, PROMPT, values, events.append, config=config)
        outcome = await asyncio.wait_for(gen.run(), 60)
    finally:
        await client.aclose()
    return gen, outcome, events


def shown(events) -> str:
    return "".join(e.text for e in events if isinstance(e, Tokens | Recovered))


def states(events) -> list[tuple[ConnectionState, str]]:
    return [(e.state, e.detail) for e in events if isinstance(e, StateChanged)]


@pytest.mark.parametrize("fault", FRAMING_FAULTS.values(), ids=FRAMING_FAULTS.keys())
async def test_framing_faults_do_not_change_the_text(make_emulator, fault):
    emu = make_emulator()
    emu.faults = fault
    gen, outcome, events = await generate(emu)
    assert isinstance(outcome, Finished)
    assert outcome.text == shown(events) == emu.expected_text(PROMPT, 60)
    assert any(ord(c) > 127 for c in outcome.text)
    assert len(emu.generations) == 1


@pytest.mark.parametrize("fault", [Faults(drop_after_events=4), Faults(reset_after_events=4)],
                         ids=["close", "reset"])
async def test_dropped_stream_is_recovered_and_continued(make_emulator, fault):
    emu = make_emulator(token_rate=100.0)
    emu.faults = fault
    gen, outcome, events = await generate(emu, max_length=40)
    assert isinstance(outcome, Finished) and not outcome.stopped
    records = assert_chain_is_ground_truth(emu, outcome.text, PROMPT)
    assert sum(len(r.tokens) for r in records) == 40  # continued for the remaining length
    assert len(records) > 1
    assert outcome.text == shown(events)
    # The server generated past the break; that text came back through check, marked.
    assert outcome.recovered
    for start, end in outcome.recovered:
        assert 0 <= start < end <= len(outcome.text)
    assert ConnectionState.RECOVERING in [s for s, _ in states(events)]
    assert emu.wait_idle(2.0)


async def test_server_restart_mid_stream(make_emulator):
    emu = make_emulator(token_rate=100.0)
    emu.faults = Faults(restart_after_events=3, restart_seconds=0.6)
    gen, outcome, events = await generate(emu, max_length=30)
    assert isinstance(outcome, Finished), outcome
    # The restarted server forgot the first request: the client continues from what it had.
    last = emu.generations[-1]
    assert last.prompt == PROMPT + outcome.text[: len(last.prompt) - len(PROMPT)]
    assert outcome.text.endswith(last.text)
    assert last.text == emu.expected_text(last.prompt, last.max_length)
    assert any(isinstance(e, Retrying) for e in events)
    assert outcome.text == shown(events)


async def test_stalled_stream_shows_text_by_polling_check(make_emulator):
    emu = make_emulator(token_rate=60.0)
    emu.faults = Faults(stall_after_events=2, stall_seconds=1.5)
    gen, outcome, events = await generate(emu, max_length=60)
    assert isinstance(outcome, Finished)
    assert outcome.text == shown(events) == emu.expected_text(PROMPT, 60)
    assert len(emu.generations) == 1
    assert any("polling" in d for s, d in states(events) if s == ConnectionState.STREAMING)


async def test_buffering_proxy_text_appears_before_the_end(make_emulator):
    emu = make_emulator(token_rate=50.0)
    emu.faults = Faults(buffer_stream=True)
    gen, outcome, events = await generate(emu, max_length=60)
    assert isinstance(outcome, Finished)
    assert outcome.text == shown(events) == emu.expected_text(PROMPT, 60)
    # Text was shown in many steps while the proxy held the stream back, not all at once.
    assert sum(isinstance(e, Tokens) for e in events) >= 3
    assert any("buffering proxy" in d for _, d in states(events))


async def test_stream_that_never_ends_after_the_server_finished(make_emulator):
    emu = make_emulator(token_rate=100.0)
    emu.faults = Faults(stall_after_events=1, stall_seconds=30)
    gen, outcome, events = await generate(emu, max_length=10)
    assert isinstance(outcome, Finished)
    assert outcome.text == emu.expected_text(PROMPT, 10)
    assert len(emu.generations) == 1


async def test_long_prompt_is_processing_not_a_failure(make_emulator):
    emu = make_emulator()
    emu.faults = Faults(prompt_delay=1.5)
    gen, outcome, events = await generate(emu, max_length=10)
    assert isinstance(outcome, Finished)
    assert outcome.text == emu.expected_text(PROMPT, 10)
    assert any(s == ConnectionState.PROCESSING and "prompt" in d for s, d in states(events))
    assert not any(isinstance(e, Retrying) for e in events)
    assert len(emu.generations) == 1


async def test_no_stream_endpoint_falls_back_to_polling(make_emulator):
    emu = make_emulator(token_rate=40.0)
    emu.faults = Faults(no_stream_endpoint=True)
    gen, outcome, events = await generate(emu, max_length=40)
    assert isinstance(outcome, Finished) and outcome.mode == "poll"
    assert outcome.text == shown(events) == emu.expected_text(PROMPT, 40)
    assert sum(isinstance(e, Tokens) for e in events) >= 2  # text arrived while it ran
    assert any("polling" in d for _, d in states(events))


async def test_queued_behind_another_client(make_emulator):
    emu = make_emulator(token_rate=60.0, multiuser=1)
    other = KoboldClient(emu.url)
    try:
        task = asyncio.ensure_future(other.generate({"prompt": "other", "max_length": 40,
                                                     "genkey": "OTHER"}))
        while emu.last_generation is None:
            await asyncio.sleep(0.01)
        gen, outcome, events = await generate(emu, max_length=10)
        await task
    finally:
        await other.aclose()
    assert outcome.text == emu.expected_text(PROMPT, 10)
    assert ConnectionState.QUEUED in [s for s, _ in states(events)]


async def test_stop_leaves_nothing_generating(make_emulator):
    emu = make_emulator(token_rate=40.0)
    client = KoboldClient(emu.url)
    events: list = []
    values = S.defaults()
    values["max_length"] = 400
    try:
        gen = Generation(client, PROMPT, values, events.append, config=FAST)
        task = asyncio.ensure_future(gen.run())
        while len(shown(events)) < 10:
            await asyncio.sleep(0.01)
        gen.stop()
        outcome = await asyncio.wait_for(task, 10)
        # The next generation starts only once the server is idle: no 503.
        second = await Generation(client, "next", S.defaults() | {"max_length": 5},
                                  lambda e: None, config=FAST).run()
    finally:
        await client.aclose()
    assert outcome.stopped and outcome.text == emu.generations[0].text
    assert emu.generations[0].aborted_by == "abort"
    assert second.text == emu.expected_text("next", 5)
    assert emu.wait_idle(2.0)


async def test_stop_while_polling_a_server_that_cannot_stream(make_emulator):
    emu = make_emulator(token_rate=40.0)
    emu.faults = Faults(no_stream_endpoint=True)
    client = KoboldClient(emu.url)
    events: list = []
    values = S.defaults() | {"max_length": 400}
    try:
        gen = Generation(client, PROMPT, values, events.append, config=FAST)
        task = asyncio.ensure_future(gen.run())
        while len(shown(events)) < 10:
            await asyncio.sleep(0.01)
        gen.stop()
        outcome = await asyncio.wait_for(task, 10)
    finally:
        await client.aclose()
    assert outcome.stopped and outcome.mode == "poll"
    record = emu.generations[-1]
    assert record.endpoint == "sync" and record.aborted_by == "abort"
    assert outcome.text == record.text and len(record.tokens) < 400
    assert emu.wait_idle(2.0)


# -- issue 6: unreadable events, restarts counted in tokens, endless streams -------------------
@pytest.mark.parametrize("kinds", ["json", "no_token", "number", "list",
                                   "json,no_token,number,list"])
async def test_unreadable_events_lose_no_text(make_emulator, kinds):
    emu = make_emulator(token_rate=100.0)
    emu.faults = Faults(garbage_instead=kinds, garbage_every=3)
    gen, outcome, events = await generate(emu, max_length=60)
    assert isinstance(outcome, Finished) and not outcome.warnings
    record = emu.generations[0]
    assert record.streamed_text != record.text  # text really went missing on the wire
    # Complete, in order, nothing shown twice (the events are all that stdout would get).
    assert outcome.text == shown(events) == record.text == emu.expected_text(PROMPT, 60)
    assert len(emu.generations) == 1


async def test_a_server_record_that_disagrees_is_reported_not_spliced(make_emulator):
    emu = make_emulator(token_rate=100.0)
    emu.faults = Faults(garbage_instead="list", garbage_every=3,
                        check_text_override="something else entirely")
    gen, outcome, events = await generate(emu, max_length=40)
    assert isinstance(outcome, Finished)
    record = emu.generations[0]
    # What was shown is kept as it was; the server's disagreeing record is not mixed in.
    assert outcome.text == shown(events) == record.streamed_text
    assert "something else" not in outcome.text
    assert outcome.warnings and "kept" in outcome.warnings[0]


async def test_continuing_after_a_restart_counts_tokens_with_the_server(make_emulator):
    from kobold_gui.emulator.textgen import tokenize

    emu = make_emulator(token_rate=100.0)
    emu.faults = Faults(restart_after_events=3, restart_seconds=0.6)
    gen, outcome, events = await generate(emu, max_length=40)
    assert isinstance(outcome, Finished), outcome
    assert len(emu.generations) >= 1
    # The full length, as the server's tokenizer counts it (not 2-18 % short).
    assert len(tokenize(outcome.text, add_bos=False)) == 40
    last = emu.generations[-1]
    assert last.text == emu.expected_text(last.prompt, last.max_length)


async def test_an_endless_stream_is_cut_off_and_its_text_kept(make_emulator):
    emu = make_emulator(token_rate=4000.0, poll_interval=0.002)
    emu.faults = Faults(endless_stream=True)
    gen, outcome, events = await generate(emu, max_length=30)
    assert isinstance(outcome, Failed), outcome
    assert "events for at most 30 tokens" in outcome.error.message
    assert emu.wait_idle(5.0)
    record = emu.generations[0]
    assert record.aborted_by in ("abort", "disconnect")
    assert outcome.text == shown(events) == record.text
    # It stopped reading right after the most events 30 tokens can make.
    assert outcome.error.context["events"] == event_limit(30) + 1


async def test_stop_during_a_flood_acts_at_once(make_emulator):
    emu = make_emulator(token_rate=4000.0, poll_interval=0.002)
    emu.faults = Faults(endless_stream=True)
    client = KoboldClient(emu.url)
    events: list = []
    try:
        gen = Generation(client, PROMPT, S.defaults() | {"max_length": 3000}, events.append,
                         config=FAST)
        task = asyncio.ensure_future(gen.run())
        while sum(isinstance(e, Tokens) for e in events) < 200:
            await asyncio.sleep(0.01)
        record = emu.generations[0]
        sent_at_stop = len(record.sent_events)
        gen.stop()
        outcome = await asyncio.wait_for(task, 20)
    finally:
        await client.aclose()
    assert outcome.stopped
    # At most one poll interval's worth of events per millisecond for 0.5 s: 250 events.
    assert len(record.sent_events) - sent_at_stop < 250
    assert emu.wait_idle(5.0)
    assert outcome.text == shown(events) == record.text


async def test_unreadable_blocks_do_not_count_towards_the_event_limit(make_emulator):
    # One token per event, and garbage before most events: more blocks than max_length.
    emu = make_emulator(token_rate=50.0, poll_interval=0.005)
    emu.faults = Faults(garbage_events=True)
    gen, outcome, events = await generate(emu, max_length=40)
    assert isinstance(outcome, Finished), outcome
    assert outcome.text == shown(events) == emu.expected_text(PROMPT, 40)
