"""The story model: the one copy of the text, its positions, edits, undo and file format."""

from __future__ import annotations

import pytest

from kobold_gui.core.story import (
    FORMAT_VERSION,
    AuthorsNote,
    FieldsChanged,
    GenerationMeta,
    NewerFormat,
    RangeEdited,
    Reset,
    Segment,
    SegmentAppended,
    SegmentFinished,
    Story,
    StoryFormatError,
    TextAppended,
    WorldInfoEntry,
)


def three_segments() -> Story:
    story = Story()
    story.append_segment("user", "Once ")      # 0..5
    story.append_segment("model", "upon a ")   # 5..12
    story.append_segment("user", "time.")      # 12..17
    return story


def shape(story: Story) -> list[tuple[str, str]]:
    return [(s.author, s.text) for s in story.segments]


def test_streamed_text_lands_in_the_last_segment_and_the_text() -> None:
    story = Story()
    story.append_segment("user", "Hello")
    index = story.append_segment("model")
    for chunk in [" wor", "ld", "!"]:
        story.append_text(index, chunk)
    assert story.text == "Hello world!"
    assert len(story) == len("Hello world!")
    assert shape(story) == [("user", "Hello"), ("model", " world!")]
    story.append_text(index, " More")  # reading the text in between does not lose chunks
    assert story.segment(index).text == " world! More"


def test_text_streams_only_into_the_last_segment() -> None:
    story = three_segments()
    with pytest.raises(IndexError):
        story.append_text(0, "x")
    story.edit(1, 2, "N")  # splits segment 0: the streaming segment's index moved
    story.append_text(-1, " Then")
    assert story.text == "ONce upon a time. Then"
    assert story.segments[-1].text == "time. Then"
    with pytest.raises(IndexError):
        Story().append_text(-1, "x")


@pytest.mark.parametrize(("position", "expected"), [
    (0, (0, 0)), (4, (0, 4)), (5, (1, 0)), (11, (1, 6)), (12, (2, 0)), (16, (2, 4)),
    (17, (2, 5)),  # the end belongs to the last segment
])
def test_segment_at_maps_positions(position: int, expected: tuple[int, int]) -> None:
    assert three_segments().segment_at(position) == expected


def test_segment_at_follows_streaming_and_skips_empty_segments() -> None:
    story = Story()
    story.append_segment("user", "ab")
    story.append_segment("model", "")
    story.append_segment("user", "")
    index = story.append_segment("model", "c")
    story.append_text(index, "de")
    assert story.segment_at(2) == (3, 0)
    assert story.segment_at(4) == (3, 2)
    assert story.segment_at(5) == (3, 3)
    for bad in (-1, 6):
        with pytest.raises(IndexError):
            story.segment_at(bad)


@pytest.mark.parametrize(("start", "end", "new", "expected"), [
    # inside one segment: split around the edit
    (7, 9, "XY", [("user", "Once "), ("model", "up"), ("edited", "XY"),
                  ("model", " a "), ("user", "time.")]),
    # spanning three segments
    (2, 14, "-", [("user", "On"), ("edited", "-"), ("user", "me.")]),
    # exactly one whole segment
    (5, 12, "upon many ", [("user", "Once "), ("edited", "upon many "), ("user", "time.")]),
    # pure insertion at a boundary
    (5, 5, "oh ", [("user", "Once "), ("edited", "oh "), ("model", "upon a "),
                   ("user", "time.")]),
    # pure deletion: no empty edited segment is left behind
    (0, 5, "", [("model", "upon a "), ("user", "time.")]),
    # at the very end
    (17, 17, " The end.", [("user", "Once "), ("model", "upon a "), ("user", "time."),
                           ("edited", " The end.")]),
    # everything
    (0, 17, "new", [("edited", "new")]),
])
def test_edit_replaces_the_range_with_an_edited_segment(
        start: int, end: int, new: str, expected: list[tuple[str, str]]) -> None:
    story = three_segments()
    before = story.text
    story.edit(start, end, new)
    assert story.text == before[:start] + new + before[end:]
    assert shape(story) == expected
    # the position index is rebuilt: every position maps into its segment
    for position in range(len(story)):
        index, offset = story.segment_at(position)
        assert story.segment(index).text[offset] == story.text[position]


def test_split_model_pieces_keep_their_meta() -> None:
    story = Story()
    meta = GenerationMeta(model="m", finish_reason="stop")
    story.append_segment("model", "abcdef", meta)
    story.edit(2, 4, "")
    assert [s.meta for s in story.segments] == [meta, meta]


def test_neighbouring_edits_merge_into_one_edited_segment() -> None:
    story = three_segments()
    story.edit(5, 5, "A")
    story.edit(6, 6, "B")           # right after the first edit
    story.edit(5, 5, "C")           # right before it
    assert shape(story) == [("user", "Once "), ("edited", "CAB"), ("model", "upon a "),
                            ("user", "time.")]


def test_edit_outside_the_story_is_refused() -> None:
    story = three_segments()
    with pytest.raises(IndexError):
        story.edit(3, 99, "x")
    with pytest.raises(IndexError):
        story.edit(5, 4, "x")


def test_undo_redo_of_edits_and_whole_generations() -> None:
    story = Story()
    story.append_segment("user", "Prompt.")
    index = story.append_segment("model")
    for chunk in " The model", " wrote", " this.":
        story.append_text(index, chunk)
    story.edit(0, 1, "p")
    assert story.text == "prompt. The model wrote this."
    assert story.undo()  # the edit
    assert story.text == "Prompt. The model wrote this."
    assert story.undo()  # the whole generation, every streamed chunk at once
    assert story.text == "Prompt."
    assert story.redo() and story.text == "Prompt. The model wrote this."
    assert story.redo() and story.text == "prompt. The model wrote this."
    assert not story.redo()
    story.undo()
    story.edit(0, 0, ">")  # a new change drops the redo branch
    assert not story.can_redo
    while story.undo():
        pass
    assert story.text == ""


def test_delete_last_reply_removes_the_newest_model_segment() -> None:
    story = three_segments()
    story.append_segment("model", " And then")
    assert story.delete_last_reply()
    assert story.text == "Once upon a time."
    assert story.delete_last_reply()
    assert shape(story) == [("user", "Once "), ("user", "time.")]
    assert not story.delete_last_reply()
    story.undo()
    assert story.text == "Once upon a time."


def test_subscriber_receives_typed_events_until_unsubscribed() -> None:
    story = Story()
    events: list[object] = []
    unsubscribe = story.subscribe(events.append)
    story.append_segment("user", "Hi")
    index = story.append_segment("model")
    story.append_text(index, " there")
    story.finish_segment(index, GenerationMeta(finish_reason="stop"))
    story.edit(0, 2, "Hello")
    story.set_fields(memory="m")
    story.undo()
    assert events == [SegmentAppended(0), SegmentAppended(1), TextAppended(1, " there", 2),
                      SegmentFinished(1), RangeEdited(0, 2, "Hello"), FieldsChanged(), Reset()]
    unsubscribe()
    story.append_segment("user", "x")
    assert len(events) == 7


def test_revision_and_dirty_flag_track_unsaved_changes() -> None:
    story = Story()
    assert not story.dirty
    story.append_segment("user", "x")
    assert story.dirty
    revision = story.revision
    story.mark_saved()
    assert not story.dirty
    story.append_text(0, "y")
    assert story.dirty and story.revision > revision


def full_story() -> Story:
    story = Story(
        [Segment("user", "Start. "),
         Segment("model", "Middle… 🐉", GenerationMeta(
             model="koboldcpp/Llama", server_url="http://127.0.0.1:5001",
             settings={"temperature": 0.7, "max_length": 80, "stop_sequence": ["\n"]},
             started_at=1.5, finished_at=3.25, tokens=12, finish_reason="length")),
         Segment("recovered", "cut"), Segment("edited", " fixed")],
        memory="The hero is a kobold.",
        authors_note=AuthorsNote("Tense scene", "[Note: <|>]", 160),
        world_info=[WorldInfoEntry(keys=("dragon", "wyrm"), secondary_keys=("cave",),
                                   anti_keys=("toy",), content="Dragons hoard gold.",
                                   comment="lore", selective=True, constant=True,
                                   probability=35, group="beasts", disabled=True)],
        mode="adventure",
        extra={"altbranches": [{"x": 1}], "savedsettings": {"a": None}, "documentdb_x": "y"})
    return story


def test_every_field_survives_the_round_trip() -> None:
    story = full_story()
    data = story.to_dict()
    # version 1 while the story has no reply versions or branches (older kobold_gui reads it)
    assert data["format"] == "kobold_gui.story" and data["version"] == 1
    again = Story.from_json(story.to_json())
    assert again.segments == story.segments
    assert again.memory == story.memory
    assert again.authors_note == story.authors_note
    assert again.world_info == story.world_info
    assert again.mode == "adventure"
    assert again.extra == story.extra
    assert again.to_dict() == data
    assert not again.dirty  # a freshly opened story has nothing unsaved


def test_a_newer_version_is_refused_with_a_typed_error() -> None:
    data = full_story().to_dict()
    data["version"] = FORMAT_VERSION + 1
    with pytest.raises(NewerFormat) as caught:
        Story.from_dict(data)
    assert caught.value.version == FORMAT_VERSION + 1
    assert "newer" in str(caught.value)


@pytest.mark.parametrize("payload", [
    b"not json", b"[]", b'{"format": "other"}', b'{"format": "kobold_gui.story"}',
    b'{"format": "kobold_gui.story", "version": 1, "segments": [{"author": "alien"}]}',
    b'{"format": "kobold_gui.story", "version": 1, "segments": [{"author": "user", "text": 3}]}',
    b'{"format": "kobold_gui.story", "version": 1, "mode": "opera"}',
    b'{"format": "kobold_gui.story", "version": 1, "authors_note": []}',
])
def test_foreign_or_damaged_data_raises_a_format_error(payload: bytes) -> None:
    with pytest.raises(StoryFormatError):
        Story.from_json(payload)


def test_asking_for_the_last_reply_does_not_fold_the_streamed_tail() -> None:
    """The window asks after every token (retry actions): folding there copied the whole
    reply each time (quadratic in the reply's length)."""
    story = Story()
    story.append_segment("user", "Hi\n")
    number = story.new_reply_id()
    story.append_segment("model", reply=number)
    story.append_text(-1, "one ")
    story.append_text(-1, "two")
    assert story.last_reply() == number
    assert story.reply_span(number) == (1, 2)
    assert story._tail == ["one ", "two"]  # not folded
    assert story.text == "Hi\none two"


def test_a_copy_keeps_every_part_and_not_later_edits() -> None:
    """What a worker thread writes (a save, the session kept at quit): every part, and the
    story as it was when copied, while the original goes on changing."""
    from story_parts import every_part_story

    story = every_part_story()
    copy = story.copy()
    assert copy.to_dict() == story.to_dict()
    assert copy.to_json() == story.to_json()
    before = story.to_json()
    story.append_text(-1, " and on")
    story.append_segment("model", "new")
    story.set_fields(memory="changed", mode="story")
    story.extra["lite_only"] = "changed"
    assert copy.to_json() == before
    assert copy.segments[0] is story.segments[0]  # shared, not copied
