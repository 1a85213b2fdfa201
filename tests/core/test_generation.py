"""One generation through the core: events in order, stop keeps text and frees the server."""

import asyncio

import pytest

from kobold_gui.core import settings as S
from kobold_gui.core.errors import InvalidSettings
from kobold_gui.core.events import ConnectionState, Failed, Finished, Started, StateChanged, Tokens
from kobold_gui.core.generation import Generation
from kobold_gui.core.protocol import KoboldClient

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


async def test_busy_server_fails_with_typed_error(make_emulator):
    emu = make_emulator(token_rate=30.0, multiuser=0)
    client = KoboldClient(emu.url)
    try:
        first = Generation(client, "a", settings(max_length=200), lambda e: None)
        t1 = asyncio.ensure_future(first.run())
        while emu.last_generation is None or emu.last_generation.state != "running":
            await asyncio.sleep(0.01)
        second = await Generation(client, "b", settings(max_length=5), lambda e: None).run()
        assert isinstance(second, Failed)
        assert type(second.error).__name__ == "ServerBusy"
        first.stop()
        await asyncio.wait_for(t1, 10)
    finally:
        await client.aclose()
