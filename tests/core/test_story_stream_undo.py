"""Undo around a streaming reply: an edit made while a reply streams is one undo step of its
own, and undoing it keeps the whole reply (the snapshot it took held only part of it)."""

from __future__ import annotations

from kobold_gui.core.story import GenerationMeta, Story


def streamed(story: Story, *chunks: str) -> None:
    for chunk in chunks:
        story.append_text(-1, chunk)


def test_undoing_an_edit_made_mid_stream_keeps_the_rest_of_the_reply() -> None:
    story = Story()
    story.append_segment("user", "Hello. ")
    story.append_segment("model", "Once")
    story.edit(0, 0, "Well. ")  # while the reply streams
    streamed(story, " upon", " a time.")
    story.finish_segment(-1 + len(story.segments), GenerationMeta(finish_reason="stop"))

    assert story.undo()  # the edit only
    assert story.text == "Hello. Once upon a time."
    assert story.segments[-1].meta == GenerationMeta(finish_reason="stop")
    assert story.undo()  # the whole reply
    assert story.text == "Hello. "
    assert story.redo() and story.redo()
    assert story.text == "Well. Hello. Once upon a time."


def test_a_reply_in_several_segments_is_one_step_and_survives_an_edit_undo() -> None:
    story = Story()
    story.append_segment("user", "Prompt. ")
    story.append_segment("model", "abc")
    story.edit(0, 1, "p")
    story.append_segment("recovered", "def", undo_step=False)
    story.append_segment("model", "ghi", undo_step=False)
    assert story.undo()
    assert story.text == "Prompt. abcdefghi"
    assert [s.author for s in story.segments] == ["user", "model", "recovered", "model"]
    assert story.undo()
    assert story.text == "Prompt. "


def test_an_edit_of_the_reply_itself_closes_the_stream_step() -> None:
    story = Story()
    story.append_segment("user", "A. ")
    story.append_segment("model", "bcd")
    story.edit(4, 5, "X")  # inside the reply (allowed once it stopped streaming)
    assert story.text == "A. bXd"
    assert story.undo() and story.text == "A. bcd"
    assert story.undo() and story.text == "A. "
