"""The request is built from the story: memory plus the newest text that fits the budget."""

from __future__ import annotations

import pytest

from kobold_gui.core import errors as E
from kobold_gui.core.context import (
    Budget,
    BudgetError,
    ContextOverflow,
    TokenCache,
    build_request,
    estimate_tokens,
)
from kobold_gui.core.protocol import KoboldClient
from kobold_gui.core.story import AuthorsNote, Segment, Story

pytestmark = pytest.mark.asyncio

NOTE = "[Author's note: gloomy]"


class WordCounter:
    """One token a word, plus a BOS token like `tokencount(special=True)`; logs every text."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, text: str) -> int:
        self.calls.append(text)
        return len(text.split()) + 1


def words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n)) + " "


def long_story(note: str = "", depth: int = 40) -> Story:
    segments = [Segment("user" if i % 2 else "model", words(f"s{i}w", 10)) for i in range(10)]
    return Story(segments, memory="The hero is Ann. ",
                 authors_note=AuthorsNote(text=note, depth=depth))


async def test_a_story_that_fits_is_sent_whole_with_the_note_placed():
    story = Story([Segment("user", "Once upon a time, "), Segment("model", "a fox ran far away.")],
                  authors_note=AuthorsNote(text="gloomy", depth=8))
    plan = await build_request(story, Budget(100, 20), WordCounter())
    assert plan.cut_chars == 0 and not plan.estimated
    assert plan.prompt.replace(NOTE, "") == story.text
    assert plan.prompt.endswith(NOTE + "far away.")  # 8 chars before the end: "r away." → word
    assert plan.used_tokens <= plan.available_tokens == 80


async def test_overflow_cuts_the_oldest_text_and_keeps_memory_and_the_newest():
    story = long_story()
    plan = await build_request(story, Budget(60, 20), WordCounter())
    assert plan.memory == story.memory  # sent in the memory field, never cut
    assert "The hero" not in plan.prompt
    assert story.text.endswith(plan.prompt) and plan.prompt.endswith(story.segments[-1].text)
    assert plan.cut_chars == len(story.text) - len(plan.prompt) > 0
    assert story.text[plan.cut_chars - 1] == " "  # cut at a word, not inside one
    assert plan.used_tokens == len((plan.memory + plan.prompt).split()) + 1 <= 40
    # as much as fits: one more word would not
    assert plan.used_tokens >= 40 - 6


async def test_the_authors_note_sits_depth_characters_before_the_end():
    story = long_story(note="gloomy", depth=40)
    plan = await build_request(story, Budget(200, 20), WordCounter())
    assert plan.note_position is not None
    after = plan.prompt[plan.note_position + len(NOTE):]
    assert plan.prompt.count(NOTE) == 1
    assert 40 <= len(after) <= 70  # nudged back to a word start, at most 30 characters
    assert story.text.endswith(after) and plan.prompt[plan.note_position - 1] == " "


async def test_an_empty_note_is_not_inserted():
    story = long_story(note="")
    plan = await build_request(story, Budget(500, 20), WordCounter())
    assert plan.prompt == story.text and plan.note_position is None
    assert "Author's note" not in plan.prompt


async def test_the_cache_avoids_recounting_unchanged_segments():
    story = long_story(note="gloomy")
    counter, cache = WordCounter(), TokenCache()
    await build_request(story, Budget(500, 20), counter, cache)
    first = len(counter.calls)
    counter.calls.clear()
    story.append_segment("model", "and then it rained ")
    plan = await build_request(story, Budget(500, 20), counter, cache)
    # the new segment, then the one check of the assembled request: nothing else
    assert counter.calls == ["and then it rained ", story.memory + plan.prompt]
    assert first > len(counter.calls)


async def test_an_unreachable_counter_falls_back_to_a_flagged_estimate():
    async def down(text: str) -> int:
        raise E.ConnectionFailed("The server cannot be reached")

    story = long_story()
    plan = await build_request(story, Budget(80, 20), down)
    assert plan.estimated
    assert plan.used_tokens == estimate_tokens(plan.memory + plan.prompt) <= 60
    assert plan.cut_chars > 0 and plan.prompt.endswith(story.segments[-1].text)


async def test_estimates_are_not_cached():
    async def down(text: str) -> int:
        raise E.ConnectionFailed("down")

    cache = TokenCache()
    await build_request(long_story(), Budget(80, 20), down, cache)
    assert len(cache) == 0  # the next build asks the server again


@pytest.mark.parametrize(("context", "reply"), [(100, 100), (100, 150), (0, 0)])
async def test_a_budget_without_room_for_a_prompt_is_refused(context, reply):
    with pytest.raises(BudgetError, match="no room for a prompt"):
        Budget(context, reply)
    assert issubclass(BudgetError, ValueError)


async def test_against_the_emulators_real_tokencount(emulator):
    story = long_story(note="gloomy", depth=30)
    client = KoboldClient(emulator.url)
    try:
        plan = await build_request(story, Budget(120, 40), client.tokencount)
        real = await client.tokencount(plan.memory + plan.prompt)
    finally:
        await client.aclose()
    assert not plan.estimated
    assert plan.used_tokens == real <= 80
    assert plan.cut_chars > 0 and NOTE in plan.prompt
    assert plan.prompt.replace(NOTE, "") == story.text[plan.cut_chars:]


async def test_a_newest_segment_longer_than_the_budget_keeps_its_end():
    story = Story([Segment("model", words("w", 500))])
    counter = WordCounter()
    plan = await build_request(story, Budget(70, 20), counter)
    assert plan.prompt.endswith("w499 ") and story.text.endswith(plan.prompt)
    assert story.text[plan.cut_chars - 1] == " " and plan.used_tokens <= 50
    assert len(counter.calls) < 20  # a bisection, not a count per character


async def test_memory_that_alone_overflows_is_refused_clearly():
    story = Story([Segment("user", "Hi ")], memory=words("m", 100))
    with pytest.raises(ContextOverflow, match="memory"):
        await build_request(story, Budget(50, 10), WordCounter())


async def test_a_server_that_refuses_to_count_nothing_is_still_asked_for_the_rest():
    counter = WordCounter()

    async def no_empty(text: str) -> int:
        if not text:
            raise E.BadRequest("empty prompt")
        return await counter(text)

    story = long_story()
    plan = await build_request(story, Budget(60, 20), no_empty)
    assert not plan.estimated and plan.cut_chars > 0
    assert plan.used_tokens == len((plan.memory + plan.prompt).split()) + 1 <= 40
