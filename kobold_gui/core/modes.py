"""Story, instruct and chat: how the story's turns are shown to the model.

(Issue 8, being filled in: for now every mode is plain continuation.)
"""

from __future__ import annotations

from .prompt_layout import PromptLayout, story_layout
from .protocol import ServerVersion
from .story import Story


def layout_for(story: Story, server: ServerVersion | None = None) -> PromptLayout:
    """The story as the model sees it in the story's mode, for this server (None: unknown)."""
    return story_layout(story)


__all__ = ["layout_for"]
