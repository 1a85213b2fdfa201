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
    Retrying,
    Started,
    StateChanged,
    Tokens,
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
