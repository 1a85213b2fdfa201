"""Planning a long story costs what the context holds, not what the story holds (issue 9):
only its tail is laid out, counted and searched for world-info keys, and a kept cut is checked
with one count of the request."""

from __future__ import annotations

import pytest

from kobold_gui.core.context import MAX_CHARS_PER_TOKEN, CutAnchor, TokenCache
from kobold_gui.core.request import context_window, plan_generation
from kobold_gui.core.story import Segment, Story, WorldInfoEntry

pytestmark = pytest.mark.asyncio

SETTINGS = {"max_context_length": 300, "max_length": 44}  # 256 tokens for the prompt
AVAILABLE = 256


class Counter:
    """One token a word plus a BOS token; logs every text counted."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def tokencount(self, text: str, special: bool = True) -> int:
        self.calls.append(text)
        return len(text.split()) + 1


def long_story(segments: int = 400, words: int = 100) -> Story:
    """Each segment's words carry its number (s12w3), so a counted text tells where it is from."""
    return Story([Segment("user" if i % 2 else "model",
                          " ".join(f"s{i}w{k}" for k in range(words)) + " ")
                  for i in range(segments)])


async def test_a_long_story_is_counted_from_its_end_only() -> None:
    story = long_story()  # ~290 KB, far more than 256 tokens of 32 characters
    counter = Counter()
    plan, _ = await plan_generation(story, "", SETTINGS, counter, TokenCache(),
                                    anchor=CutAnchor())
    assert plan.cut_chars > 0 and plan.prompt == story.text[plan.cut_chars:]
    assert not any("s0w" in text or "s100w" in text for text in counter.calls)
    assert sum(len(text) for text in counter.calls) < AVAILABLE * MAX_CHARS_PER_TOKEN * 2


async def test_the_window_holds_the_newest_segments_the_context_could_hold() -> None:
    story = long_story()
    window, offset = context_window(story, AVAILABLE)
    assert story.text[offset:] == window.text
    assert len(window.text) >= AVAILABLE * MAX_CHARS_PER_TOKEN > len(window.text) - len(
        story.segments[-len(window.segments)].text)
    short = Story([Segment("user", "a few words")])
    assert context_window(short, AVAILABLE) == (short, 0)


async def test_world_info_keys_are_looked_for_in_the_context_not_the_whole_story() -> None:
    story = long_story()
    story.set_fields(world_info=(WorldInfoEntry(keys=("s0w5",), content="old lore"),
                                 WorldInfoEntry(keys=("s399w5",), content="new lore")))
    plan, _ = await plan_generation(story, "", SETTINGS, Counter(), TokenCache())
    assert [e.content for e in plan.world_info] == ["new lore"]


async def test_a_story_that_grew_where_the_cut_stays_costs_one_count() -> None:
    story = long_story()
    cache, anchor = TokenCache(), CutAnchor()
    first, _ = await plan_generation(story, "", SETTINGS, Counter(), cache, anchor=anchor)
    story.edit(len(story), len(story), "typed")
    counter = Counter()
    second, _ = await plan_generation(story, "", SETTINGS, counter, cache, anchor=anchor)
    assert second.cut_chars == first.cut_chars and second.cut_kept
    assert counter.calls == [second.memory + second.prompt]
    assert second.prompt.endswith("typed")


async def test_a_story_that_fits_and_grew_costs_one_count() -> None:
    story = Story([Segment("user", "One two three. ")])
    cache, anchor = TokenCache(), CutAnchor()
    await plan_generation(story, "", SETTINGS, Counter(), cache, anchor=anchor)
    story.append_segment("model", "Four five.")
    counter = Counter()
    plan, _ = await plan_generation(story, "", SETTINGS, counter, cache, anchor=anchor)
    assert plan.cut_chars == 0 and plan.prompt == story.text
    assert counter.calls == [plan.memory + plan.prompt]


async def test_a_story_that_shrank_is_planned_afresh() -> None:
    story = long_story(40, 20)
    cache, anchor = TokenCache(), CutAnchor()
    first, _ = await plan_generation(story, "", SETTINGS, Counter(), cache, anchor=anchor)
    assert first.cut_chars > 0
    story.edit(len(story) - 2000, len(story), "")
    plan, _ = await plan_generation(story, "", SETTINGS, Counter(), cache, anchor=anchor)
    assert plan.cut_chars < first.cut_chars  # more of the older text fits again
