"""Retry keeps every version of a reply, flipping shows each, branches swap the whole text;
all of it is undoable and survives our file format."""

from __future__ import annotations

import pytest

from kobold_gui.core.story import GenerationMeta, ReplyError, Segment, Story, StoryFormatError


def reply(story: Story, text: str, *, retry_of: int | None = None) -> int:
    """What ReplyWriter does for one generation: a new reply, or a new version of one."""
    number = story.new_reply_id() if retry_of is None else retry_of
    if retry_of is not None:
        story.begin_retry(retry_of)
    story.append_segment("model", text[:2], undo_step=retry_of is None, reply=number)
    story.append_text(-1, text[2:])
    story.finish_segment(len(story.segments) - 1, GenerationMeta(finish_reason="stop"))
    return number


def retried_story() -> tuple[Story, int]:
    story = Story()
    story.append_segment("user", "Once. ")
    number = reply(story, "one")
    for text in ("two", "three", "four"):
        reply(story, text, retry_of=number)
    return story, number


def test_retry_three_times_keeps_all_four_versions_and_shows_the_newest() -> None:
    story, number = retried_story()
    assert story.text == "Once. four"
    alts = story.alternatives(number)
    assert alts is not None and len(alts) == 4 and alts.current == 3
    shown = []
    while story.flip(number, -1):
        shown.append(story.text)
    assert shown == ["Once. three", "Once. two", "Once. one"]
    assert not story.flip(number, -1)
    assert story.alternatives(number).current == 0  # type: ignore[union-attr]
    story.show_version(number, 3)
    assert story.text == "Once. four"
    assert not story.flip(number, +1)


def test_a_retry_after_flipping_back_adds_a_fifth_version_and_keeps_the_flipped_one() -> None:
    story, number = retried_story()
    story.show_version(number, 1)
    reply(story, "five", retry_of=number)
    alts = story.alternatives(number)
    assert alts is not None and len(alts) == 5 and alts.current == 4
    story.show_version(number, 1)
    assert story.text == "Once. two"


def test_undo_takes_back_a_flip_and_a_retry_redo_brings_them_again() -> None:
    story, number = retried_story()
    story.flip(number, -1)
    assert story.undo() and story.text == "Once. four"
    assert story.undo() and story.text == "Once. three"  # the last retry, in one step
    assert len(story.alternatives(number)) == 3  # type: ignore[arg-type]
    assert story.redo() and story.text == "Once. four"
    assert len(story.alternatives(number)) == 4  # type: ignore[arg-type]


def test_an_edit_inside_a_reply_belongs_to_that_version() -> None:
    story, number = retried_story()
    start = len("Once. fo")
    story.edit(start, start, "XX")
    assert story.text == "Once. foXXur"
    assert story.reply_at(start + 1) == number
    story.flip(number, -1)
    assert story.text == "Once. three"
    story.flip(number, +1)
    assert story.text == "Once. foXXur"


def test_text_typed_after_a_reply_is_not_part_of_it() -> None:
    story, number = retried_story()
    story.edit(len(story), len(story), " And then")
    assert story.last_reply() is None
    with pytest.raises(ReplyError):
        story.begin_retry(number)
    story.flip(number, -1)
    assert story.text == "Once. three And then"


def test_a_retry_that_wrote_nothing_is_cancelled_and_leaves_no_trace() -> None:
    story, number = retried_story()
    story.begin_retry(number)
    assert story.text == "Once. "
    assert story.cancel_retry(number)
    assert story.text == "Once. four"
    assert len(story.alternatives(number)) == 4  # type: ignore[arg-type]
    assert story.undo() and story.text == "Once. three"


def test_reply_under_the_cursor_and_positions() -> None:
    story, number = retried_story()
    assert story.reply_at(0) is None
    assert story.reply_at(len("Once")) is None
    assert story.reply_at(len("Once. ")) == number  # the cursor just before the reply's text
    assert story.reply_at(len("Once. f")) == number
    assert story.reply_at(len(story)) == number
    assert story.reply_text_range(number) == (6, 10)


def test_branch_from_a_reply_and_switch_back() -> None:
    story, first = retried_story()
    story.append_segment("user", " Next. ")
    second = reply(story, "more")
    whole = story.text
    index = story.branch_from(first)
    assert story.text == "Once. four"
    assert story.branches[index] is None and len(story.branches) == 2
    assert len(story.alternatives(first)) == 4  # type: ignore[arg-type]
    assert story.alternatives(second) is None
    reply(story, "other", retry_of=first)
    assert story.text == "Once. other"
    story.switch_branch(0)
    assert story.text == whole
    assert len(story.alternatives(first)) == 4  # type: ignore[arg-type]
    story.switch_branch(1)
    assert story.text == "Once. other"
    assert len(story.alternatives(first)) == 5  # type: ignore[arg-type]
    assert story.undo() and story.text == whole  # switching is an undo step
    story.delete_branch(1)
    assert story.branches == ()
    with pytest.raises(ReplyError):
        story.switch_branch(0)


def test_versions_and_branches_survive_our_file_format() -> None:
    story, number = retried_story()
    story.flip(number, -1)
    story.branch_from(None)
    story.flip(number, -1)
    again = Story.from_json(story.to_json())
    assert again.to_dict() == story.to_dict()
    assert again.to_dict()["version"] == 2
    assert again.text == "Once. two"
    assert again.alternatives(number).current == 1  # type: ignore[union-attr]
    again.switch_branch(0)
    assert again.text == "Once. three"
    assert again.new_reply_id() > number  # numbers in other versions are never reused


def test_a_story_without_versions_is_still_version_1() -> None:
    story = Story()
    story.append_segment("user", "a")
    story.append_segment("model", "b", reply=story.new_reply_id())
    data = story.to_dict()
    assert data["version"] == 1 and "alternatives" not in data
    assert Story.from_dict(data).segments[1].reply == 1


@pytest.mark.parametrize("bad", [
    {"segments": [{"author": "model", "text": "x", "reply": "one"}]},
    {"alternatives": [{"reply": 1, "versions": [[], []]}]},
    {"alternatives": [{"reply": 1, "versions": "x"}]},
    {"branches": [None, None]},
    {"branches": "x"},
])
def test_damaged_versions_are_refused_clearly(bad: dict) -> None:
    with pytest.raises(StoryFormatError):
        Story.from_dict({"format": "kobold_gui.story", "version": 2, **bad})


def test_the_session_journal_brings_back_every_version_after_a_crash(tmp_path) -> None:
    from kobold_gui.core.storage import Journal, replay

    story = Story()
    journal = Journal(tmp_path / "session.journal")
    journal.attach(story)
    story.append_segment("user", "Once. ")
    number = reply(story, "one")
    reply(story, "two", retry_of=number)
    story.set_fields(memory="m")
    story.begin_retry(number)
    story.append_segment("model", "thr", undo_step=False, reply=number)  # crash mid-stream
    journal.close()
    back = replay(tmp_path / "session.journal")
    assert back.text == "Once. thr"
    assert back.last_reply() == number
    alts = back.alternatives(number)
    assert alts is not None and len(alts) == 3 and alts.current == 2
    back.show_version(number, 0)
    assert back.text == "Once. one"


def test_delete_last_reply_removes_the_whole_reply_and_undo_brings_it_back() -> None:
    from kobold_gui.core.reply import ReplyWriter

    story = Story([Segment("user", "Once")])
    writer = ReplyWriter(story)
    writer.append("model", " upon")
    writer.append("recovered", " a time")  # text recovered after a break, same reply
    writer.append("model", " there was")
    assert story.text == "Once upon a time there was"
    assert story.delete_last_reply()
    assert story.text == "Once"
    assert story.undo()
    assert story.text == "Once upon a time there was"

