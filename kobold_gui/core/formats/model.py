"""A neutral intermediate between foreign story files and the story model.

The format readers and writers only know this shape, so they can be tested (and the story
model can change) independently; the lead maps it onto `kobold_gui.core.story` later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# One world-info entry type for the story and the files (`extra`: the foreign entry verbatim).
from ..story import WorldInfoEntry

Author = Literal["user", "model", "recovered", "edited"]
AUTHORS: tuple[str, ...] = ("user", "model", "recovered", "edited")


class FormatError(ValueError):
    """A file is not a story we can read; the message is meant for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class StoryData:
    """A story as a foreign file holds it; `extra` keeps every key we do not understand."""

    segments: list[tuple[str, str]] = field(default_factory=list)
    memory: str = ""
    authors_note: str = ""
    an_template: str = ""
    an_depth: int = 320
    world_info: list[WorldInfoEntry] = field(default_factory=list)
    mode: str = "story"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The story text exactly: every segment, nothing between them."""
        return "".join(text for _, text in self.segments)
