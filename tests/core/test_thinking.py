"""Thinking blocks: split from the answer, while streaming too, in every known format."""

from __future__ import annotations

import pytest

from kobold_gui.core.thinking import (
    find_blocks,
    split_reply,
    strip_thinking,
    strip_thinking_pieces,
)


@pytest.mark.parametrize(("reply", "thoughts", "answer"), [
    ("<think>\nLet me see.\n</think>\n\nHello!", "Let me see.", "Hello!"),
    ("<seed:think>plan</seed:think>Done", "plan", "Done"),
    ("<|channel|>analysis<|message|>We need x.<|end|><|start|>assistant<|channel|>final"
     "<|message|>X it is.", "We need x.", "X it is."),
    ("<|channel>thought\nponder<channel|>Answer", "ponder", "Answer"),
    ("opened in the prompt</think>Answer", "opened in the prompt", "Answer"),
    ("no thoughts at all", "", "no thoughts at all"),
])
def test_formats(reply: str, thoughts: str, answer: str) -> None:
    split = split_reply(reply)
    assert (split.thinking, split.answer, split.done) == (thoughts, answer, True)


def test_still_open_while_streaming() -> None:
    split = split_reply("<think>I am thinking about")
    assert split.thinking == "I am thinking about" and split.answer == "" and not split.done
    (block,) = find_blocks("Hi <think>abc")
    assert (block.start, block.closed) == (3, False)


def test_strip_keeps_the_rest() -> None:
    assert strip_thinking("A<think>x</think>B<think>y</think>\nC") == "ABC"


def test_block_across_pieces() -> None:
    pieces = ["<think>first ", "half</think>\n", "Answer", " more"]
    assert strip_thinking_pieces(pieces) == ["", "", "Answer", " more"]
    assert strip_thinking_pieces(["a<thi", "nk>b</think>c"]) == ["a", "c"]
