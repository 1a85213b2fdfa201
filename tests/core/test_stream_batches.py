"""A flood costs per network read, not per event: KoboldCPP's framing is split once per read and
a read's readable events arrive merged; any other framing is read by httpx-sse, unchanged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing

import httpx
import pytest
from httpx_sse import EventSource

from kobold_gui.core import settings as S
from kobold_gui.core.events import Finished, Tokens
from kobold_gui.core.generation import Generation
from kobold_gui.core.protocol import EventStream, KoboldClient, StreamEvent

pytestmark = pytest.mark.asyncio

SSE = {"content-type": "text/event-stream"}


def kobold(*tokens: str, final: str = "length") -> bytes:
    """KoboldCPP 1.76's framing: `event: message`, one data line, `null` until the last."""
    out = []
    for i, token in enumerate(tokens):
        reason = final if i == len(tokens) - 1 else "null"
        payload = json.dumps({"token": token, "finish_reason": reason})
        out.append(f"event: message\ndata: {payload}\n\n".encode())
    return b"".join(out)


def split(body: bytes, size: int | None) -> list[bytes]:
    if size is None:
        return [body]
    return [body[i:i + size] for i in range(0, len(body), size)]


def transport(chunks: list[bytes]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/stream"):
            async def content() -> AsyncIterator[bytes]:
                for chunk in chunks:
                    yield chunk

            return httpx.Response(200, content=content(), headers=SSE)
        if path.endswith("/perf"):
            return httpx.Response(200, json={"idle": 1, "queue": 0, "total_gens": 0,
                                             "last_token_count": 0, "stop_reason": 0})
        if path.endswith("/check"):
            return httpx.Response(200, json={"results": [{"text": ""}]})
        return httpx.Response(404, json={"detail": {"msg": "no"}})

    return httpx.MockTransport(handler)


async def read(chunks: list[bytes], merged: bool, cut_after: int | None = None
               ) -> tuple[list[list[StreamEvent]], bool]:
    client = KoboldClient("http://kobold.test", transport=transport(chunks))
    try:
        async with client.stream({"prompt": "p"}) as stream:
            reader = stream.batches(cut_after) if merged else _single(stream)
            async with aclosing(reader) as batches:
                got = [batch async for batch in batches]
            return got, stream.general
    finally:
        await client.aclose()


async def _single(stream: EventStream) -> AsyncIterator[list[StreamEvent]]:
    async with aclosing(stream.events()) as events:
        async for event in events:
            yield [event]


async def test_one_read_of_kobold_events_arrives_as_one_merged_event():
    batches, general = await read([kobold("a", " b", " c", "!")], merged=True)
    assert batches == [[StreamEvent("a b c!", "length", count=4)]]
    assert not general  # read by the KoboldCPP framing, not the general decoder


async def test_each_read_is_one_batch_and_text_survives_any_split():
    body = kobold("Über", " café", " 世界", " 🙂", " end")
    batches, general = await read(split(body, 7), merged=True)
    assert "".join(e.token for b in batches for e in b) == "Über café 世界 🙂 end"
    assert sum(e.count for b in batches for e in b) == 5
    assert batches[-1][-1].final and not general


async def test_an_unreadable_event_stays_in_place_between_merged_runs():
    body = (kobold("a", "b", final="null") + b"event: message\ndata: {oops\n\n"
            + kobold("c", "d"))
    batches, _ = await read([body], merged=True)
    assert [(e.token, e.count, e.unreadable) for e in batches[0]] == [
        ("ab", 2, None), ("", 1, "invalid JSON"), ("cd", 2, None)]


async def test_a_merged_run_is_cut_at_the_asked_event_count():
    batches, _ = await read([kobold(*"abcdefg")], merged=True, cut_after=3)
    assert [(e.token, e.count) for e in batches[0]] == [("abc", 3), ("defg", 4)]


async def test_events_after_the_final_one_are_never_read():
    batches, _ = await read([kobold("a", "b") + kobold("late")], merged=True)
    assert batches == [[StreamEvent("ab", "length", count=2)]]


OTHER_FRAMINGS = {
    "crlf": kobold("a", "b").replace(b"\n", b"\r\n"),
    "cr only": kobold("a", "b").replace(b"\n", b"\r"),
    "comments": b": keep-alive\n\n" + kobold("a", "b"),
    "ids and retry": b"id: 1\nretry: 5\nevent: message\ndata: {\"token\": \"a\"}\n\n"
                     + kobold("b"),
    "two data lines": b"data: {\"token\":\ndata: \"a b\"}\n\n" + kobold("c"),
    "no space after the colon": b"data:{\"token\": \"a\"}\n\n" + kobold("b"),
    "another event name": kobold("a", final="null") + b"event: ping\ndata: {}\n\n"
                          + kobold("b"),
    "extra blank lines": kobold("a", final="null") + b"\n\n" + kobold("b"),
    "leading blank line": b"\n" + kobold("a", "b"),
    "framing changes midway": kobold("a", "b", final="null") + b"data: {\"token\": \"c\"}\r\n"
                              b"\r\n" + kobold("d"),
    "invalid UTF-8": kobold("a", final="null") + b"data: {\"token\": \"\xff\xfe\"}\n\n"
                     + kobold("b"),
    "latin-1 charset": kobold("caf\u00e9", "x"),
}


async def reference(body: bytes, headers: dict[str, str]) -> list[StreamEvent]:
    """What the stream meant before the splitter: httpx-sse's events, read one by one."""
    response = httpx.Response(200, content=body, headers=headers)
    stream = EventStream(response, KoboldClient("http://kobold.test"), "/stream")
    out: list[StreamEvent] = []
    async for sse in EventSource(response).aiter_sse():
        event = stream._parse(sse.event, sse.data)
        if event is not None:
            out.append(event)
            if event.final:
                break
    return out


@pytest.mark.parametrize("size", [None, 1, 5, 64])
@pytest.mark.parametrize("name", list(OTHER_FRAMINGS))
async def test_any_framing_reads_exactly_as_httpx_sse_reads_it(name, size):
    body = OTHER_FRAMINGS[name]
    headers = dict(SSE)
    if name == "latin-1 charset":
        body = body.decode().encode("latin-1")
        headers["content-type"] = "text/event-stream; charset=iso-8859-1"

    def handler(request: httpx.Request) -> httpx.Response:
        async def content() -> AsyncIterator[bytes]:
            for chunk in split(body, size):
                yield chunk

        return httpx.Response(200, content=content(), headers=headers)

    expected = await reference(body, headers)
    client = KoboldClient("http://kobold.test", transport=httpx.MockTransport(handler))
    try:
        async with client.stream({"prompt": "p"}) as stream, \
                aclosing(stream.events()) as events:
            got = [e async for e in events]
            general = stream.general
    finally:
        await client.aclose()
    assert got == expected and got[-1].final
    # Bad bytes in KoboldCPP's framing are replaced as httpx does, without httpx-sse.
    assert general == (name != "invalid UTF-8")


async def test_a_flood_in_one_read_is_one_tokens_event_counting_every_stream_event():
    tokens = [f" w{i}" for i in range(50)]
    client = KoboldClient("http://kobold.test", transport=transport([kobold(*tokens)]))
    events: list[object] = []
    try:
        gen = Generation(client, "p", S.defaults() | {"max_length": 50}, events.append)
        outcome = await gen.run()
    finally:
        await client.aclose()
    shown = [e for e in events if isinstance(e, Tokens)]
    assert shown == [Tokens("".join(tokens), events=50)]
    assert isinstance(outcome, Finished) and outcome.text == "".join(tokens)
    assert gen.requests[0].events == 50
