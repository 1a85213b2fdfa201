"""Which world-info entries go into the next request: KoboldAI Lite's matching, exactly.

Lite (index.html L20461-20560) looks for each entry's keys in the last `search_depth` characters
of the story (0: all of it), as plain substrings (no word boundaries, no regex), lower-cased
unless the story is case sensitive. An entry with no content or switched off is skipped; a
constant one is always in. Otherwise:

- not selective (or selective with no secondary and no anti keys): any primary key;
- selective: a primary key AND a secondary key AND no anti key, where an empty secondary or
  anti list is left out of the rule.

An entry with a probability below 100 goes in when a roll of 1..100 is *below* it, as Lite does
(so 50 % means 49 %): the roll is injectable, so tests are deterministic and the window's
"Show request" can preview exactly what the next Generate sends (it rolls a copy). 0 means
never (Lite's own code treats a numeric 0 as "always" but a 0 typed in its dialog, a string,
as "never"; never is what a person means).

Groups (Lite's `wigroup`) only organise entries: Lite's "toggle entire group" switches every
entry of the group on or off (`set_group_disabled`), there is no separate group state.

One difference, on purpose: Lite splits "a, ,b" into keys and an empty key matches every text;
here empty keys are ignored, so a stray comma does not make an entry always match.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from .story import WorldInfoEntry, WorldInfoOptions

#: Returns a roll of 1..100 (Lite: Math.floor(Math.random() * 100) + 1).
Roll = Callable[[], int]


def random_roll(source: random.Random | None = None) -> Roll:
    """Lite's roll from `source` (a seeded Random in tests, a copy for a preview)."""
    rng = source or random.Random()
    return lambda: rng.randint(1, 100)


def search_text(story_text: str, options: WorldInfoOptions) -> str:
    """The part of the story keys are looked for in, case-folded unless case sensitive."""
    text = story_text
    if options.search_depth > 0:
        text = text[-options.search_depth:]
    return text if options.case_sensitive else text.lower()


def _keys(keys: Iterable[str], case_sensitive: bool) -> list[str]:
    out = [k.strip() for k in keys]
    return [k if case_sensitive else k.lower() for k in out if k]


def _any_in(keys: Sequence[str], haystack: str) -> bool:
    return any(k in haystack for k in keys)


def key_match(entry: WorldInfoEntry, haystack: str, case_sensitive: bool = False) -> bool:
    """Whether `entry`'s keys select it in `haystack` (already cut and case-folded); constant
    and probability are not considered here."""
    primary = _keys(entry.keys, case_sensitive)
    if not primary:
        return False  # Lite: a non-constant entry without keys never matches
    secondary = _keys(entry.secondary_keys, case_sensitive)
    anti = _keys(entry.anti_keys, case_sensitive)
    if not entry.selective or (not secondary and not anti):
        return _any_in(primary, haystack)
    if not _any_in(primary, haystack):
        return False
    if secondary and not _any_in(secondary, haystack):
        return False
    return not (anti and _any_in(anti, haystack))


def matching_entries(entries: Iterable[WorldInfoEntry], story_text: str,
                     options: WorldInfoOptions, roll: Roll | None = None, *,
                     folded: bool = False) -> list[WorldInfoEntry]:
    """The entries that go into the request, in the story's order. `roll` is asked once per
    key-matched entry whose probability is below 100 (default: a fresh random roll).
    `folded`: `story_text` is already `search_text(...)` (cut and case-folded once for many
    calls, when the entries are matched a slice at a time)."""
    haystack = story_text if folded else search_text(story_text, options)
    roller = roll or random_roll()
    chosen: list[WorldInfoEntry] = []
    for entry in entries:
        if not entry.content or entry.disabled:
            continue
        if not entry.constant and not key_match(entry, haystack, options.case_sensitive):
            continue
        if entry.probability < 100 and roller() >= entry.probability:
            continue
        chosen.append(entry)
    return chosen


def world_info_text(entries: Iterable[WorldInfoEntry]) -> str:
    """Matched contents as Lite inserts them: each followed by a newline."""
    return "".join(entry.content + "\n" for entry in entries)


def groups(entries: Iterable[WorldInfoEntry]) -> list[str]:
    """The story's groups in order of first appearance ("" = Lite's "General")."""
    seen: dict[str, None] = {"": None}
    for entry in entries:
        seen.setdefault(entry.group, None)
    return list(seen)


def set_group_disabled(entries: Iterable[WorldInfoEntry], group: str,
                       disabled: bool) -> tuple[WorldInfoEntry, ...]:
    """Lite's "toggle entire group": every entry of `group` switched off (or on)."""
    return tuple(replace(e, disabled=disabled) if e.group == group else e for e in entries)


__all__ = [
    "Roll", "groups", "key_match", "matching_entries", "random_roll", "search_text",
    "set_group_disabled", "world_info_text",
]
