"""Plain text and Markdown export, plain text import."""

from __future__ import annotations

from pathlib import Path

from kobold_gui.core import formats
from kobold_gui.core.formats import StoryData

DATA = Path(__file__).parent.parent / "data" / "formats"


def test_plain_text_is_exactly_the_story_text() -> None:
    story = formats.load((DATA / "lite_v180.json").read_bytes())
    assert formats.dump(story, "text").decode() == story.text
    assert story.memory not in formats.dump(story, "text").decode()


def test_markdown_has_memory_and_note_sections_then_the_story() -> None:
    story = formats.load((DATA / "lite_v339.json").read_bytes())
    md = formats.dump(story, "markdown").decode()
    assert md == ("## Memory\n\n[Setting: a rain city. 🌧️]\n\n"
                  "## Author's note\n\nKeep it noir.\n\n"
                  "## Story\n\n" + story.text)


def test_markdown_without_memory_or_note_is_just_the_story() -> None:
    story = StoryData(segments=[("user", "Just"), ("model", " this.")])
    assert formats.dump(story, "markdown") == b"Just this."


def test_plain_text_imports_as_one_user_segment_and_exports_back_identically() -> None:
    text = "Chapter 1\n\nIt was a dark night. Ünïcødé 🌙\n"
    data = text.encode()
    assert formats.detect(data) == "text"
    story = formats.load(data)
    assert story.segments == [("user", text)]
    assert formats.dump(story, "text") == data
    assert formats.load(formats.dump(story, "lite")).text == text
