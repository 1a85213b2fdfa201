"""The next request, planned one way for every face: the window's Generate, its meter and
"Show request", and `kobold-story continue` (and its --show-request) all call
`plan_generation`, so what is previewed is what is sent.

It validates the settings, lays the story out in its mode (`modes.layout_for`), fits it into
`max_context_length − max_length` tokens (`context.build_request`), puts the system prompt,
memory and world info in the server's `memory` field and adds the mode's stop sequences to the
user's own. The body itself is `settings.build_body(plan.prompt, body_settings, genkey)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from . import settings as sampler_settings
from .context import (
    MAX_CHARS_PER_TOKEN,
    Budget,
    ContextPlan,
    CutAnchor,
    TokenCache,
    build_request,
)
from .modes import layout_for, turn_break
from .serverinfo import ServerInfo
from .story import Segment, Story
from .worldinfo import Roll

#: KoboldCpp reads at most this many stop sequences (settings' cross-check says so too).
MAX_STOP_SEQUENCES = 32


class TokenCounting(Protocol):
    async def tokencount(self, text: str, special: bool = True) -> int: ...


def with_user_text(story: Story, user_text: str) -> Story:
    """`story` as it will be once `user_text` is appended, without touching it (segments are
    immutable, so this copies references, not text)."""
    if not user_text:
        return story
    turn = Segment("user", user_turn(story, user_text))
    return Story((*story.segments, turn), memory=story.memory,
                 authors_note=story.authors_note, world_info=story.world_info,
                 mode=story.mode, mode_options=story.mode_options,
                 wi_options=story.wi_options)


def context_window(story: Story, available: int) -> tuple[Story, int]:
    """The newest segments of `story` that a request of `available` tokens could ever hold
    (MAX_CHARS_PER_TOKEN characters a token at most, the bound the cut search uses too), as a
    story of their own, and how many characters come before them. Planning a 10 MB story
    lays out (thinking tags searched, turns tagged), joins and searches only its tail, so the
    cost follows the context, not the story. Segments are immutable: no text is copied."""
    limit = available * MAX_CHARS_PER_TOKEN
    segments = story.segments
    first, size = len(segments), 0
    while first > 0 and size < limit:
        first -= 1
        size += len(segments[first].text)
    if first == 0:
        return story, 0
    window = Story(segments[first:], memory=story.memory, authors_note=story.authors_note,
                   world_info=story.world_info, mode=story.mode,
                   mode_options=story.mode_options, wi_options=story.wi_options)
    return window, len(story) - size


def user_turn(story: Story, user_text: str) -> str:
    """The user segment that `user_text` becomes at the end of `story` (in instruct and chat
    mode it opens a paragraph of its own)."""
    return turn_break(story, "user") + user_text


def merge_stops(user: list[str] | None, mode: tuple[str, ...]) -> list[str]:
    """The user's stop sequences, then the mode's that are not among them."""
    out = list(user or [])
    for stop in mode:
        if stop and stop not in out:
            out.append(stop)
    return out[:MAX_STOP_SEQUENCES]


async def plan_generation(story: Story, user_text: str, settings: Mapping[str, Any],
                          client: TokenCounting, cache: TokenCache | None = None,
                          server: ServerInfo | None = None, *,
                          anchor: CutAnchor | None = None,
                          roll: Roll | None = None) -> tuple[ContextPlan, dict[str, Any]]:
    """(the plan, the settings to build the body from) for generating from `story` plus
    `user_text`. Raises InvalidSettings (a KoboldError), BudgetError or ContextOverflow with
    the reason; nothing is changed then (the story is never touched here)."""
    values = sampler_settings.validate(settings)
    budget = Budget(int(values["max_context_length"]), int(values["max_length"]))
    target, offset = context_window(with_user_text(story, user_text), budget.available)
    layout = layout_for(target, server.version if server is not None else None)
    plan = await build_request(target, budget, client.tokencount, cache, layout=layout,
                               anchor=anchor, roll=roll, offset=offset)
    body_settings = dict(values)
    body_settings["memory"] = plan.memory or None  # sent once, in its own field
    if layout.stop_sequences:
        body_settings["stop_sequence"] = merge_stops(values.get("stop_sequence"),
                                                     layout.stop_sequences)
    if server is not None:  # a sampler the server is too old for is never sent
        body_settings = sampler_settings.for_server(
            body_settings, sampler_settings.ServerFeatures.from_version_info(server.version))
    return plan, body_settings


def request_body(plan: ContextPlan, body_settings: Mapping[str, Any],
                 genkey: str) -> dict[str, Any]:
    """The exact JSON body a generation with this plan sends."""
    return sampler_settings.build_body(plan.prompt, body_settings, genkey)


__all__ = ["MAX_STOP_SEQUENCES", "context_window", "merge_stops", "plan_generation",
           "request_body", "user_turn", "with_user_text"]
