"""Real KoboldCPP 1.76 streams, byte for byte, replayed into KoboldClient.stream().

The bytes come from tests/data/captures (recorded from a real server). Each test works out what
the capture holds with its own plain parser (split on blank lines, json-decode the data lines)
and checks that the client yields exactly that: no event lost, none invented, text identical,
the final finish_reason as the server sent it. The bodies are fed whole, one byte at a time,
in small pieces, and in the very pieces the server's socket reads delivered.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kobold_gui.core.protocol import KoboldClient, StreamEvent

pytestmark = pytest.mark.asyncio

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"
STREAM = "/api/extra/generate/stream"

STREAMS = [
    "c_stream_rawsock.raw",
    "d_stream512_abort.raw",
    "k_stream_forced_eos.raw",
    "k_stream_stop_newline_notrim.raw",
    "k_stream_stop_newline_trim_run2.raw",
    "fastmodel/c_stream_rawsock.raw",
]


def recorded(name: str) -> bytes:
    path = CAPTURES / name
    if not path.is_file():
        raise AssertionError(f"recorded capture {name} is missing from {CAPTURES}")
    return path.read_bytes()


@dataclass(frozen=True)
class Recorded:
    """One recorded stream reply: its head, its body and the events in it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    events: list[dict[str, object]]

    @property
    def text(self) -> str:
        return "".join(str(e["token"]) for e in self.events)

    @property
    def last_finish_reason(self) -> object:
        return self.events[-1]["finish_reason"]


def parse_capture(raw: bytes) -> Recorded:
    """The capture's own facts, independent of the client's SSE parser."""
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [(n, v) for n, _, v in (line.partition(": ") for line in lines[1:])]
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        data = [line[len("data: "):] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    return Recorded(status, headers, body, events)


def recorded_reads(name: str) -> list[bytes]:
    """The pieces the server's socket reads delivered, from a ``.timeline`` file.

    A line is ``<seconds>s <size>B b'<bytes>'``; the closing line is ``0B b'<EOF>'``.
    """
    reads = []
    for line in recorded(name).decode("ascii").splitlines():
        match = re.match(r"\s*[\d.]+s\s+(\d+)B (b'.*')$", line)
        if match and int(match.group(1)) > 0:
            data = ast.literal_eval(match.group(2))
            assert len(data) == int(match.group(1)), line
            reads.append(data)
    return reads


def pieces(body: bytes, size: int | None) -> list[bytes]:
    if size is None:
        return [body]
    return [body[i:i + size] for i in range(0, len(body), size)]


def replay_transport(capture: Recorded, chunks: Iterable[bytes],
                     requests: list[httpx.Request]) -> httpx.MockTransport:
    """Answers the stream request with the recorded head and the body in these chunks."""
    chunk_list = list(chunks)

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunk_list:
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(capture.status, headers=capture.headers, content=body())

    return httpx.MockTransport(handler)


async def read_stream(transport: httpx.MockTransport) -> list[StreamEvent]:
    client = KoboldClient("http://kobold.test:5001", transport=transport)
    got: list[StreamEvent] = []
    try:
        request = {"prompt": "Once upon a time", "max_length": 40, "genkey": "KCPP1234"}
        async with client.stream(request) as stream, aclosing(stream.events()) as events:
            async for event in events:
                got.append(event)
    finally:
        await client.aclose()
    return got


def assert_same_stream(got: list[StreamEvent], capture: Recorded) -> None:
    readable = [e for e in got if isinstance(e.token, str)]
    assert len(readable) == len(capture.events)
    assert [e.token for e in readable] == [c["token"] for c in capture.events]
    assert "".join(e.token for e in readable) == capture.text
    assert got[-1].final
    assert got[-1].finish_reason == capture.last_finish_reason
    assert not any(e.final for e in got[:-1])


@pytest.mark.parametrize("chunk_size", [None, 1, 7], ids=["whole", "bytewise", "7-byte"])
@pytest.mark.parametrize("name", STREAMS)
async def test_recorded_stream_yields_exactly_its_events(name: str, chunk_size: int | None) -> None:
    capture = parse_capture(recorded(name))
    requests: list[httpx.Request] = []
    got = await read_stream(replay_transport(capture, pieces(capture.body, chunk_size), requests))
    assert_same_stream(got, capture)
    assert [(r.method, r.url.path) for r in requests] == [("POST", STREAM)]


async def test_stream_in_the_servers_own_read_boundaries() -> None:
    """The event: and data: lines of one event often arrive in separate reads."""
    raw = recorded("c_stream_rawsock.raw")
    reads = recorded_reads("c_stream_rawsock.timeline")
    assert b"".join(reads) == raw
    capture = parse_capture(raw)
    head_end = raw.index(b"\r\n\r\n") + 4
    assert len(reads[0]) == head_end, "the first read is the head alone"
    assert b"event: message\n" in reads[1:], "some events are split between reads"
    got = await read_stream(replay_transport(capture, reads[1:], []))
    assert_same_stream(got, capture)
    assert len(got) == 20
    assert capture.last_finish_reason == "length"


async def test_aborted_stream_holds_what_check_returned_afterwards() -> None:
    capture = parse_capture(recorded("d_stream512_abort.raw"))
    checked = json.loads(recorded("d_check_after.json"))["results"][0]["text"]
    got = await read_stream(replay_transport(capture, [capture.body], []))
    assert "".join(e.token for e in got) == checked
    assert len(got) == 124
    assert got[-1].finish_reason == "length"  # an abort ends like max length does


async def test_every_intermediate_event_says_null_and_the_client_maps_it_to_none() -> None:
    capture = parse_capture(recorded("c_stream_rawsock.raw"))
    assert {e["finish_reason"] for e in capture.events[:-1]} == {"null"}
    got = await read_stream(replay_transport(capture, [capture.body], []))
    assert [e.finish_reason for e in got[:-1]] == [None] * (len(got) - 1)


@pytest.mark.parametrize("name, count, reason, text_check", [
    ("k_stream_forced_eos.raw", 1, "stop", lambda t: t == ""),
    ("k_stream_stop_newline_notrim.raw", 10, "length", lambda t: t.endswith("\n")),
    ("k_stream_stop_newline_trim_run2.raw", 1, "length", lambda t: "こんにちは" in t),
    ("fastmodel/c_stream_rawsock.raw", 1, "length", lambda t: len(t) > 100),
])
async def test_recorded_endings(name: str, count: int, reason: str, text_check) -> None:
    """Concrete facts of each capture: event count, final reason, what the text looks like."""
    capture = parse_capture(recorded(name))
    got = await read_stream(replay_transport(capture, pieces(capture.body, 5), []))
    assert len(got) == count
    assert got[-1].finish_reason == reason
    assert text_check("".join(e.token for e in got))
