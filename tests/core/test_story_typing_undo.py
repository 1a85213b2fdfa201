"""Typing is undone a run at a time, the way text editors do, not a letter at a time."""

from __future__ import annotations

from kobold_gui.core.story import Segment, Story


def type_text(story: Story, position: int, text: str) -> int:
    for ch in text:
        story.edit(position, position, ch)
        position += 1
    return position


def test_a_typed_word_is_one_undo_step():
    story = Story([Segment("model", "Once upon a time.")])
    type_text(story, len(story), " The end")
    assert story.text == "Once upon a time. The end"
    story.undo()
    assert story.text == "Once upon a time."
    story.redo()
    assert story.text == "Once upon a time. The end"


def test_enter_moving_elsewhere_or_a_generation_start_a_new_step():
    story = Story([Segment("model", "abc")])
    end = type_text(story, 3, "de")
    story.edit(end, end, "\n")  # Enter: its own step
    type_text(story, end + 1, "fg")
    type_text(story, 0, "X")  # somewhere else
    assert story.text == "Xabcde\nfg"
    story.undo()
    assert story.text == "abcde\nfg"
    story.undo()
    assert story.text == "abcde\n"
    story.undo()
    assert story.text == "abcde"
    story.undo()
    assert story.text == "abc"
    assert not story.can_undo


def test_backspacing_and_forward_deleting_are_runs_of_their_own():
    story = Story([Segment("user", "hello world")])
    for position in range(11, 6, -1):  # Backspace x5 from the end: "world" goes
        story.edit(position - 1, position, "")
    assert story.text == "hello "
    for _ in range(2):  # Delete x2 at the start
        story.edit(0, 1, "")
    assert story.text == "llo "
    story.undo()
    assert story.text == "hello "
    story.undo()
    assert story.text == "hello world"


def test_typing_after_a_reply_does_not_join_the_typing_before_it():
    story = Story([Segment("user", "Hi")])
    type_text(story, 2, "!!")
    story.append_segment("model", " Hello.")
    type_text(story, len(story), "?")
    story.undo()
    assert story.text == "Hi!! Hello."
    story.undo()
    assert story.text == "Hi!!"
