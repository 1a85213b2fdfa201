"""Typed events that one generation reports to its face (window or terminal).

The core never calls into a face; it hands these values to a callback. The Qt controller turns
them into signals, `kobold-stream` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Literal

from .errors import KoboldError

if TYPE_CHECKING:  # at run time events stay free of httpx (cheap to import)
    from .protocol import ServerInfo

#: how the text arrives: an event stream, or polling `check` beside a synchronous generate
GenerationMode = Literal["stream", "poll"]


class ConnectionState(Enum):
    """What the status bar says about the server. Values are the words shown to people."""

    OFFLINE = "offline"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    QUEUED = "queued"
    PROCESSING = "processing prompt"
    STREAMING = "streaming"
    STALLED = "stalled"
    RECOVERING = "recovering"
    RETRYING = "retrying"
    #: something answers at the address, but it is not a KoboldCPP server: nothing is retried
    INCOMPATIBLE = "not KoboldCPP"


#: Why a generation ended (`Finished.finish_reason`), in the words both faces show.
#: KoboldCPP's own `finish_reason` says "length" even for a stop sequence; its `/api/extra/perf`
#: `stop_reason` tells them apart (0 = length, 1 = end of sequence, 2 = stop sequence).
FINISH_WORDS: dict[str, str] = {
    "length": "reached the length limit",
    "eos": "the model ended it (end of sequence)",
    "stop_sequence": "a stop sequence ended it",
    "stop": "the model or a stop sequence ended it",  # the server could not tell which
    "stopped": "stopped",
}


def finish_words(reason: str) -> str:
    """`Finished.finish_reason` in the words both faces show (unknown reasons as they are)."""
    return FINISH_WORDS.get(reason, reason)


@dataclass(frozen=True)
class Started:
    """The request was sent; `genkey` identifies it on the server."""

    genkey: str
    mode: GenerationMode = "stream"


@dataclass(frozen=True)
class StateChanged:
    state: ConnectionState
    detail: str = ""


@dataclass(frozen=True)
class Tokens:
    """New text to append, in order. Never repeats text already reported."""

    text: str
    #: how many stream events it came in (a network read's events arrive as one Tokens);
    #: KoboldCPP sends about one token per event, so this counts tokens for the statistics
    events: int = 1


@dataclass(frozen=True)
class Recovered:
    """Text fetched from the server after the stream broke: append it, marked as recovered."""

    text: str


@dataclass(frozen=True)
class Retrying:
    """A retry is scheduled in `delay` seconds."""

    attempt: int
    max_attempts: int
    delay: float
    reason: KoboldError


@dataclass(frozen=True)
class Finished:
    """The generation ended normally (or was stopped by the user); `text` is all of it."""

    text: str
    finish_reason: str
    stopped: bool = False
    #: (start, end) offsets in `text` of spans fetched from the server after a broken stream
    recovered: tuple[tuple[int, int], ...] = ()
    #: "poll" when the server could not stream
    mode: GenerationMode = "stream"
    #: things the person should know although the text is complete (e.g. the server's record
    #: disagreed with the text shown, which was kept)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failed:
    """The generation could not complete; `text` is what was received before the failure."""

    error: KoboldError
    text: str
    recovered: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class ServerChanged:
    """The server was identified (or lost: `info` is None)."""

    info: ServerInfo | None


Event = (Started | StateChanged | Tokens | Recovered | Retrying | Finished | Failed
         | ServerChanged)
