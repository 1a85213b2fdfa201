"""Our format is written a segment per line and read back the same way, so a worker thread
never holds the GIL for one 10 MB json call (the window would freeze); any other layout of the
same JSON still reads, and damage is still refused."""

from __future__ import annotations

import json

import pytest

from kobold_gui.core.story import GenerationMeta, Story, StoryFormatError


def sample() -> Story:
    story = Story(memory="Mira keeps the light.\nAlways.")
    story.append_segment("user", "Line one\nline two, \"quoted\" 🌙")
    story.append_segment("model", " and the sea", GenerationMeta(model="m", tokens=3))
    story.append_segment("user", "")
    return story


def test_written_a_segment_per_line_and_read_back() -> None:
    story = sample()
    data = story.to_json()
    lines = data.split(b"\n")
    assert len(lines) == 2 + len(story.segments)
    assert json.loads(data) == story.to_dict()  # plain JSON for any other reader
    again = Story.from_json(data)
    assert again.to_dict() == story.to_dict()


def test_an_empty_story_round_trips() -> None:
    assert Story.from_json(Story().to_json()).to_dict() == Story().to_dict()


def test_other_layouts_of_the_same_json_read_the_same() -> None:
    story = sample()
    for text in (json.dumps(story.to_dict(), indent=2), json.dumps(story.to_dict())):
        assert Story.from_json(text.encode()).to_dict() == story.to_dict()


@pytest.mark.parametrize("cut", [10, -3, -1])
def test_a_truncated_file_is_refused(cut: int) -> None:
    data = sample().to_json()
    with pytest.raises(StoryFormatError):
        Story.from_json(data[:cut])


def test_a_missing_comma_is_refused_like_any_json_reader_would() -> None:
    data = sample().to_json().replace(b"},\n", b"}\n", 1)
    with pytest.raises(StoryFormatError):
        Story.from_json(data)


def test_lines_are_split_as_bytes_split_does() -> None:
    """The reader splits a story file into lines a line at a time (so a worker thread hands
    the GIL back between them); it must cut exactly where bytes.split does."""
    from kobold_gui.core.story import _split_lines

    for data in (b"", b"a", b"a\n", b"\n", b"\n\n", b'{"a": [\n{"x": 1},\n]}', b"a\nb\n\nc"):
        assert _split_lines(data) == data.split(b"\n"), data
