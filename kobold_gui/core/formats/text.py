"""Plain text and Markdown: export for reading elsewhere, plain text import to continue it."""

from __future__ import annotations

from kobold_gui.core.formats.model import StoryData


def dump_plain(story: StoryData) -> bytes:
    """Exactly the story text, nothing added."""
    return story.text.encode("utf-8")


def dump_markdown(story: StoryData) -> bytes:
    """Memory and author's note as sections when present, then the story text."""
    sections = [(title, body) for title, body in
                (("Memory", story.memory), ("Author's note", story.authors_note)) if body]
    if not sections:
        return dump_plain(story)
    parts = [f"## {title}\n\n{body.rstrip()}\n" for title, body in sections]
    parts.append(f"## Story\n\n{story.text}")
    return "\n".join(parts).encode("utf-8")


def load_plain(text: str) -> StoryData:
    """A text file is one user segment: the story so far, to be continued."""
    return StoryData(segments=[("user", text)] if text else [])
