"""World info is matched like KoboldAI Lite matches it (lite-reference §2.4)."""

from __future__ import annotations

import random

import pytest

from kobold_gui.core.story import WorldInfoEntry, WorldInfoOptions
from kobold_gui.core.worldinfo import (
    groups,
    matching_entries,
    random_roll,
    set_group_disabled,
    world_info_text,
)

STORY = "Ann rode north past the Old Mill. The dragon slept under the hill."


def entry(content: str, *keys: str, **kw: object) -> WorldInfoEntry:
    return WorldInfoEntry(keys=keys, content=content, **kw)  # type: ignore[arg-type]


def names(entries: list[WorldInfoEntry]) -> list[str]:
    return [e.content for e in entries]


def match(entries: list[WorldInfoEntry], text: str = STORY, roll=None, **options: object):
    return names(matching_entries(entries, text, WorldInfoOptions(**options),  # type: ignore
                                  roll))


def test_primary_keys_match_as_plain_substrings_ignoring_case():
    entries = [entry("mill", "old mill"), entry("castle", "castle"),
               entry("drag", "drag"), entry("any", "castle", " DRAGON ")]
    assert match(entries) == ["mill", "drag", "any"]  # "drag" is inside "dragon": no word rule


def test_case_sensitive_stories_match_exact_case_only():
    entries = [entry("mill", "old mill"), entry("Mill", "Old Mill")]
    assert match(entries, case_sensitive=True) == ["Mill"]


def test_selective_needs_primary_and_secondary_and_no_anti_key():
    both = entry("both", "Ann", selective=True, secondary_keys=("dragon",))
    no_second = entry("no-second", "Ann", selective=True, secondary_keys=("castle",))
    anti = entry("anti", "Ann", selective=True, secondary_keys=("dragon",),
                 anti_keys=("hill",))
    anti_only = entry("anti-only", "Ann", selective=True, anti_keys=("castle",))
    anti_hit = entry("anti-hit", "Ann", selective=True, anti_keys=("mill",))
    empty_lists = entry("empty-lists", "Ann", selective=True)
    not_selective = entry("not-selective", "Ann", anti_keys=("mill",))  # anti ignored
    assert match([both, no_second, anti, anti_only, anti_hit, empty_lists, not_selective]) == [
        "both", "anti-only", "empty-lists", "not-selective"]


def test_constant_always_and_disabled_or_empty_never():
    entries = [entry("const", constant=True), entry("off", "Ann", disabled=True),
               entry("", "Ann"), entry("no-keys"), entry("const-off", constant=True,
                                                       disabled=True)]
    assert match(entries) == ["const"]


def test_search_depth_counts_characters_from_the_end():
    entries = [entry("ann", "ann"), entry("hill", "hill")]
    assert match(entries, search_depth=10) == ["hill"]
    assert match(entries, search_depth=0) == ["ann", "hill"]  # 0: the whole story


def test_probability_zero_never_hundred_always_else_lites_roll():
    entries = [entry("never", "Ann", probability=0), entry("always", "Ann", probability=100),
               entry("half", "Ann", probability=50)]
    assert match(entries, roll=lambda: 1) == ["always", "half"]
    assert match(entries, roll=lambda: 49) == ["always", "half"]
    assert match(entries, roll=lambda: 50) == ["always"]  # Lite: roll < probability


def test_the_roll_is_only_asked_for_entries_that_matched():
    rolls: list[int] = []

    def roll() -> int:
        rolls.append(1)
        return 1

    match([entry("a", "castle", probability=50), entry("b", "Ann", probability=50)], roll=roll)
    assert len(rolls) == 1


def test_a_seeded_roll_repeats_and_a_stray_comma_key_matches_nothing():
    entries = [entry(str(i), "Ann", probability=50) for i in range(20)]
    first = match(entries, roll=random_roll(random.Random(7)))
    assert first == match(entries, roll=random_roll(random.Random(7)))
    assert 0 < len(first) < 20
    assert match([entry("stray", "", " ")]) == []


def test_groups_switch_all_their_entries():
    entries = (entry("a", "Ann", group="People"), entry("b", "hill", group="Places"),
               entry("c", "Ann"))
    assert groups(entries) == ["", "People", "Places"]
    off = set_group_disabled(entries, "People", True)
    assert match(list(off)) == ["b", "c"]
    assert match(list(set_group_disabled(off, "People", False))) == ["a", "b", "c"]


@pytest.mark.parametrize(("contents", "text"), [((), ""), (("a", "b"), "a\nb\n")])
def test_contents_are_joined_one_a_line(contents, text):
    assert world_info_text(entry(c) for c in contents) == text
