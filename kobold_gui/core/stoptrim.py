"""Client-side stop-sequence trimming.

The server's own trimming leaks (1.76 never holds back whitespace-only chunks and never retracts
text), so the client holds back any tail that could be the start of a stop sequence and cuts at
the first full one. Each chunk costs time proportional to its length, not to the whole text.
"""

from __future__ import annotations

from collections.abc import Iterable


class StopTrimmer:
    def __init__(self, stops: Iterable[str] = ()) -> None:
        self.stops = [s for s in stops if s]
        self._longest = max((len(s) for s in self.stops), default=0)
        self._raw = ""
        self._released = 0
        #: True once a full stop sequence was seen; everything after it is dropped
        self.hit = False

    def feed(self, chunk: str) -> str:
        """Add raw text; return the part that is now safe to show."""
        if not self.stops:
            return chunk
        if self.hit:
            return ""
        self._raw += chunk
        # Nothing before `_released` can start a stop (it would have been held back).
        window_start = self._released
        first = -1
        for stop in self.stops:
            i = self._raw.find(stop, window_start)
            if i >= 0 and (first < 0 or i < first):
                first = i
        if first >= 0:
            self.hit = True
            return self._take(first)
        return self._take(len(self._raw) - self._held_tail())

    def flush(self) -> str:
        """The generation ended: release what was held back (it did not become a stop)."""
        if self.hit or not self.stops:
            return ""
        return self._take(len(self._raw))

    def _held_tail(self) -> int:
        tail = self._raw[max(self._released, len(self._raw) - self._longest):]
        for k in range(len(tail), 0, -1):
            suffix = tail[-k:]
            if any(s.startswith(suffix) for s in self.stops):
                return k
        return 0

    def _take(self, end: int) -> str:
        out = self._raw[self._released:end]
        self._released = max(self._released, end)
        # Keep the buffer short: only the unreleased tail is ever searched again.
        if self._released > 4096:
            self._raw = self._raw[self._released:]
            self._released = 0
        return out
