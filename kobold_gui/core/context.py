"""What the model sees: memory plus the newest story text that fits the token budget.

The story is the context (issue 7): a request is built from the document, not from a prompt box.
Memory goes in the server's `memory` field (KoboldCpp keeps it and trims the prompt from the
front), so it is counted in the budget but never cut. The author's note is put `depth`
characters before the end of the prompt, like KoboldAI Lite does.

Why it counts the way it does: a token count is an HTTP round trip, so segments are counted
once each and cached by their exact text (a streamed reply only adds its own segment), only the
one segment at the cut is searched by bisection, and the assembled prompt is checked with one
final count, because the count of a concatenation may differ from the sum of its parts by a
token or two at each seam. While the server cannot count, a conservative estimate stands in and
the plan says so (`estimated`), and estimates are never cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from math import ceil

from .errors import KoboldError
from .story import Story

Counter = Callable[[str], Awaitable[int]]

#: Tokens kept free for the seams between separately counted pieces.
SAFETY_MARGIN = 4
#: The author's note may move this many characters earlier to land after a space or newline.
NOTE_NUDGE = 30
#: How often the final check may shrink the prompt before it settles for the estimate of seams.
_MAX_SHRINKS = 4
#: The cut is searched only this many characters a token back from the end, so a 5 MB segment
#: costs a few requests of a bounded size; real tokenizers average 3-5 characters a token.
MAX_CHARS_PER_TOKEN = 32
#: Entries a TokenCache keeps before it starts over (a story's segments, not every substring).
_CACHE_LIMIT = 20_000


class BudgetError(ValueError):
    """The settings leave no room for a prompt (the reply would take the whole context)."""


class ContextOverflow(ValueError):
    """Memory and the author's note alone do not fit: nothing of the story could be sent."""


@dataclass(frozen=True)
class Budget:
    max_context_length: int
    max_length: int

    def __post_init__(self) -> None:
        if self.available <= 0:
            raise BudgetError(
                f"no room for a prompt: the reply length ({self.max_length} tokens) must be "
                f"smaller than the context length ({self.max_context_length} tokens)")

    @property
    def available(self) -> int:
        """Tokens the prompt and memory may use together."""
        return self.max_context_length - self.max_length


@dataclass(frozen=True)
class ContextPlan:
    prompt: str  # the story text sent, author's note included
    memory: str  # sent in the server's `memory` field
    used_tokens: int  # memory + prompt, as counted (or estimated)
    available_tokens: int
    cut_chars: int  # story characters left out at the oldest side
    estimated: bool = False  # the server could not count: token figures are estimates
    note_position: int | None = None  # where the author's note starts in `prompt`

    def body(self) -> dict[str, str]:
        """The context fields of a generate request."""
        fields = {"prompt": self.prompt}
        if self.memory:
            fields["memory"] = self.memory
        return fields


def estimate_tokens(text: str) -> int:
    """Deliberately high: ~3 ASCII characters a token, and a whole token for every other
    character (CJK and emoji often take one or more each)."""
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return ceil(ascii_chars / 3) + (len(text) - ascii_chars)


class TokenCache:
    """Server token counts by exact text. One per server and model: tokenizers differ."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def get(self, text: str) -> int | None:
        return self._counts.get(text)

    def put(self, text: str, tokens: int) -> None:
        if len(self._counts) >= _CACHE_LIMIT:
            self._counts.clear()
        self._counts[text] = tokens

    def __len__(self) -> int:
        return len(self._counts)


class _Counting:
    """One build's view of the counter: cache first, the estimate after the first failure
    (one unreachable server must not cost a timeout per segment)."""

    def __init__(self, count: Counter, cache: TokenCache) -> None:
        self._count = count
        self._cache = cache
        self.estimated = False
        self._overhead: int | None = None

    async def raw(self, text: str) -> int:
        if not self.estimated:
            try:
                return await self._count(text)
            except KoboldError:
                self.estimated = True
        return estimate_tokens(text)

    async def overhead(self) -> int:
        """Tokens a count adds by itself (the BOS token of `special=True`): taken off each
        piece so that many pieces do not each pay for it."""
        if self._overhead is None:
            cached = self._cache.get("")
            if cached is None and not self.estimated:
                try:  # a server that will not count "" can still count text: not an estimate
                    cached = await self._count("")
                    self._cache.put("", cached)
                except KoboldError:
                    cached = None
            self._overhead = cached or 0
        return self._overhead

    async def cached(self, text: str, *, strip: bool = True) -> int:
        tokens = self._cache.get(text)
        if tokens is None:
            tokens = await self.raw(text)
            if not self.estimated:
                self._cache.put(text, tokens)
        if strip:
            tokens = max(0, tokens - await self.overhead())
        return tokens

    async def piece(self, text: str) -> int:
        """An uncached substring (the search at the cut)."""
        return max(0, await self.raw(text) - await self.overhead())


def note_text(story: Story) -> str:
    note = story.authors_note
    return note.template.replace("<|>", note.text) if note.text else ""


def insert_note(text: str, note: str, depth: int) -> tuple[str, int | None]:
    """`note` put `depth` characters before the end of `text` (at the start when the text is
    shorter), moved up to NOTE_NUDGE characters earlier to follow a newline or a space."""
    if not note:
        return text, None
    position = max(0, len(text) - max(0, depth))
    for candidate in range(position, max(0, position - NOTE_NUDGE) - 1, -1):
        if candidate == 0 or text[candidate - 1] in "\n ":
            position = candidate
            break
    return text[:position] + note + text[position:], position


async def build_request(story: Story, budget: Budget, count: Counter,
                        cache: TokenCache | None = None) -> ContextPlan:
    """The prompt and memory for the next generation from `story`. Keep `cache` between calls
    (per server and model) so unchanged segments are not counted again."""
    counting = _Counting(count, cache if cache is not None else TokenCache())
    memory = story.memory
    note = note_text(story)
    available = budget.available
    fixed = (await counting.cached(memory) if memory else 0) + \
        (await counting.cached(note) if note else 0)
    texts = [seg.text for seg in story.segments if seg.text]
    total_chars = sum(len(t) for t in texts)
    room = available - fixed - SAFETY_MARGIN
    if room <= 0:
        raise ContextOverflow(
            f"memory and the author's note take about {fixed} of the {available} tokens the "
            f"prompt may use: shorten them or raise the context length")
    for _ in range(_MAX_SHRINKS):
        kept = await _newest_that_fits(texts, room, counting)
        prompt, position = insert_note(kept, note, story.authors_note.depth)
        used = await counting.raw(memory + prompt)
        if used <= available:
            return ContextPlan(prompt, memory, used, available, total_chars - len(kept),
                               counting.estimated, position)
        room -= used - available + SAFETY_MARGIN
        if room <= 0:
            break
    raise ContextOverflow(
        f"the story could not be fitted into {available} tokens next to memory and the "
        f"author's note: shorten them or raise the context length")


async def _newest_that_fits(texts: list[str], room: int, counting: _Counting) -> str:
    """The longest suffix of the story within `room` tokens: whole segments from the newest
    back, then part of the segment at the cut, starting at a word."""
    kept: list[str] = []
    used = 0
    for text in reversed(texts):
        tokens = await counting.cached(text)
        if used + tokens <= room:
            kept.append(text)
            used += tokens
            continue
        start = await _cut(text, room - used, counting)
        if start < len(text):
            kept.append(text[start:])
        break
    return "".join(reversed(kept))


async def _cut(text: str, room: int, counting: _Counting) -> int:
    """Smallest start offset whose suffix fits `room` tokens, moved on to a word start."""
    if room <= 0:
        return len(text)
    # the whole text did not fit; the empty suffix always does
    low, high = max(1, len(text) - room * MAX_CHARS_PER_TOKEN), len(text)
    while low < high:
        middle = (low + high) // 2
        if await counting.piece(text[middle:]) <= room:
            high = middle
        else:
            low = middle + 1
    start = low
    if start < len(text) and not text[start - 1].isspace():
        for index in range(start, len(text)):
            if text[index].isspace():
                return index + 1
    return start


__all__ = [
    "Budget", "BudgetError", "ContextOverflow", "ContextPlan", "Counter", "TokenCache",
    "build_request", "estimate_tokens", "insert_note", "note_text",
]
