"""One generation through the core: events in order, stop keeps text and frees the server."""

import asyncio

import pytest

from kobold_gui.core import errors as E
from kobold_gui.core import settings as S
from kobold_gui.core.errors import InvalidSettings
from kobold_gui.core.events import (
    ConnectionState,
    Failed,
    Finished,
    Recovered,
    Retrying,
    Started,
    StateChanged,
    Tokens,
    finish_words,
)
from kobold_gui.core.generation import Generation, ResilienceConfig
from kobold_gui.core.protocol import KoboldClient
from kobold_gui.core.retry import RetryPolicy
from kobold_gui.emulator import Faults

pytestmark = pytest.mark.asyncio


def settings(**overrides):
    values = S.defaults()
    values.update(overrides)
    return values


async def test_events_arrive_in_order_and_text_is_ground_truth(emulator):
    client = KoboldClient(emulator.url)
    events = []
    try:
        gen = Generation(client, "In the beginning", settings(max_length=60), events.append)
        outcome = await gen.run()
    finally:
        await client.aclose()
    assert isinstance(events[0], Started) and events[0].genkey == gen.genkey
    assert isinstance(outcome, Finished) and events[-1] is outcome
    streamed = "".join(e.text for e in events if isinstance(e, Tokens))
    expected = emulator.expected_text("In the beginning", 60)
    assert streamed == outcome.text == expected
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states[0] == ConnectionState.CONNECTING
    assert ConnectionState.STREAMING in states and states[-1] == ConnectionState.CONNECTED
    assert emulator.generation(gen.genkey) is not None


async def test_stop_sequence_is_trimmed_by_the_client(make_emulator):
    emu = make_emulator()
    probe = emu.expected_text("Stop me", 80)
    # Pick a stop string that really occurs in the generated text, after some text.
    stop = probe[20:24]
    client = KoboldClient(emu.url)
    try:
        gen = Generation(client, "Stop me", settings(max_length=80, stop_sequence=[stop]),
                         lambda e: None)
        outcome = await gen.run()
    finally:
        await client.aclose()
    assert outcome.text == probe[: probe.find(stop)]
    assert stop not in outcome.text


async def test_stop_aborts_on_server_and_keeps_partial_text(make_emulator):
    emu = make_emulator(token_rate=40.0)
    client = KoboldClient(emu.url)
    events = []
    try:
        gen = Generation(client, "Go", settings(max_length=500), events.append)
        task = asyncio.ensure_future(gen.run())
        while not any(isinstance(e, Tokens) for e in events):
            await asyncio.sleep(0.01)
        gen.stop()
        outcome = await asyncio.wait_for(task, 10)
    finally:
        await client.aclose()
    assert isinstance(outcome, Finished) and outcome.stopped
    assert emu.wait_idle(5.0)
    record = emu.generation(gen.genkey)
    assert record.aborted_by == "abort" and record.state == "done"
    assert outcome.text == record.text  # nothing the server generated was lost
    assert 0 < len(record.tokens) < 500


async def test_invalid_settings_fail_before_anything_is_sent(emulator):
    client = KoboldClient(emulator.url)
    try:
        with pytest.raises(InvalidSettings, match="Temperature"):
            Generation(client, "x", settings(temperature=-1), lambda e: None)
    finally:
        await client.aclose()
    assert emulator.generations == []


async def test_a_busy_server_is_waited_for_not_failed(make_emulator):
    emu = make_emulator(token_rate=60.0, multiuser=0)
    client = KoboldClient(emu.url)
    events = []
    try:
        first = Generation(client, "a", settings(max_length=60), lambda e: None)
        t1 = asyncio.ensure_future(first.run())
        while emu.last_generation is None or emu.last_generation.state != "running":
            await asyncio.sleep(0.01)
        second = await Generation(client, "b", settings(max_length=5), events.append).run()
        await asyncio.wait_for(t1, 10)
    finally:
        await client.aclose()
    assert isinstance(second, Finished), second
    assert second.text == emu.expected_text("b", 5)
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert ConnectionState.QUEUED in states  # shown as waiting, not as an error


async def test_busy_is_retried_with_visible_attempts(make_emulator):
    emu = make_emulator()
    emu.faults = Faults(busy_first=2)
    client = KoboldClient(emu.url)
    events = []
    config = ResilienceConfig(retry=RetryPolicy(base_delay=0.05, max_attempts=5))
    try:
        outcome = await Generation(client, "x", settings(max_length=10), events.append,
                                   config=config).run()
    finally:
        await client.aclose()
    retries = [e for e in events if isinstance(e, Retrying)]
    assert [r.attempt for r in retries] == [1, 2]
    assert all(isinstance(r.reason, E.ServerBusy) and r.max_attempts == 5 for r in retries)
    assert isinstance(outcome, Finished) and outcome.text == emu.expected_text("x", 10)


async def test_busy_beyond_the_attempt_budget_fails_with_typed_error(make_emulator):
    emu = make_emulator()
    emu.faults = Faults(busy_first=5)
    client = KoboldClient(emu.url)
    config = ResilienceConfig(retry=RetryPolicy(base_delay=0.01, max_attempts=1))
    try:
        outcome = await Generation(client, "x", settings(max_length=10), lambda e: None,
                                   config=config).run()
    finally:
        await client.aclose()
    assert isinstance(outcome, Failed) and isinstance(outcome.error, E.ServerBusy)
    assert "busy" in outcome.error.message


async def test_wrong_password_is_not_retried(make_emulator):
    emu = make_emulator(password="right")
    client = KoboldClient(emu.url, "wrong")
    events = []
    try:
        outcome = await Generation(client, "x", settings(max_length=10), events.append).run()
    finally:
        await client.aclose()
    assert isinstance(outcome, Failed) and isinstance(outcome.error, E.AuthenticationFailed)
    assert not any(isinstance(e, Retrying) for e in events)


# -- issue 6: text never lost, truthful endings ------------------------------------------------
async def _check(emu, genkey: str) -> str:
    client = KoboldClient(emu.url)
    try:
        return await client.check(genkey)
    finally:
        await client.aclose()


@pytest.mark.parametrize("where", ["before-headers", "before-first-event"])
async def test_stop_before_the_first_event_keeps_what_the_server_generated(make_emulator,
                                                                           where):
    # The server generates while the client has no event yet: a slow first byte, or the
    # first poll of the stream still to come.
    if where == "before-headers":
        emu = make_emulator(token_rate=400.0)
        emu.faults = Faults(headers_delay=30.0)
    else:
        emu = make_emulator(token_rate=400.0, first_poll_delay=30.0)
    client = KoboldClient(emu.url)
    events: list = []
    try:
        gen = Generation(client, "Go", settings(max_length=2000), events.append)
        task = asyncio.ensure_future(gen.run())
        # Stop once the server has generated more than 100 characters for us.
        while (rec := emu.generation(gen.genkey)) is None or len(rec.text) <= 100:
            await asyncio.sleep(0.01)
        assert not any(isinstance(e, Tokens | Recovered) for e in events)
        gen.stop()
        outcome = await asyncio.wait_for(task, 20)
    finally:
        await client.aclose()
    assert isinstance(outcome, Finished) and outcome.stopped
    record = emu.generation(gen.genkey)
    assert record.aborted_by == "abort"
    assert len(outcome.text) > 100
    assert outcome.text == await _check(emu, gen.genkey) == record.text
    assert outcome.text == "".join(e.text for e in events if isinstance(e, Tokens | Recovered))


async def test_stop_while_queued_never_takes_the_previous_generations_text(make_emulator):
    # 1.76: a request aborted while queued replays the previous generation in check/stream.
    emu = make_emulator(token_rate=100.0, multiuser=1)
    other = KoboldClient(emu.url)
    client = KoboldClient(emu.url)
    try:
        first = asyncio.ensure_future(other.generate({"prompt": "other", "max_length": 60,
                                                      "genkey": "OTHERKEY"}))
        while emu.last_generation is None or not emu.last_generation.tokens:
            await asyncio.sleep(0.01)
        # idle_wait 0: send at once, so the request waits in the server's queue.
        gen = Generation(client, "mine", settings(max_length=20), lambda e: None,
                         config=ResilienceConfig(idle_wait=0.0))
        task = asyncio.ensure_future(gen.run())
        while emu.generation(gen.genkey) is None:
            await asyncio.sleep(0.01)
        gen.stop()
        outcome = await asyncio.wait_for(task, 20)
        other_text = (await first).text
    finally:
        await other.aclose()
        await client.aclose()
    assert outcome.text == ""
    assert other_text and other_text not in outcome.text
    assert emu.wait_idle(10.0)
    assert emu.generation(gen.genkey).deferred_abort


async def _finish_reason(emu, prompt, **overrides) -> Finished:
    client = KoboldClient(emu.url)
    try:
        outcome = await Generation(client, prompt, settings(**overrides), lambda e: None).run()
    finally:
        await client.aclose()
    assert isinstance(outcome, Finished)
    return outcome


async def test_finish_reason_length(emulator):
    outcome = await _finish_reason(emulator, "Long", max_length=20)
    assert outcome.finish_reason == "length"
    assert finish_words(outcome.finish_reason) == "reached the length limit"


@pytest.mark.parametrize("trim_stop", [True, False])
async def test_finish_reason_stop_sequence_although_the_server_says_length(make_emulator,
                                                                           trim_stop):
    emu = make_emulator()
    probe = emu.expected_text("Stop me", 80)
    stop = probe[20:24]
    outcome = await _finish_reason(emu, "Stop me", max_length=80, stop_sequence=[stop],
                                   trim_stop=trim_stop)
    assert emu.last_generation.finish_reason == "length"  # what KoboldCPP reports
    assert outcome.finish_reason == "stop_sequence"


async def test_finish_reason_end_of_sequence(make_emulator):
    emu = make_emulator(eos_chance=0.15)
    prompt = next(p for p in (f"eos {i}" for i in range(200))
                  if emu.expected_finish_reason(p, 50) == "stop")
    outcome = await _finish_reason(emu, prompt, max_length=50)
    assert outcome.finish_reason == "eos"
    assert outcome.text == emu.expected_text(prompt, 50)
