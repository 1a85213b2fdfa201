"""A neutral intermediate between foreign story files and the story model.

The format readers and writers only know this shape, so they can be tested (and the story
model can change) independently; the lead maps it onto `kobold_gui.core.story` later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# One world-info entry type for the story and the files (`extra`: the foreign entry verbatim).
from ..story import ModeOptions, WorldInfoEntry, WorldInfoOptions

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
    #: the reply number of each segment (parallel to `segments`; empty: unknown). Lite keeps
    #: one chunk per reply: segments sharing a number are written as one chunk
    replies: list[int | None] = field(default_factory=list)
    #: reply number -> the text of each of its versions, None where the shown one goes
    alternatives: dict[int, list[str | None]] = field(default_factory=dict)
    #: Lite's `altbranches`: each other branch as its chunks, None for this one (empty: none)
    branches: list[list[str] | None] = field(default_factory=list)
    #: instruct/chat and world-info options the file holds (None: it holds none)
    mode_options: ModeOptions | None = None
    wi_options: WorldInfoOptions | None = None

    @property
    def text(self) -> str:
        """The story text exactly: every segment, nothing between them."""
        return "".join(text for _, text in self.segments)
