"""EventStream reports every `message` event, also the ones it cannot read (their text is
missing, so the generation must take it from the server's record)."""

from __future__ import annotations

from contextlib import aclosing

import httpx
import pytest

from kobold_gui.core.protocol import KoboldClient, StreamEvent

pytestmark = pytest.mark.asyncio


def sse(*datas: str, name: str = "message") -> bytes:
    return b"".join(f"event: {name}\ndata: {d}\n\n".encode() for d in datas)


async def read_all(body: bytes) -> list[StreamEvent]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = KoboldClient("http://kobold.test", transport=httpx.MockTransport(handler))
    try:
        async with client.stream({"prompt": "p"}) as stream, aclosing(stream.events()) as ev:
            return [e async for e in ev]
    finally:
        await client.aclose()


FINAL = '{"token": "", "finish_reason": "length"}'


@pytest.mark.parametrize("data, problem", [
    ('{"token": " a", "finish_reason": "null"', "invalid JSON"),
    ('{"text": " a", "finish_reason": "null"}', "no token"),
    ('{"token": 42, "finish_reason": "null"}', "the token is a int, not text"),
    ('{"token": [" a"], "finish_reason": "null"}', "the token is a list, not text"),
    ('[" a"]', "a JSON list, not an object"),
])
async def test_unreadable_events_are_reported_in_place(data, problem):
    events = await read_all(sse('{"token": "A", "finish_reason": "null"}', data, FINAL))
    assert [(e.token, e.unreadable) for e in events] == [("A", None), ("", problem),
                                                         ("", None)]
    assert events[-1].final and events[-1].finish_reason == "length"


async def test_an_unreadable_final_event_still_ends_the_stream():
    events = await read_all(sse('{"token": 7, "finish_reason": "stop"}'))
    assert len(events) == 1 and events[0].final and events[0].unreadable


async def test_other_event_names_are_not_text_and_are_skipped():
    events = await read_all(sse('{"token": "PING"}', name="ping") + sse(FINAL))
    assert [e.token for e in events] == [""] and events[0].final
