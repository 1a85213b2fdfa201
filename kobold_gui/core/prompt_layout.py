"""The story as the model sees it in the current mode: the seam between core/modes.py (which
tags wrap which turn) and core/context.py (what fits the budget).

Story mode is the segments' text as it is; instruct and chat wrap each turn in tags or names.
Context assembly cuts `pieces` from the oldest side only and never cuts `system` or `suffix`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .story import Story


@dataclass(frozen=True)
class PromptLayout:
    #: the story's segments as sent, oldest first, one piece per segment (tags included)
    pieces: tuple[str, ...]
    #: the system prompt with its tags: sent before memory, never cut
    system: str = ""
    #: the very end of the prompt, after the author's note (the assistant's start tag or the
    #: bot's name): never cut
    suffix: str = ""
    #: the mode's stop sequences, added to the user's own
    stop_sequences: tuple[str, ...] = ()


def story_layout(story: Story) -> PromptLayout:
    """Plain continuation: the text as it stands."""
    return PromptLayout(tuple(seg.text for seg in story.segments if seg.text))


__all__ = ["PromptLayout", "story_layout"]
