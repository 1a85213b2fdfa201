"""The text accumulators of a generation: what the server generated, and what was shown.

Text reaches us from two sources that describe the same server buffer: stream events (deltas,
in order) and `check` (the whole text so far). `RequestText` merges both into one raw text per
request, so nothing is shown twice and nothing is skipped. A stream event costs time in
proportion to its own length, never to the text so far; a `check` costs one comparison.

Where the sources disagree, what was already shown stays as it is: the merge never splices one
text into another by length, it reports the disagreement instead (`diverged`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


class _Joined:
    """An append-only string: appends are O(1), the whole text is joined when asked for."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.length = 0

    def append(self, text: str) -> None:
        if text:
            self._parts.append(text)
            self.length += len(text)

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""


class RequestText:
    """The raw text of one request as far as we know it, merged from stream and check."""

    def __init__(self) -> None:
        self._held = _Joined()
        #: offset in the raw text where the stream's next token starts; None once an event
        #: could not be read (its length is unknown, so later events cannot be placed yet)
        self._stream_end: int | None = 0
        #: where the stream stood when it lost its place, and the events read since then
        self._lost_from = 0
        self._since_loss: list[str] = []
        #: the two sources disagreed at least once; a reason in words
        self.divergence: str | None = None
        #: unreadable events whose text could not be taken from the server's record
        self.gaps = 0

    @property
    def length(self) -> int:
        return self._held.length

    @property
    def text(self) -> str:
        return self._held.text

    @property
    def stream_anchored(self) -> bool:
        """Can stream events be placed in the text? (Not after an unreadable one, until
        `reanchor` finds where the stream stands.)"""
        return self._stream_end is not None

    @property
    def unplaced_events(self) -> int:
        """Events read since the stream lost its place."""
        return len(self._since_loss)

    @property
    def stream_behind(self) -> bool:
        """The stream has not yet delivered everything that is held (check was ahead)."""
        return self._stream_end is not None and self._stream_end < self._held.length

    def from_stream(self, token: str) -> str:
        """Merge one stream event; returns the part that is new."""
        start = self._stream_end
        if start is None:
            self._since_loss.append(token)  # kept to find the stream's place later
            return ""
        end = start + len(token)
        self._stream_end = end
        held = self._held.length
        if start < held:
            # What is held beyond the stream's position came from check: they must agree.
            # (Only while the stream catches up with check: not on every event.)
            overlap = token[: held - start]
            if overlap != self._held.text[start : start + len(overlap)]:
                self._diverged("the stream and the server's record (check) disagree")
            if end <= held:
                return ""
            token = token[held - start :]
        self._held.append(token)
        return token

    def lose_stream_position(self) -> None:
        """A stream event could not be read: its text is somewhere in what check will say."""
        if self._stream_end is not None:
            self._lost_from = self._stream_end
        self._stream_end = None
        self._since_loss = []  # events before this loss are no longer next to the ones after

    def reanchor(self) -> bool:
        """Place the stream again, right after a check that covers every event read since the
        loss: those events must appear, in one piece and exactly once, after where the stream
        stood. Ambiguous (repetitive text) or not found: stay unplaced and follow check.
        """
        if self._stream_end is not None:
            return True
        since = "".join(self._since_loss)
        if not since:
            return False
        held = self._held.text
        first = held.find(since, self._lost_from)
        if first < 0 or held.find(since, first + 1) >= 0:
            return False
        self._stream_end = first + len(since)
        self._since_loss = []
        return True

    def from_check(self, cumulative: str) -> str:
        """Merge the server's whole text so far; returns the part that is new."""
        anchored = self._stream_end is not None
        if anchored and len(cumulative) <= self._held.length:
            return ""
        held = self._held.text
        if not cumulative.startswith(held):
            self._diverged("the server's record (check) is not an extension of the text shown")
            if not anchored:
                # The record cannot make good what the unreadable event lost: go on with the
                # stream from here; the lost piece stays missing (and is reported).
                self._stream_end = self._held.length
                self._since_loss = []
                self.gaps += 1
            return ""
        if len(cumulative) == len(held):
            return ""
        new = cumulative[len(held) :]
        self._held.append(new)
        return new

    def agrees_with(self, cumulative: str) -> bool:
        """At the end: is the server's record consistent with what is held?

        An empty record means the server no longer knows the request (a restart): no claim.
        """
        if not cumulative:
            return True
        held = self._held.text
        if cumulative.startswith(held) or held.startswith(cumulative):
            return True
        self._diverged("the server's record (check) differs from the text shown")
        return False

    def _diverged(self, reason: str) -> None:
        if self.divergence is None:
            self.divergence = reason
            log.warning("text sources disagree: %s; keeping what was shown", reason)


@dataclass(frozen=True)
class Shown:
    """A piece of text to show, and whether it came back through recovery."""

    text: str
    recovered: bool


class ShownText:
    """Everything shown so far across requests, with the recovered spans marked."""

    def __init__(self) -> None:
        self._joined = _Joined()
        self.recovered: list[tuple[int, int]] = []

    @property
    def length(self) -> int:
        return self._joined.length

    @property
    def text(self) -> str:
        return self._joined.text

    def append(self, text: str, recovered: bool) -> Shown | None:
        if not text:
            return None
        start = self._joined.length
        self._joined.append(text)
        if recovered:
            if self.recovered and self.recovered[-1][1] == start:
                self.recovered[-1] = (self.recovered[-1][0], self._joined.length)
            else:
                self.recovered.append((start, self._joined.length))
        return Shown(text, recovered)
