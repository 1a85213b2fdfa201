"""What the model sees: memory plus the newest story text that fits the token budget.

The story is the context (issue 7): a request is built from the document, not from a prompt box.
Memory goes in the server's `memory` field (KoboldCpp keeps it and trims the prompt from the
front), so it is counted in the budget but never cut. The author's note is put `depth`
characters before the end of the prompt, like KoboldAI Lite does. The mode (core/modes.py) gives
the story as a PromptLayout: its system prompt goes before memory, its suffix (the assistant's
start tag) at the very end, and neither is ever cut. World info that matches (core/worldinfo.py)
goes after memory, in the `memory` field, or just before the author's note. Lite's limits hold:
memory at most 80 % of the budget, the note 60 % (both refused with the reason, never cut:
cutting them would change what the writer asked for without telling), world info 50 % (whole
entries that do not fit are left out and listed in the plan).

The cut stays put between turns (CutAnchor, koboldcpp#725): a prompt that starts at the same
character as the last one lets the server reuse its cache instead of reading it all again.

Why it counts the way it does: a token count is an HTTP round trip, so segments are counted
once each and cached by their exact text (a streamed reply only adds its own segment), only the
one segment at the cut is searched by bisection, and the assembled prompt is checked with one
final count, because the count of a concatenation may differ from the sum of its parts by a
token or two at each seam. While the server cannot count, a conservative estimate stands in and
the plan says so (`estimated`), and estimates are never cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from math import ceil

from .errors import KoboldError
from .prompt_layout import PromptLayout, story_layout
from .story import Story, WorldInfoEntry
from .worldinfo import Roll, matching_entries, search_text, world_info_text

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
#: Lite's limits, as shares of the tokens the prompt may use (lite-reference §2.5).
MEMORY_CAP = 0.8
NOTE_CAP = 0.6
WI_CAP = 0.5
#: When the story no longer fits from the previous start, the cut moves on this share of the
#: room for the story, so several turns can grow into it before it moves again.
CUT_STEP = 0.25
#: Characters a CutAnchor compares to notice that the text before it was edited.
_ANCHOR_HEAD = 64
#: World-info entries matched between two turns of the event loop (see `_matching`).
WI_SLICE = 25
#: World-info contents counted at the same time (parallel round trips, bounded bursts).
WI_COUNTS_AT_ONCE = 8
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
    prompt: str  # the story text sent, author's note (and the mode's suffix) included
    memory: str  # sent in the server's `memory` field: system prompt, memory, world info
    used_tokens: int  # memory + prompt, as counted (or estimated)
    available_tokens: int
    cut_chars: int  # story characters left out at the oldest side
    estimated: bool = False  # the server could not count: token figures are estimates
    note_position: int | None = None  # where the author's note starts in `prompt`
    #: the meter's breakdown: memory (with the system prompt), world info, author's note and
    #: the story (the rest: `used_tokens` is the exact count of everything together)
    memory_tokens: int = 0
    wi_tokens: int = 0
    note_tokens: int = 0
    story_tokens: int = 0
    #: world-info entries sent, and entries that matched but were over the 50 % cap
    world_info: tuple[WorldInfoEntry, ...] = ()
    wi_left_out: tuple[WorldInfoEntry, ...] = ()
    #: the story text starts where the previous request's did (the server reuses its cache)
    cut_kept: bool = False

    def body(self) -> dict[str, str]:
        """The context fields of a generate request."""
        fields = {"prompt": self.prompt}
        if self.memory:
            fields["memory"] = self.memory
        return fields


@dataclass
class CutAnchor:
    """Where the story text of the previous request started (one per story, kept by the
    caller). KoboldCpp reuses its cache for the part of a prompt that did not change
    (koboldcpp#725), so while the story still fits from there the next request starts at the
    same character; when it no longer fits the cut moves on by CUT_STEP of the room at once,
    so the following turns share a start again instead of every turn shifting it."""

    start: int | None = None  # offset in the layout's joined pieces
    head: str = ""  # the text there, to notice an edit before it
    available: int = 0  # the budget it was made for: another budget cuts afresh
    length: int = 0  # how long the joined pieces were: shorter now, the whole may fit again

    def valid_for(self, joined: str, available: int) -> bool:
        return (self.start is not None and 0 < self.start < len(joined)
                and available == self.available
                and joined.startswith(self.head, self.start))

    def holds(self, joined: str, available: int) -> bool:
        """The previous plan's start (the beginning included) still applies and the text only
        grew since: one count of the prompt from there decides (no piece is counted)."""
        return (self.start is not None and len(joined) >= self.length
                and (self.start == 0 and available == self.available
                     and joined.startswith(self.head) or self.valid_for(joined, available)))

    def set(self, joined: str, start: int, available: int) -> None:
        self.start, self.available, self.length = start, available, len(joined)
        self.head = joined[start:start + _ANCHOR_HEAD]


def estimate_tokens(text: str) -> int:
    """Deliberately high: ~3 ASCII characters a token, and a whole token for every other
    character (CJK and emoji often take one or more each)."""
    # counted in C: a Python loop over a context's worth of characters (131 K) is ~10 ms on
    # the UI thread each time the meter plans without a server
    ascii_chars = len(text) if text.isascii() else len(text.encode("ascii", "ignore"))
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


async def _matching(story: Story, available: int, roll: Roll | None) -> list[WorldInfoEntry]:
    """The world-info entries whose keys are in the context, a slice of WI_SLICE entries at a
    time with the event loop's turn between slices: 200 entries with keys that are not there
    scan a context's worth of text ~400 times, ~20 ms at once, more than a frame."""
    entries = story.world_info
    if not entries:
        return []
    haystack = search_text(context_tail(story, available), story.wi_options)
    matched: list[WorldInfoEntry] = []
    for first in range(0, len(entries), WI_SLICE):
        if first:
            await asyncio.sleep(0)
        matched += matching_entries(entries[first:first + WI_SLICE], haystack,
                                    story.wi_options, roll, folded=True)
    return matched


def context_tail(story: Story, available: int) -> str:
    """The story text world-info keys are looked for in: what the next request could hold at
    most (`available` tokens of MAX_CHARS_PER_TOKEN characters each), as Lite looks in the
    context it sends, not in a 10 MB story; taken from the newest segments, never joining the
    whole story."""
    limit = available * MAX_CHARS_PER_TOKEN
    texts: list[str] = []
    size = 0
    for segment in reversed(story.segments):
        texts.append(segment.text)
        size += len(segment.text)
        if size >= limit:
            break
    return "".join(reversed(texts))[-limit:]


def join_memory(memory: str, world_info: str) -> str:
    """World info after memory, on a line of its own."""
    if memory and world_info and not memory[-1].isspace():
        return memory + "\n" + world_info
    return memory + world_info


async def build_request(story: Story, budget: Budget, count: Counter,
                        cache: TokenCache | None = None, *,
                        layout: PromptLayout | None = None, anchor: CutAnchor | None = None,
                        roll: Roll | None = None, offset: int = 0) -> ContextPlan:
    """The prompt and memory for the next generation from `story`. Keep `cache` between calls
    (per server and model) so unchanged segments are not counted again, and `anchor` (per
    story) so the prompt keeps its start between turns; without one the cut is the smallest
    that fits. `layout` is the story in its mode (default: plain text); `roll` decides world
    info with a probability (default: random). `offset`: `story` holds only the newest
    segments of a longer one (see `context_window`), that many characters after its start;
    the plan's cut and the anchor count from the longer story's start."""
    layout = layout if layout is not None else story_layout(story)
    outer, anchor = anchor, _local(anchor, offset)
    counting = _Counting(count, cache if cache is not None else TokenCache())
    available = budget.available

    memory = layout.system + story.memory
    memory_tokens = await counting.cached(memory) if memory else 0
    if memory_tokens > available * MEMORY_CAP:
        what = "memory and the system prompt take" if layout.system else "memory takes"
        raise ContextOverflow(
            f"{what} about {memory_tokens} tokens, more than {MEMORY_CAP:.0%} of the "
            f"{available} tokens the prompt may use: shorten it or raise the context length")
    note = note_text(story)
    note_tokens = await counting.cached(note) if note else 0
    if note_tokens > available * NOTE_CAP:
        raise ContextOverflow(
            f"the author's note takes about {note_tokens} tokens, more than {NOTE_CAP:.0%} of "
            f"the {available} tokens the prompt may use: shorten it or raise the context length")

    matched = await _matching(story, available, roll)
    sent: list[WorldInfoEntry] = []
    left_out: list[WorldInfoEntry] = []
    wi_tokens = 0
    if len(matched) > 1:  # each is one round trip: a few at a time, not one after another
        await counting.overhead()
        for first in range(0, len(matched), WI_COUNTS_AT_ONCE):
            await asyncio.gather(*(counting.cached(entry.content + "\n")
                                   for entry in matched[first:first + WI_COUNTS_AT_ONCE]))
    for entry in matched:  # whole entries, in the story's order, up to the cap
        tokens = await counting.cached(entry.content + "\n")
        if wi_tokens + tokens <= available * WI_CAP:
            sent.append(entry)
            wi_tokens += tokens
        else:
            left_out.append(entry)
    wi = world_info_text(sent)
    note_block = note
    if story.wi_options.insert_location == "before_note":
        note_block = wi + note
    else:
        memory = join_memory(memory, wi)
    suffix_tokens = await counting.cached(layout.suffix) if layout.suffix else 0

    fixed = memory_tokens + wi_tokens + note_tokens + suffix_tokens
    room = available - fixed - SAFETY_MARGIN
    if room <= 0:
        raise ContextOverflow(
            f"memory, world info and the author's note take about {fixed} of the {available} "
            f"tokens the prompt may use: shorten them or raise the context length")
    pieces = [piece for piece in layout.pieces if piece]
    joined = "".join(pieces)

    def plan(prompt: str, used: int, start: int, position: int | None,
             kept: bool) -> ContextPlan:
        if outer is not None:
            outer.set(joined, start, available)
            outer.start, outer.length = start + offset, outer.length + offset
        return ContextPlan(
            prompt, memory, used, available, start + offset, counting.estimated, position,
            memory_tokens=memory_tokens, wi_tokens=wi_tokens, note_tokens=note_tokens,
            story_tokens=max(0, used - memory_tokens - wi_tokens - note_tokens),
            world_info=tuple(sent), wi_left_out=tuple(left_out), cut_kept=kept)

    if anchor is not None and anchor.holds(joined, available):
        # The cut stays put and the story only grew since (typing, a reply): one count of
        # the prompt as it would be sent says whether it still fits, no piece is counted.
        assert anchor.start is not None
        prompt, position = insert_note(joined[anchor.start:], note_block,
                                       story.authors_note.depth)
        prompt += layout.suffix
        used = await counting.raw(memory + prompt)
        if used <= available:
            return plan(prompt, used, anchor.start, position, True)
    start, kept_anchor = await _choose_start(pieces, joined, room, counting, anchor, available)
    for _ in range(_MAX_SHRINKS):
        prompt, position = insert_note(joined[start:], note_block, story.authors_note.depth)
        prompt += layout.suffix
        used = await counting.raw(memory + prompt)
        if used <= available:
            return plan(prompt, used, start, position, kept_anchor)
        room -= used - available + SAFETY_MARGIN
        if room <= 0:
            break
        kept = await _newest_that_fits(pieces, _target(room, anchor), counting)
        start, kept_anchor = len(joined) - len(kept), False
    raise ContextOverflow(
        f"the story could not be fitted into {available} tokens next to memory and the "
        f"author's note: shorten them or raise the context length")


def _local(anchor: CutAnchor | None, offset: int) -> CutAnchor | None:
    """`anchor` in the coordinates of a story window starting `offset` characters in."""
    if anchor is None or not offset:
        return anchor
    start = None if anchor.start is None or anchor.start < offset else anchor.start - offset
    return CutAnchor(start, anchor.head, anchor.available, anchor.length - offset)


def _target(room: int, anchor: CutAnchor | None) -> int:
    """The room a fresh cut fills: all of it, or less by a step when the cut should stay."""
    if anchor is None:
        return room
    return max(1, room - max(1, int(room * CUT_STEP)))


async def _choose_start(pieces: list[str], joined: str, room: int, counting: _Counting,
                        anchor: CutAnchor | None, available: int) -> tuple[int, bool]:
    """Where the story text sent starts: the beginning when all of it fits, else the
    anchor's start while the text from there fits, else a fresh cut."""
    whole = 0
    for piece in reversed(pieces):  # newest first: a long story stops at the context's size
        whole += await counting.cached(piece)
        if whole > room:
            break
    if whole <= room:
        return 0, anchor is not None and anchor.start == 0
    if anchor is not None and anchor.valid_for(joined, available):
        assert anchor.start is not None
        if await _tokens_from(pieces, anchor.start, counting) <= room:
            return anchor.start, True
    kept = await _newest_that_fits(pieces, _target(room, anchor), counting)
    return len(joined) - len(kept), False


async def _tokens_from(pieces: list[str], start: int, counting: _Counting) -> int:
    """Tokens of the pieces' text from `start` on: whole pieces from the cache, the one the
    start falls into counted from there (and cached: the next turn asks for it again)."""
    total, offset = 0, 0
    for piece in pieces:
        end = offset + len(piece)
        if end > start:
            total += await counting.cached(piece if start <= offset else piece[start - offset:])
        offset = end
    return total


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
    "CUT_STEP", "MEMORY_CAP", "NOTE_CAP", "WI_CAP",
    "Budget", "BudgetError", "ContextOverflow", "ContextPlan", "Counter", "CutAnchor",
    "TokenCache", "build_request", "context_tail", "estimate_tokens", "insert_note",
    "join_memory", "note_text",
]
