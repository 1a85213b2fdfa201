"""One generation's text written into a story, the same way by every face.

Streamed text goes into a "model" segment at the end; text recovered after a broken stream into
a "recovered" one, and what streams after it into a new model segment. All of them are one
undo step, and only they get the generation's record (`finish`): the story's older segments,
imported ones without a record among them, are never touched. All of them carry one reply
number (Segment.reply), which is how the story tells a reply from the text around it; a retry
(`ReplyWriter.retry`) writes a new version under the number of the reply it replaces.
"""

from __future__ import annotations

import time

from .generation import Generation
from .modes import turn_break
from .stats import rate
from .story import Author, GenerationMeta, Story

#: request fields that are the context, not settings (the story holds them)
CONTEXT_FIELDS = frozenset({"prompt", "memory", "genkey"})


class ReplyWriter:
    def __init__(self, story: Story, *, reply: int | None = None,
                 joins_step: bool = False) -> None:
        self.story = story
        self.author: Author | None = None
        self.segments = 0  # segments this reply has written
        self.chars = 0  # characters of the segment it is writing into, and those before it
        #: the reply number its segments get (a new one unless it writes a retry)
        self.reply = story.new_reply_id() if reply is None else reply
        #: the first segment joins the undo step already open (the retry's) instead of one
        self._joins_step = joins_step
        #: the turn break written before the reply's text (None: not decided yet)
        self._lead: str | None = None

    @classmethod
    def retry(cls, story: Story, reply: int) -> ReplyWriter:
        """Take the story's last reply out into its alternatives; the writer streams the new
        version into its place, the same undo step (`Story.begin_retry`)."""
        story.begin_retry(reply)
        return cls(story, reply=reply, joins_step=True)

    def cancel_if_empty(self) -> bool:
        """A retry that wrote nothing (not sent, failed or stopped at once) puts the version
        shown before back, so nothing is lost."""
        return self._joins_step and not self.segments and self.story.cancel_retry(self.reply)

    def append(self, author: Author, text: str) -> None:
        if self._lead is None:
            # in instruct and chat mode a new turn opens a paragraph of its own; the
            # model's own line breaks before its first word would only add blank lines
            self._lead = turn_break(self.story, "assistant")
        if self._lead and not self.segments:
            text = text.lstrip("\n")
            if text:
                text = self._lead + text
        if not text:
            return
        if self.author == author:
            self.story.append_text(-1, text)
        else:
            self.story.append_segment(author, text, reply=self.reply,
                                      undo_step=self.segments == 0 and not self._joins_step)
            self.author = author
            self.segments += 1
        self.chars += len(text)

    def start_afresh(self) -> None:
        """The story was reset under the reply (undo, load): go on in a new segment."""
        self.author, self.chars = None, 0

    def finish(self, meta: GenerationMeta) -> None:
        count = len(self.story.segments)
        for index in range(max(0, count - self.segments), count):
            if self.story.segment(index).author in ("model", "recovered"):
                self.story.finish_segment(index, meta)


def reply_meta(generation: Generation, *, model: str | None, started_at: float,
               finish_reason: str, streamed_tokens: int | None = None) -> GenerationMeta:
    """The record of a generation: the settings it really sent, the server's token counts,
    and its live statistics (seconds to the first text, seconds in all, tokens per second).

    `streamed_tokens`: the stream events seen (about one token each), used when the server
    could not say how many tokens it generated (stopped, failed, an older server)."""
    body = generation.requests[0].body if generation.requests else {}
    facts = [r.facts for r in generation.requests if r.facts is not None and r.facts.ours]
    tokens = sum(f.last_token_count for f in facts) if facts else None
    counted = tokens if tokens else (streamed_tokens or None)
    now = time.monotonic()
    sent, first = generation.started_at, generation.first_token_at
    return GenerationMeta(
        model=model, server_url=generation.client.url,
        settings={k: v for k, v in body.items() if k not in CONTEXT_FIELDS},
        started_at=started_at, finished_at=time.time(),
        tokens=counted,
        finish_reason=finish_reason,
        time_to_first_token=_round(first - sent) if sent is not None and first is not None
        else None,
        elapsed=_round(now - sent) if sent is not None else None,
        tokens_per_second=_round(rate(counted, first, now)))


def _round(value: float | None) -> float | None:
    """Three decimals are plenty for seconds and tokens per second, and keep files tidy."""
    return None if value is None else round(value, 3)
