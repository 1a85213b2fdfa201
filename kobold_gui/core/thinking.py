"""Thinking blocks in a model's reply: found, split from the answer, left out of later prompts.

The formats KoboldCpp 1.113 knows (`thinkformats`, lite-reference §1.5):
- `<think>…</think>` (DeepSeek R1, Qwen 3, GLM, …)
- `<seed:think>…</seed:think>` (Seed OSS)
- gpt-oss Harmony: `<|channel|>analysis<|message|>…` up to
  `<|end|><|start|>assistant<|channel|>final<|message|>`
- Gemma 4: `<|channel>thought…<channel|>`

A block may still be open (the closing tag has not streamed in yet): it then runs to the end of
the text. A closing tag with no opening one before it, at the first block, means the opening tag
was in the prompt (a template that starts the reply inside the thoughts, e.g. Gemma 4 Thinking):
the thoughts run from the start of the reply.

The story keeps the blocks as the model wrote them; only the prompt leaves them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: (name, opening tag, closing tag) as regular expressions
FORMATS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    ("think", re.compile(re.escape("<think>")), re.compile(re.escape("</think>"))),
    ("seed", re.compile(re.escape("<seed:think>")), re.compile(re.escape("</seed:think>"))),
    ("harmony", re.compile(re.escape("<|channel|>analysis<|message|>")),
     re.compile(r"(?:<\|end\|>)?(?:<\|start\|>assistant)?<\|channel\|>final<\|message\|>")),
    ("gemma", re.compile(re.escape("<|channel>thought")), re.compile(re.escape("<channel|>"))),
)


@dataclass(frozen=True)
class ThinkBlock:
    """One block of thoughts in a text, as offsets into it."""

    start: int  # the opening tag (0 when it was in the prompt)
    content_start: int  # the thoughts, after the opening tag
    content_end: int  # before the closing tag (the end of the text while still open)
    end: int  # after the closing tag (the end of the text while still open)
    closed: bool
    kind: str

    def content(self, text: str) -> str:
        return text[self.content_start:self.content_end]


def find_blocks(text: str) -> list[ThinkBlock]:
    """Every thinking block in `text`, in order; see the module docstring."""
    blocks: list[ThinkBlock] = []
    pos = 0
    while pos < len(text):
        opened = _first(text, pos, 1)
        closed = _first(text, pos, 2)
        if not blocks and closed is not None and (opened is None or closed[1].start()
                                                  < opened[1].start()):
            kind, match = closed  # opened in the prompt
            blocks.append(ThinkBlock(0, 0, match.start(), match.end(), True, kind))
            pos = match.end()
            continue
        if opened is None:
            break
        kind, match = opened
        close = closing_tag(kind).search(text, match.end())
        if close is None:
            blocks.append(ThinkBlock(match.start(), match.end(), len(text), len(text), False,
                                     kind))
            break
        blocks.append(ThinkBlock(match.start(), match.end(), close.start(), close.end(), True,
                                 kind))
        pos = close.end()
    return blocks


def _first(text: str, pos: int, which: int) -> tuple[str, re.Match[str]] | None:
    best: tuple[str, re.Match[str]] | None = None
    for name, opening, closing in FORMATS:
        found = (opening if which == 1 else closing).search(text, pos)
        if found is not None and (best is None or found.start() < best[1].start()):
            best = (name, found)
    return best


def closing_tag(kind: str) -> re.Pattern[str]:
    """The closing tag of a block of this kind (`ThinkBlock.kind`)."""
    return next(fmt[2] for fmt in FORMATS if fmt[0] == kind)


@dataclass(frozen=True)
class SplitReply:
    thinking: str  # the thoughts of every block, joined by blank lines (tags left out)
    answer: str  # the rest
    done: bool  # False while a block is still open (the model is still thinking)


def split_reply(text: str) -> SplitReply:
    """A reply as thoughts and answer (also while the closing tag has not arrived yet)."""
    blocks = find_blocks(text)
    thoughts = [b.content(text).strip() for b in blocks]
    return SplitReply("\n\n".join(t for t in thoughts if t), strip_thinking(text),
                      not blocks or blocks[-1].closed)


def _removed_ranges(text: str) -> list[tuple[int, int]]:
    """What leaving the thoughts out removes: each block and the line breaks after it."""
    ranges = []
    for block in find_blocks(text):
        end = block.end
        while end < len(text) and text[end] in "\r\n":
            end += 1
        ranges.append((block.start, end))
    return ranges


def strip_thinking(text: str) -> str:
    """`text` without its thinking blocks (an open one runs to the end)."""
    out, last = [], 0
    for start, end in _removed_ranges(text):
        out.append(text[last:start])
        last = end
    out.append(text[last:])
    return "".join(out)


def strip_thinking_pieces(pieces: list[str]) -> list[str]:
    """As `strip_thinking` over the pieces joined (a block may span segments: a recovered
    stream, an edit inside it), keeping one piece per input piece (some may become "")."""
    joined = "".join(pieces)
    ranges = _removed_ranges(joined)
    if not ranges:
        return list(pieces)
    out: list[str] = []
    offset = 0
    for piece in pieces:
        a, b = offset, offset + len(piece)
        kept, cursor = [], a
        for start, end in ranges:
            if end <= cursor or start >= b:
                continue
            if start > cursor:
                kept.append(joined[cursor:start])
            cursor = max(cursor, min(end, b))
        if cursor < b:
            kept.append(joined[cursor:b])
        out.append("".join(kept))
        offset = b
    return out


def word_count(text: str) -> int:
    return len(text.split())


__all__ = ["FORMATS", "SplitReply", "ThinkBlock", "closing_tag", "find_blocks", "split_reply",
           "strip_thinking", "strip_thinking_pieces", "word_count"]
