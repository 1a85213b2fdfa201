"""What a silent stream means, decided from what the server says (`perf` and `check`).

Silence is not failure: after `stall_after` seconds without an event the generation asks the
server, and `StallWatch.classify` tells apart a queue, a long prompt, a buffering proxy (the
server generates, the stream delivers nothing), a server that is busy, and a stream that never
ends although the server has finished. Pure: the caller passes the clock in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .events import ConnectionState


def server_done(idle: bool, total_gens: int, gens_before: int | None, has_text: bool) -> bool:
    """Is the server finished with our request? Idle, or (with its text in hand) one more
    completed generation than before we sent it, though a stuck writer still holds the lock.
    """
    if idle:
        return True
    return has_text and gens_before is not None and total_gens > gens_before


class Verdict(Enum):
    #: check is ahead of the stream: take its text (the stream is late or held back)
    AHEAD = "ahead"
    #: the server finished long ago but the stream never ended: stop reading it
    NEVER_ENDED = "never ended"
    QUEUED = "queued"
    PROCESSING = "processing"
    STALLED = "stalled"
    #: nothing to say (waiting for a second sign before concluding)
    WAIT = "wait"


@dataclass(frozen=True)
class Probe:
    """One answer of the server while the stream was silent."""

    now: float
    last_event_at: float
    check_length: int
    held_length: int
    done: bool  # server_done(...) for this request
    headers: bool  # the stream's response headers arrived
    polling: bool  # check is already polled for the text


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    #: start polling check because the stream is held back (a buffering proxy)
    start_polling: bool = False


@dataclass
class StallWatch:
    """Counts signs in a row: one probe can race with an event, two in a row cannot."""

    stall_after: float
    last_growth: float = 0.0
    done_seen: int = 0
    ahead_seen: int = 0

    def reset(self) -> None:
        """The stream spoke while we asked: the answers are stale."""
        self.done_seen = self.ahead_seen = 0

    def classify(self, p: Probe) -> Decision:
        if p.check_length > p.held_length:
            self.done_seen = 0
            self.ahead_seen += 1
            self.last_growth = p.now
            start = p.headers and not p.polling and self.ahead_seen >= 2
            return Decision(Verdict.AHEAD, start_polling=start)
        if p.done:
            self.ahead_seen = 0
            self.done_seen += 1
            quiet = p.now - max(p.last_event_at, self.last_growth)
            if self.done_seen >= 2 and quiet >= self.stall_after:
                return Decision(Verdict.NEVER_ENDED)
            return Decision(Verdict.WAIT)
        self.reset()
        if not p.headers:
            return Decision(Verdict.QUEUED)
        if not p.held_length:
            return Decision(Verdict.PROCESSING)
        if not p.polling:
            return Decision(Verdict.STALLED)
        return Decision(Verdict.WAIT)


def describe(verdict: Verdict, silent: float, queue: int,
             polling: bool) -> tuple[ConnectionState, str] | None:
    """The state and words the status bar shows for a verdict (None: leave it as it is)."""
    if verdict is Verdict.AHEAD:
        if polling:
            return (ConnectionState.STREAMING,
                    "the stream is held back (a buffering proxy?); polling the text")
        return ConnectionState.STREAMING, ""
    if verdict is Verdict.QUEUED:
        return ConnectionState.QUEUED, f"waiting in the server's queue ({queue} waiting)"
    if verdict is Verdict.PROCESSING:
        return ConnectionState.PROCESSING, f"the server is reading the prompt ({int(silent)} s)"
    if verdict is Verdict.STALLED:
        return ConnectionState.STALLED, f"no new text for {int(silent)} s; the server is busy"
    return None
