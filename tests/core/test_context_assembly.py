"""Issue 8's context assembly: world info, Lite's caps, the mode's layout, the stable cut and
the one planning function both faces use."""

from __future__ import annotations

import pytest

from kobold_gui.core import settings as S
from kobold_gui.core.context import (
    Budget,
    ContextOverflow,
    CutAnchor,
    TokenCache,
    build_request,
)
from kobold_gui.core.prompt_layout import PromptLayout
from kobold_gui.core.protocol import KoboldClient
from kobold_gui.core.request import merge_stops, plan_generation, request_body
from kobold_gui.core.story import (
    AuthorsNote,
    Segment,
    Story,
    WorldInfoEntry,
    WorldInfoOptions,
)

pytestmark = pytest.mark.asyncio


class WordCounter:
    """One token a word plus a BOS token; logs every text counted."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, text: str) -> int:
        self.calls.append(text)
        return len(text.split()) + 1

    async def tokencount(self, text: str, special: bool = True) -> int:
        return await self(text)


def words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n)) + " "


def chapters(n: int, size: int = 10) -> list[Segment]:
    return [Segment("user" if i % 2 else "model", words(f"c{i}w", size)) for i in range(n)]


def lore(content: str, *keys: str, **kw: object) -> WorldInfoEntry:
    return WorldInfoEntry(keys=keys, content=content, **kw)  # type: ignore[arg-type]


async def test_two_turns_of_a_long_story_send_prompts_that_start_at_the_same_character():
    story = Story(chapters(30), memory="MEMORY. ")
    counter, cache, anchor = WordCounter(), TokenCache(), CutAnchor()
    first = await build_request(story, Budget(200, 40), counter, cache, anchor=anchor)
    assert first.cut_chars > 0 and not first.cut_kept
    start = story.text[first.cut_chars:]
    story.append_segment("model", words("reply", 8))
    second = await build_request(story, Budget(200, 40), counter, cache, anchor=anchor)
    assert second.cut_chars == first.cut_chars and second.cut_kept
    assert second.prompt.startswith(start[:80])  # the server's cache still holds this part
    # it keeps its start until the story no longer fits, then moves on by a whole step
    cuts = []
    for turn in range(12):
        story.append_segment("model", words(f"t{turn}w", 8))
        plan = await build_request(story, Budget(200, 40), counter, cache, anchor=anchor)
        assert plan.used_tokens <= 160 and plan.prompt.endswith(f"t{turn}w7 ")
        cuts.append(plan.cut_chars)
    moves = sum(1 for a, b in zip(cuts, cuts[1:], strict=False) if a != b)
    assert 0 < moves <= 4  # 12 turns, each adding ~9 tokens to a ~115-token story room


async def test_without_an_anchor_the_cut_is_the_smallest_and_an_edit_before_it_recuts():
    story = Story(chapters(30))
    anchor = CutAnchor()
    tight = await build_request(story, Budget(200, 40), WordCounter())
    stable = await build_request(story, Budget(200, 40), WordCounter(), anchor=anchor)
    assert stable.cut_chars > tight.cut_chars  # room left to grow into
    story.edit(0, 0, "A new opening. ")  # every offset after it moved
    again = await build_request(story, Budget(200, 40), WordCounter(), anchor=anchor)
    assert not again.cut_kept and story.text.endswith(again.prompt)


async def test_world_info_goes_after_memory_or_before_the_note_and_only_when_it_matches():
    entries = [lore("Ann is a knight.", "ann"), lore("Bob is a baker.", "bob"),
               lore("Magic is rare.", constant=True)]
    story = Story([Segment("user", "Ann walked home. ")], memory="Fantasy.",
                  world_info=entries, authors_note=AuthorsNote(text="grim", depth=5))
    plan = await build_request(story, Budget(500, 20), WordCounter())
    assert plan.memory == "Fantasy.\nAnn is a knight.\nMagic is rare.\n"
    assert [e.content for e in plan.world_info] == ["Ann is a knight.", "Magic is rare."]
    assert "Bob" not in plan.memory + plan.prompt and plan.wi_tokens > 0
    story.set_fields(wi_options=WorldInfoOptions(insert_location="before_note"))
    plan = await build_request(story, Budget(500, 20), WordCounter())
    assert plan.memory == "Fantasy."
    assert "Ann is a knight.\nMagic is rare.\n[Author's note: grim]" in plan.prompt
    assert plan.used_tokens == (plan.memory_tokens + plan.wi_tokens + plan.note_tokens
                                + plan.story_tokens)


async def test_world_info_over_half_the_budget_leaves_whole_entries_out():
    entries = [lore(words("a", 25), constant=True), lore(words("b", 25), constant=True),
               lore(words("c", 25), constant=True)]
    story = Story([Segment("user", "Hi. ")], world_info=entries)
    plan = await build_request(story, Budget(100, 20), WordCounter())  # cap: 40 tokens
    assert [e.content[0] for e in plan.world_info] == ["a"]
    assert [e.content[0] for e in plan.wi_left_out] == ["b", "c"]


async def test_memory_over_80_and_a_note_over_60_percent_are_refused_with_the_reason():
    story = Story([Segment("user", "Hi. ")], memory=words("m", 70))
    with pytest.raises(ContextOverflow, match="memory takes about 70 tokens, more than 80%"):
        await build_request(story, Budget(100, 20), WordCounter())
    story = Story([Segment("user", "Hi. ")], authors_note=AuthorsNote(text=words("n", 60)))
    with pytest.raises(ContextOverflow, match="author's note .* more than 60%"):
        await build_request(story, Budget(100, 20), WordCounter())


async def test_the_layouts_system_prompt_and_suffix_are_never_cut():
    story = Story(chapters(20), memory="MEM. ")
    layout = PromptLayout(tuple(s.text for s in story.segments), system="<sys>Be kind.</sys>",
                          suffix="<assistant>", stop_sequences=("<user>",))
    plan = await build_request(story, Budget(120, 20), WordCounter(), layout=layout)
    assert plan.memory.startswith("<sys>Be kind.</sys>MEM. ")
    assert plan.prompt.endswith(story.segments[-1].text + "<assistant>")
    assert plan.cut_chars > 0 and plan.used_tokens <= 100


async def test_plan_generation_adds_the_users_text_memory_and_the_modes_stops():
    story = Story([Segment("model", "Once. ")], memory="MEM.",
                  world_info=[lore("Ann is brave.", "ann")])
    values = {"max_context_length": 512, "max_length": 32, "stop_sequence": ["\nYou:"]}
    plan, body = await plan_generation(story, "Ann waves.", values, WordCounter())
    assert plan.prompt == "Once. Ann waves." and body["memory"] == "MEM.\nAnn is brave.\n"
    assert body["stop_sequence"] == ["\nYou:"] and len(story.segments) == 1
    sent = request_body(plan, body, "KCPP1234")
    assert sent == S.build_body("Once. Ann waves.", body, "KCPP1234")
    assert merge_stops(["a"], ("b", "a", "")) == ["a", "b"]


async def test_the_meter_total_is_the_servers_own_count_of_what_is_sent(emulator):
    story = Story(chapters(12), memory="The hero is Ann. ",
                  world_info=[lore("Ann is a knight.", "c11w")],
                  authors_note=AuthorsNote(text="gloomy", depth=30))
    client = KoboldClient(emulator.url)
    try:
        plan, body = await plan_generation(
            story, "", {"max_context_length": 120, "max_length": 40}, client,
            anchor=CutAnchor())
        real = await client.tokencount(body["memory"] + plan.prompt)
    finally:
        await client.aclose()
    assert not plan.estimated and plan.used_tokens == real <= 80
    assert "Ann is a knight." in body["memory"] and plan.cut_chars > 0
