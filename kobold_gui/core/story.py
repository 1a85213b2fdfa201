"""The story: the one document that is the model's context, Qt-free so it is testable headless.

Views never keep their own copy of the text: they subscribe and apply the typed change events
(napari-style), so a streamed token costs the view one small insert, not a re-render.

Cost model (why it is shaped like this):
- streaming appends go to a chunk list of the last segment, joined only when its text is read,
  and update only the last entry of the cumulative-length array: O(1) amortised per token;
- `segment_at` bisects that array: O(log n) in the number of segments;
- an edit rebuilds the segment list around the edited range: O(segments), never O(text);
- an undo step is a snapshot of the segment list; segments are immutable and shared between
  snapshots, so a step costs one list of references (8 bytes a segment), not a copy of the text.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, get_args

Author = Literal["user", "model", "recovered", "edited"]
Mode = Literal["story", "instruct", "chat", "adventure"]

FORMAT_NAME = "kobold_gui.story"
#: the newest version we read; a story without alternatives or branches is still written as
#: version 1 (older kobold_gui opens it), one with them as 2 (older ones refuse it rather than
#: drop the versions they do not know)
FORMAT_VERSION = 2
DEFAULT_AN_TEMPLATE = "[Author's note: <|>]"
#: Lite's "medium" strength: the note goes this many characters before the end of the context.
DEFAULT_AN_DEPTH = 320
_AUTHORS: tuple[str, ...] = get_args(Author)
_MODES: tuple[str, ...] = get_args(Mode)


class StoryFormatError(ValueError):
    """The data is not a story in our format (foreign, corrupt, wrong field types)."""


class NewerFormat(StoryFormatError):
    """Written by a newer kobold_gui: we refuse to read it rather than drop what we don't know."""

    def __init__(self, version: int) -> None:
        super().__init__(f"this story was saved by a newer kobold_gui (format version {version}; "
                         f"this one reads up to {FORMAT_VERSION})")
        self.version = version


@dataclass(frozen=True)
class GenerationMeta:
    """How a model segment was made; every field optional (recovered or imported text)."""

    model: str | None = None
    server_url: str | None = None
    settings: dict[str, Any] | None = None
    started_at: float | None = None  # wall-clock epoch seconds
    finished_at: float | None = None
    tokens: int | None = None
    finish_reason: str | None = None  # "stop", "length", "aborted", "interrupted", ...
    #: live statistics kept with the reply (issue 8): seconds from sending to the first text,
    #: seconds from sending to the end, generated tokens per second while it streamed
    time_to_first_token: float | None = None
    elapsed: float | None = None
    tokens_per_second: float | None = None


@dataclass(frozen=True)
class Segment:
    author: Author
    text: str
    meta: GenerationMeta | None = None
    #: the reply (one generation) that wrote it: every segment a generation writes carries
    #: the same number, so a reply is "the segments with its number, and what lies between
    #: them" however it is edited, saved and reopened; None for the user's own text
    reply: int | None = None


@dataclass(frozen=True)
class Alternatives:
    """Every version of one reply, oldest first. The version the story shows is not held
    here twice: its slot is None (as Lite marks the active branch), so "2 / 5" is
    `current + 1` / `len`."""

    versions: tuple[tuple[Segment, ...] | None, ...]

    @property
    def current(self) -> int:
        return self.versions.index(None)

    def __len__(self) -> int:
        return len(self.versions)


@dataclass(frozen=True)
class Branch:
    """A whole other story text (Lite's `altbranches` entry): its segments and the
    alternatives of its replies."""

    segments: tuple[Segment, ...]
    alternatives: Mapping[int, Alternatives] = field(default_factory=dict, hash=False)
    name: str = ""


@dataclass(frozen=True)
class AuthorsNote:
    text: str = ""
    template: str = DEFAULT_AN_TEMPLATE
    depth: int = DEFAULT_AN_DEPTH  # distance from the end of the context, characters


@dataclass(frozen=True)
class WorldInfoEntry:
    keys: tuple[str, ...] = ()
    secondary_keys: tuple[str, ...] = ()
    anti_keys: tuple[str, ...] = ()
    content: str = ""
    comment: str = ""
    selective: bool = False
    constant: bool = False
    probability: int = 100  # 0-100, percent
    group: str = ""
    disabled: bool = False
    #: the foreign file's entry verbatim (Lite's folder, uid, unknown keys), for the round trip
    extra: dict[str, Any] = field(default_factory=dict, hash=False)


InsertLocation = Literal["after_memory", "before_note"]


@dataclass(frozen=True)
class WorldInfoOptions:
    """How world info is matched and placed, per story (Lite keeps these in the save file)."""

    search_depth: int = 0  # characters at the end of the context keys are looked for in; 0 = all
    insert_location: InsertLocation = "after_memory"
    case_sensitive: bool = False


@dataclass(frozen=True)
class ModeOptions:
    """Instruct and chat settings, per story: which tags wrap the turns, who is talking."""

    #: a Lite instruct template by name (core/modes.py lists them), or "Custom"
    instruct_template: str = "KoboldCppAutomatic"
    #: the "Custom" template's tags: system_start/_end, user_start/_end, assistant_start/_end
    custom_template: dict[str, str] = field(default_factory=dict, hash=False)
    system_prompt: str = ""
    user_name: str = "User"
    bot_name: str = "KoboldAI"
    #: "auto": let a KoboldCpp 1.88+ server fill {{[INPUT]}}-style placeholders with the
    #: model's own tags, literal tags otherwise; "literal": always send literal tags
    placeholders: Literal["auto", "literal"] = "auto"
    #: send <think>…</think> blocks of earlier replies back to the model
    keep_thinking: bool = False


# --- change events -------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentAppended:
    index: int


@dataclass(frozen=True)
class TextAppended:
    index: int
    text: str
    position: int  # document position where `text` starts


@dataclass(frozen=True)
class RangeEdited:
    start: int
    end: int  # end of the replaced range in the document *before* the edit
    new_text: str


@dataclass(frozen=True)
class SegmentFinished:
    """A model segment got its final meta (finish reason, timings): nothing more streams in."""

    index: int


@dataclass(frozen=True)
class FieldsChanged:
    """Memory, author's note, world info, mode or extra changed (not the text)."""


@dataclass(frozen=True)
class Reset:
    """Everything may have changed (undo, redo, load): views re-read the whole story."""


StoryEvent = SegmentAppended | TextAppended | RangeEdited | SegmentFinished | FieldsChanged | Reset
Listener = Callable[[StoryEvent], None]
#: one undo step: the segments, the alternatives of the replies, the branches (all immutable
#: or replaced whole on change, so a step holds references, not copies)
_Snapshot = tuple[list[Segment], dict[int, Alternatives], tuple[Branch | None, ...]]


class ReplyError(ValueError):
    """A retry, version flip or branch that cannot be done (no such reply, nothing to show)."""


class Story:
    """Segments plus the context fields. Mutate only through the methods: they keep the
    position index, the revision, the undo history and the subscribers in step."""

    def __init__(self, segments: Iterable[Segment] = (), *, memory: str = "",
                 authors_note: AuthorsNote | None = None,
                 world_info: Iterable[WorldInfoEntry] = (), mode: Mode = "story",
                 extra: dict[str, Any] | None = None,
                 mode_options: ModeOptions | None = None,
                 wi_options: WorldInfoOptions | None = None,
                 alternatives: Mapping[int, Alternatives] | None = None,
                 branches: Iterable[Branch | None] = ()) -> None:
        self._segments: list[Segment] = list(segments)
        #: reply number -> its versions (replaced whole on change: undo steps share it)
        self._alts: dict[int, Alternatives] = dict(alternatives or {})
        #: the other story texts; the None slot is this one (empty: no branches)
        self._branches: tuple[Branch | None, ...] = tuple(branches)
        if self._branches and self._branches.count(None) != 1:
            raise ValueError("exactly one branch slot must be the story itself (None)")
        self._next_reply = 1 + max(_reply_ids(self._segments, self._alts, self._branches),
                                   default=0)
        #: the undo depth right after `begin_retry`, so a retry that wrote nothing is undone
        self._retry_depth: int | None = None
        self._tail: list[str] = []  # streamed chunks not yet folded into the last segment
        self._ends: list[int] = []
        self._rebuild_ends()
        self._memory = memory
        self._authors_note = authors_note or AuthorsNote()
        self._world_info: tuple[WorldInfoEntry, ...] = tuple(world_info)
        self._mode: Mode = mode
        self._mode_options = mode_options or ModeOptions()
        self._wi_options = wi_options or WorldInfoOptions()
        self.extra: dict[str, Any] = dict(extra or {})
        self._listeners: list[Listener] = []
        self._undo: list[_Snapshot] = []
        #: the trailing segments of the step the newest `append_segment` opened (a reply may
        #: still stream into them), and the undo snapshots edits took meanwhile, each with how
        #: many of those segments it holds: they get the final text (`_close_stream`), so
        #: undoing an edit made during a stream does not take back the rest of the reply
        self._stream_tail = 0
        self._stale: list[tuple[int, int]] = []
        self._redo: list[_Snapshot] = []
        self.revision = 0
        self._saved_revision = 0
        #: the run of keystrokes the newest undo step holds: (kind, next position, revision),
        #: so typing a sentence is one undo step, not one per letter
        self._typing: tuple[str, int, int] | None = None

    # --- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @property
    def segments(self) -> tuple[Segment, ...]:
        self._fold_tail()
        return tuple(self._segments)

    def segment(self, index: int) -> Segment:
        self._fold_tail()
        return self._segments[index]

    @property
    def text(self) -> str:
        self._fold_tail()
        return "".join(s.text for s in self._segments)

    def segment_start(self, index: int) -> int:
        return self._ends[index - 1] if index > 0 else 0

    def segment_at(self, position: int) -> tuple[int, int]:
        """(segment index, offset in it) of a document position; the end maps to the last
        segment. O(log n). Empty segments are never returned for a position inside the text."""
        if not self._segments or not 0 <= position <= len(self):
            raise IndexError(f"position {position} outside the story (length {len(self)})")
        index = min(bisect_right(self._ends, position), len(self._ends) - 1)
        return index, position - self.segment_start(index)

    @property
    def memory(self) -> str:
        return self._memory

    @property
    def authors_note(self) -> AuthorsNote:
        return self._authors_note

    @property
    def world_info(self) -> tuple[WorldInfoEntry, ...]:
        return self._world_info

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def mode_options(self) -> ModeOptions:
        return self._mode_options

    @property
    def wi_options(self) -> WorldInfoOptions:
        return self._wi_options

    @property
    def dirty(self) -> bool:
        """Unsaved changes since the last `mark_saved()`."""
        return self.revision != self._saved_revision

    def mark_saved(self) -> None:
        self._saved_revision = self.revision

    def mark_unsaved(self) -> None:
        """Dirty until the next save (a story brought back from a kept or crashed session)."""
        self._saved_revision = -1

    # --- observers -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` after every change; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self, event: StoryEvent) -> None:
        self.revision += 1
        for listener in list(self._listeners):
            listener(event)

    # --- text operations -------------------------------------------------------------------

    def append_segment(self, author: Author, text: str = "",
                       meta: GenerationMeta | None = None, *, undo_step: bool = True,
                       reply: int | None = None) -> int:
        """A new segment at the end; returns its index. Starts an undo step that also holds
        the text later streamed into it (one generation = one undo); `undo_step=False` adds
        it to the current step instead (text recovered after a break, and the reply after it,
        belong to the generation they continue)."""
        if author not in _AUTHORS:
            raise ValueError(f"unknown author {author!r}")
        if undo_step:
            self._close_stream()
            self._push_undo()
        self._fold_tail()
        self._stream_tail += 1
        if reply is not None:
            self._next_reply = max(self._next_reply, reply + 1)
        self._segments.append(Segment(author, text, meta, reply))
        self._ends.append(len(self) + len(text))
        index = len(self._segments) - 1
        self._changed(SegmentAppended(index))
        return index

    def append_text(self, index: int, text: str) -> None:
        """Stream `text` into the last segment (the only one that grows). O(1) amortised.
        `index` -1 means "the last one", whose index an edit earlier in the story may shift."""
        last = len(self._segments) - 1
        if index == -1 and last >= 0:
            index = last
        if index != last or index < 0:
            raise IndexError(f"text can only stream into the last segment, not {index}")
        if not text:
            return
        position = len(self)
        self._tail.append(text)
        self._ends[-1] += len(text)
        self._changed(TextAppended(index, text, position))

    def finish_segment(self, index: int, meta: GenerationMeta) -> None:
        """Record how a generation ended (timings, finish reason) on its segment."""
        self._fold_tail()
        self._segments[index] = replace(self._segments[index], meta=meta)
        self._changed(SegmentFinished(index))

    def edit(self, start: int, end: int, new_text: str) -> None:
        """Replace document range [start, end) by `new_text`, which becomes an "edited"
        segment (segments are split around it; neighbouring edited pieces merge)."""
        if not 0 <= start <= end <= len(self):
            raise IndexError(f"range {start}..{end} outside the story (length {len(self)})")
        if start == end and not new_text:
            return
        tail_start = self.segment_start(len(self._segments) - self._stream_tail)
        if self._stream_tail and (end > tail_start or start == len(self)):
            self._close_stream()  # the edit reaches into the streamed segments
        typing = _keystroke(start, end, new_text)
        run = self._typing
        same_run = (typing is not None and run is not None and not self._stream_tail
                    and self._undo and run[0] == typing and run[2] == self.revision
                    and (start == run[1] or (typing == "delete" and end == run[1])))
        if not same_run:
            self._push_undo()
            if self._stream_tail:
                self._stale.append((len(self._undo) - 1, self._stream_tail))
        self._replace(start, end, new_text)
        self._changed(RangeEdited(start, end, new_text))
        # where the next keystroke of the same run would be: typing carries on after the
        # inserted text, Backspace ends where this deletion began
        self._typing = None if typing is None else (
            typing, start + len(new_text) if typing == "insert" else start, self.revision)

    def delete_last_reply(self) -> bool:
        """Remove the newest reply: every segment one generation wrote (model text, text
        recovered after a break, what was typed inside it), or the newest model segment of
        an imported story without reply numbers; False when there is none."""
        self._fold_tail()
        for index in range(len(self._segments) - 1, -1, -1):
            if self._segments[index].author in ("model", "recovered"):
                break
        else:
            return False
        start, end = self.segment_start(index), self._ends[index]
        reply = self._segments[index].reply
        whole = self.reply_text_range(reply) if reply is not None else None
        if whole is not None and whole[1] > whole[0]:
            start, end = whole
        self._close_stream()
        self._push_undo()
        if end > start:  # exactly an edit to nothing, so a journal replays it as one
            self._replace(start, end, "")
            self._changed(RangeEdited(start, end, ""))
        else:
            del self._segments[index]
            self._segments = _merge_edited(self._segments)
            self._rebuild_ends()
            self._changed(Reset())
        return True

    def _replace(self, start: int, end: int, new_text: str) -> None:
        self._fold_tail()
        first = bisect_right(self._ends, start) if start < len(self) else len(self._segments)
        first = min(first, len(self._segments))
        before: list[Segment] = self._segments[:first]
        pieces: list[Segment] = []
        index = first
        # the part of the first touched segment that lies before `start`
        if index < len(self._segments):
            seg, seg_start = self._segments[index], self.segment_start(index)
            if start > seg_start:
                pieces.append(replace(seg, text=seg.text[:start - seg_start]))
        pieces.append(Segment("edited", new_text))
        # skip segments wholly inside the range, keep the tail of the last one touched
        while index < len(self._segments) and self._ends[index] <= end:
            index += 1
        if index < len(self._segments):
            seg, seg_start = self._segments[index], self.segment_start(index)
            pieces.append(replace(seg, text=seg.text[end - seg_start:]))
            index += 1
        self._segments = _merge_edited(before + pieces + self._segments[index:])
        self._rebuild_ends()

    # --- context fields --------------------------------------------------------------------

    def set_fields(self, *, memory: str | None = None, authors_note: AuthorsNote | None = None,
                   world_info: Iterable[WorldInfoEntry] | None = None,
                   mode: Mode | None = None, mode_options: ModeOptions | None = None,
                   wi_options: WorldInfoOptions | None = None) -> None:
        if mode is not None and mode not in _MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if mode_options is not None:
            self._mode_options = mode_options
        if wi_options is not None:
            self._wi_options = wi_options
        if memory is not None:
            self._memory = memory
        if authors_note is not None:
            self._authors_note = authors_note
        if world_info is not None:
            self._world_info = tuple(world_info)
        if mode is not None:
            self._mode = mode
        self._changed(FieldsChanged())

    # --- replies, alternatives, branches ------------------------------------------------------
    #
    # A reply is the segments one generation wrote: they share a reply number (Segment.reply),
    # and the reply spans from the first of them to the last, so text typed inside it belongs
    # to it while text typed after it does not. Retry moves the reply's text into its
    # Alternatives and generates a new version under the same number; flipping swaps a kept
    # version in. A branch is a whole other story text. Each of these is one undo step and a
    # Reset (views re-render only the segments that differ; the journal takes a snapshot).

    def new_reply_id(self) -> int:
        """A reply number no segment, version or branch of this story uses."""
        number = self._next_reply
        self._next_reply += 1
        return number

    def reply_span(self, reply: int) -> tuple[int, int] | None:
        """(first segment index, last + 1) of the reply, None when none of it is left.
        Reads no text, so it does not fold a streamed tail (called on every token)."""
        first = next((i for i, s in enumerate(self._segments) if s.reply == reply), None)
        if first is None:
            return None
        last = max(i for i in range(first, len(self._segments))
                   if self._segments[i].reply == reply)
        return first, last + 1

    def reply_text_range(self, reply: int) -> tuple[int, int] | None:
        """Document positions [start, end) of the reply's text."""
        span = self.reply_span(reply)
        if span is None:
            return None
        return self.segment_start(span[0]), self._ends[span[1] - 1]

    def last_reply(self) -> int | None:
        """The reply the story ends with (what Retry replaces), None when it ends otherwise.
        Lengths come from the position index: folding the streamed tail here would copy the
        whole reply on every token (the window asks after each one)."""
        for index in range(len(self._segments) - 1, -1, -1):
            seg = self._segments[index]
            if seg.reply is not None:
                return seg.reply
            if self._ends[index] > self.segment_start(index):
                return None
        return None

    def reply_at(self, position: int) -> int | None:
        """The reply whose text holds `position` (its end included), None outside replies."""
        if not self._segments or not 0 <= position <= len(self):
            return None
        index, offset = self.segment_at(position)
        if offset == 0 and index > 0 and self._segments[index - 1].reply is not None:
            index -= 1  # the cursor right after a reply belongs to it
        seg = self._segments[index]
        if seg.reply is not None:
            return seg.reply
        before = next((s.reply for s in reversed(self._segments[:index])
                       if s.reply is not None), None)
        after = next((s.reply for s in self._segments[index + 1:] if s.reply is not None), None)
        return before if before is not None and before == after else None

    def alternatives(self, reply: int) -> Alternatives | None:
        return self._alts.get(reply)

    @property
    def all_alternatives(self) -> Mapping[int, Alternatives]:
        return dict(self._alts)

    def begin_retry(self, reply: int) -> None:
        """Take the story's last reply out into its alternatives (an undo step of its own,
        which the new version streamed in with `append_segment(..., undo_step=False,
        reply=reply)` joins). `cancel_retry` puts it back when nothing came."""
        if self.last_reply() != reply:
            raise ReplyError("only the reply the story ends with can be retried")
        span = self.reply_span(reply)
        assert span is not None
        self._close_stream()
        self._push_undo()
        first = span[0]
        version = tuple(self._segments[first:])
        old = self._alts.get(reply)
        versions = (old.versions if old else (None,))
        versions = tuple(version if v is None else v for v in versions) + (None,)
        self._alts = {**self._alts, reply: Alternatives(versions)}
        del self._segments[first:]
        self._rebuild_ends()
        self._retry_depth = len(self._undo)
        self._changed(Reset())

    def cancel_retry(self, reply: int) -> bool:
        """The retry wrote nothing (not sent, failed, stopped at once): back to the version
        shown before, as if it never happened. False when the story changed meanwhile."""
        alts = self._alts.get(reply)
        if (self._retry_depth != len(self._undo) or alts is None
                or self.reply_span(reply) is not None or alts.current != len(alts) - 1):
            return False
        self._close_stream()
        self._segments, self._alts, self._branches = self._undo.pop()
        self._segments = list(self._segments)
        self._retry_depth = None
        self._rebuild_ends()
        self._changed(Reset())
        return True

    def show_version(self, reply: int, index: int) -> None:
        """Show version `index` (0-based) of the reply in place of the one shown."""
        alts = self._alts.get(reply)
        span = self.reply_span(reply)
        if alts is None or not 0 <= index < len(alts):
            raise ReplyError("that reply has no such version")
        if span is None:
            raise ReplyError("that reply is no longer in the story")
        if index == alts.current:
            return
        self._close_stream()
        self._push_undo()
        shown = tuple(self._segments[span[0]:span[1]])
        wanted = alts.versions[index]
        assert wanted is not None
        versions: list[tuple[Segment, ...] | None] = [
            shown if v is None else v for v in alts.versions]
        versions[index] = None
        self._alts = {**self._alts, reply: Alternatives(tuple(versions))}
        self._segments[span[0]:span[1]] = list(wanted)
        self._rebuild_ends()
        self._changed(Reset())

    def flip(self, reply: int, step: int) -> bool:
        """The previous (-1) or next (+1) version of the reply; False at either end."""
        alts = self._alts.get(reply)
        if alts is None or not 0 <= alts.current + step < len(alts):
            return False
        self.show_version(reply, alts.current + step)
        return True

    @property
    def branches(self) -> tuple[Branch | None, ...]:
        """Every story text of this document; the None slot is the one shown. Empty while
        there is only one."""
        return self._branches

    @property
    def active_branch(self) -> int:
        return self._branches.index(None) if self._branches else 0

    def branch_from(self, reply: int | None = None) -> int:
        """A new branch holding the story up to and including `reply` (all of it for None),
        shown from now on; the story as it was stays a branch. Returns its index."""
        self._fold_tail()
        end = len(self._segments)
        if reply is not None:
            span = self.reply_span(reply)
            if span is None:
                raise ReplyError("that reply is no longer in the story")
            end = span[1]
        self._close_stream()
        self._push_undo()
        here = Branch(tuple(self._segments), self._alts)
        branches = list(self._branches) or [None]
        branches[branches.index(None)] = here
        branches.append(None)
        self._branches = tuple(branches)
        self._segments = self._segments[:end]
        kept = {s.reply for s in self._segments}
        self._alts = {k: v for k, v in self._alts.items() if k in kept}
        self._rebuild_ends()
        self._changed(Reset())
        return len(branches) - 1

    def switch_branch(self, index: int) -> None:
        """Show branch `index` instead of the current one (which is kept as it is)."""
        if not 0 <= index < len(self._branches) or self._branches[index] is None:
            raise ReplyError(f"there is no other branch {index + 1}")
        self._fold_tail()
        self._close_stream()
        self._push_undo()
        wanted = self._branches[index]
        assert wanted is not None
        branches = list(self._branches)
        branches[branches.index(None)] = Branch(tuple(self._segments), self._alts)
        branches[index] = None
        self._branches = tuple(branches)
        self._segments, self._alts = list(wanted.segments), dict(wanted.alternatives)
        self._rebuild_ends()
        self._changed(Reset())

    def delete_branch(self, index: int) -> None:
        """Drop another branch (undoable); the one shown cannot be deleted."""
        if not 0 <= index < len(self._branches) or self._branches[index] is None:
            raise ReplyError("only another branch can be deleted, not the one shown")
        self._close_stream()
        self._push_undo()
        branches = self._branches[:index] + self._branches[index + 1:]
        self._branches = branches if len(branches) > 1 else ()
        self._changed(Reset())

    # --- undo / redo -----------------------------------------------------------------------

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        """Back to the segments before the newest edit or generation."""
        return self._swap(self._undo, self._redo)

    def redo(self) -> bool:
        return self._swap(self._redo, self._undo)

    def _swap(self, source: list[_Snapshot], target: list[_Snapshot]) -> bool:
        if not source:
            return False
        self._close_stream()
        self._fold_tail()
        target.append(self._snapshot())
        self._segments, self._alts, self._branches = source.pop()
        self._segments = list(self._segments)
        self._retry_depth = None
        self._rebuild_ends()
        self._changed(Reset())
        return True

    def _close_stream(self) -> None:
        """Nothing streams into the current tail any more: the snapshots edits took while it
        grew get its final segments in place of the partial ones they hold."""
        if self._stale:
            self._fold_tail()
            tail = self._segments[len(self._segments) - self._stream_tail:]
            for index, count in self._stale:
                segments, alts, branches = self._undo[index]
                self._undo[index] = (segments[:len(segments) - count] + tail, alts, branches)
            self._stale.clear()
        self._stream_tail = 0

    def _push_undo(self) -> None:
        self._fold_tail()
        self._undo.append(self._snapshot())
        self._redo.clear()
        self._retry_depth = None

    def _snapshot(self) -> _Snapshot:
        return list(self._segments), self._alts, self._branches

    # --- internals -------------------------------------------------------------------------

    def _fold_tail(self) -> None:
        if self._tail:
            last = self._segments[-1]
            self._segments[-1] = replace(last, text=last.text + "".join(self._tail))
            self._tail.clear()

    def _rebuild_ends(self) -> None:
        self._ends, total = [], 0
        for seg in self._segments:
            total += len(seg.text)
            self._ends.append(total)

    # --- our file format -------------------------------------------------------------------

    def copy(self) -> Story:
        """Every part of the document but its undo history, for a worker thread: segments are
        immutable and shared, so this costs lists of references, not the text; edits made while
        the worker runs do not reach it. One place lists the parts, so a new one is not
        forgotten by a caller that copies them by hand."""
        return Story(self.segments, memory=self._memory, authors_note=self._authors_note,
                     world_info=self._world_info, mode=self._mode, extra=dict(self.extra),
                     mode_options=self._mode_options, wi_options=self._wi_options,
                     alternatives=self._alts, branches=self._branches)

    def to_dict(self) -> dict[str, Any]:
        segments = self.segments
        alternatives = _alts_to_list(self._alts)
        out: dict[str, Any] = {
            "format": FORMAT_NAME, "version": 2 if alternatives or self._branches else 1,
            "mode": self._mode,
            "segments": [_segment_to_dict(s) for s in segments],
            "memory": self._memory, "authors_note": asdict(self._authors_note),
            "world_info": [_entry_to_dict(e) for e in self._world_info],
            "mode_options": asdict(self._mode_options), "wi_options": asdict(self._wi_options),
            "extra": self.extra,
        }
        if alternatives:
            out["alternatives"] = alternatives
        if self._branches:
            out["branches"] = [None if b is None else _branch_to_dict(b)
                               for b in self._branches]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Story:
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise StoryFormatError("not a kobold_gui story")
        version = data.get("version")
        if not isinstance(version, int) or version < 1:
            raise StoryFormatError(f"bad format version {version!r}")
        if version > FORMAT_VERSION:
            raise NewerFormat(version)
        try:
            mode = data.get("mode", "story")
            if mode not in _MODES:
                raise StoryFormatError(f"unknown mode {mode!r}")
            return cls(
                (_segment_from_dict(s) for s in data.get("segments", [])),
                memory=_str(data.get("memory", "")),
                authors_note=_typed(AuthorsNote, data.get("authors_note", {})),
                world_info=[_entry_from_dict(e) for e in data.get("world_info", [])],
                mode=mode, extra=dict(data.get("extra", {})),
                mode_options=_mode_options(data.get("mode_options", {})),
                wi_options=_wi_options(data.get("wi_options", {})),
                alternatives=_alts_from_list(data.get("alternatives", [])),
                branches=[None if b is None else _branch_from_dict(b)
                          for b in _list(data.get("branches", []), "branches")])
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, StoryFormatError):
                raise
            raise StoryFormatError(f"damaged story: {exc}") from exc

    def json_pieces(self, separator: str = "\n") -> list[str]:
        """Our format as small pieces, one segment each, joined by `separator` lines: a worker
        thread encoding a big story hands the GIL back between them (a single json.dumps of
        10 MB holds it ~100 ms, freezing the window), and `from_json` reads it back the same
        way. The result is ordinary JSON."""
        return list(self.iter_json_pieces(separator))

    def iter_json_pieces(self, separator: str = "\n") -> Iterator[str]:
        """`json_pieces` made one at a time, for a worker that writes each before it makes the
        next: the write gives the GIL back between two encodings, so the UI thread gets it
        at once (all encoded first, it waited up to a switch interval for each of its
        callbacks: 20+ ms stalls while 10 MB were kept at quit)."""
        data = self.to_dict()
        segments = data.pop("segments")
        head = json.dumps(data, ensure_ascii=False)
        yield head[:-1] + ', "segments": ['
        last = len(segments) - 1
        for number, segment in enumerate(segments):
            comma = "," if number < last else ""
            yield separator + json.dumps(segment, ensure_ascii=False) + comma
        yield separator + "]}"

    def to_json(self) -> bytes:
        return b"".join(piece.encode("utf-8") for piece in self.json_pieces())

    @classmethod
    def from_json(cls, data: bytes) -> Story:
        fast = _from_json_lines(data)
        if fast is not None:
            return cls.from_dict(fast)
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoryFormatError(f"not a kobold_gui story: {exc}") from exc
        return cls.from_dict(parsed)


def _from_json_lines(data: bytes) -> dict[str, Any] | None:
    """The layout `to_json` writes, parsed a line (a segment) at a time; None for any other
    layout (hand-edited, pretty-printed, damaged), which the whole-document parser handles."""
    lines = _split_lines(data)
    if len(lines) < 2 or not lines[0].endswith(b'"segments": [') or lines[-1] != b"]}":
        return None
    body = lines[1:-1]
    if any(not line.endswith(b",") for line in body[:-1]) or (body and body[-1].endswith(b",")):
        return None
    try:
        head = json.loads(lines[0] + b"]}")
        segments = [json.loads(line[:-1] if line.endswith(b",") else line) for line in body]
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(head, dict) or head.get("segments") != []:
        return None
    head["segments"] = segments
    return head


def _split_lines(data: bytes) -> list[bytes]:
    """`data.split(b"\n")` a line at a time: the worker thread that reads a story must hand
    the GIL back often, and one split of a 10 MB story held it for ~18 ms (the window froze
    that long while a big story opened)."""
    lines: list[bytes] = []
    start = 0
    while (end := data.find(b"\n", start)) != -1:
        lines.append(data[start:end])
        start = end + 1
    lines.append(data[start:])
    return lines


def _keystroke(start: int, end: int, new_text: str) -> str | None:
    """"insert" or "delete" when an edit looks like one key of a typing run (one character,
    not a line break: Enter starts a new undo step), else None."""
    if start == end and len(new_text) == 1 and new_text != "\n":
        return "insert"
    if end - start == 1 and not new_text:
        return "delete"
    return None


def _merge_edited(segments: list[Segment]) -> list[Segment]:
    """Drop empty pieces and fuse neighbouring "edited" segments into one."""
    merged: list[Segment] = []
    for seg in segments:
        if not seg.text and seg.author == "edited":
            continue
        if merged and seg.author == "edited" and merged[-1].author == "edited":
            merged[-1] = Segment("edited", merged[-1].text + seg.text)
        else:
            merged.append(seg)
    return merged


def _segment_to_dict(seg: Segment) -> dict[str, Any]:
    out: dict[str, Any] = {"author": seg.author, "text": seg.text}
    if seg.meta is not None:
        out["meta"] = asdict(seg.meta)
    if seg.reply is not None:
        out["reply"] = seg.reply
    return out


def _segment_from_dict(data: Any) -> Segment:
    if data.get("author") not in _AUTHORS:
        raise StoryFormatError(f"unknown segment author {data.get('author')!r}")
    meta = data.get("meta")
    reply = data.get("reply")
    if reply is not None:
        reply = _reply_number(reply)
    return Segment(data["author"], _str(data.get("text", "")),
                   None if meta is None else _typed(GenerationMeta, meta), reply)


def _reply_number(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StoryFormatError(f"a reply number must be a whole number ≥ 0, not {value!r}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise StoryFormatError(f"{what} must be a list")
    return value


def _reply_ids(segments: Iterable[Segment], alts: Mapping[int, Alternatives],
               branches: Iterable[Branch | None]) -> Iterable[int]:
    """Every reply number in use, in the story, its versions and its branches."""
    for seg in segments:
        if seg.reply is not None:
            yield seg.reply
    for number, versions in alts.items():
        yield number
        for version in versions.versions:
            yield from _reply_ids(version or (), {}, ())
    for branch in branches:
        if branch is not None:
            yield from _reply_ids(branch.segments, branch.alternatives, ())


def _alts_to_list(alts: Mapping[int, Alternatives]) -> list[dict[str, Any]]:
    """Every reply's versions, in reply order; also those of a reply that has no text in the
    story just now (a retry that has not written yet, a deleted reply), so nothing is lost."""
    return [{"reply": number,
             "versions": [None if v is None else [_segment_to_dict(s) for s in v]
                          for v in alts[number].versions]}
            for number in sorted(alts)]


def _alts_from_list(data: Any) -> dict[int, Alternatives]:
    out: dict[int, Alternatives] = {}
    for item in _list(data, "alternatives"):
        if not isinstance(item, dict):
            raise StoryFormatError("an alternatives entry must be an object")
        versions = tuple(None if v is None else tuple(_segment_from_dict(s)
                                                      for s in _list(v, "a version"))
                         for v in _list(item.get("versions"), "versions"))
        if versions.count(None) != 1:
            raise StoryFormatError("a reply's versions must mark the one shown (null) once")
        out[_reply_number(item.get("reply"))] = Alternatives(versions)
    return out


def _branch_to_dict(branch: Branch) -> dict[str, Any]:
    return {"name": branch.name,
            "segments": [_segment_to_dict(s) for s in branch.segments],
            "alternatives": _alts_to_list(branch.alternatives)}


def _branch_from_dict(data: Any) -> Branch:
    if not isinstance(data, dict):
        raise StoryFormatError("a branch must be an object")
    return Branch(tuple(_segment_from_dict(s) for s in _list(data.get("segments", []),
                                                             "a branch's segments")),
                  _alts_from_list(data.get("alternatives", [])), _str(data.get("name", "")))


def _entry_to_dict(entry: WorldInfoEntry) -> dict[str, Any]:
    out = asdict(entry)
    for key in ("keys", "secondary_keys", "anti_keys"):
        out[key] = list(out[key])
    return out


def _entry_from_dict(data: Any) -> WorldInfoEntry:
    entry = _typed(WorldInfoEntry, data)
    if not isinstance(entry.extra, dict):
        raise StoryFormatError("a world-info entry's extra must be an object")
    return replace(entry, keys=tuple(map(_str, entry.keys)),
                   secondary_keys=tuple(map(_str, entry.secondary_keys)),
                   anti_keys=tuple(map(_str, entry.anti_keys)))


def _mode_options(data: Any) -> ModeOptions:
    options: ModeOptions = _typed(ModeOptions, data)
    if options.placeholders not in ("auto", "literal"):
        raise StoryFormatError(f"unknown placeholder choice {options.placeholders!r}")
    if not isinstance(options.custom_template, dict) or not all(
            isinstance(v, str) for v in options.custom_template.values()):
        raise StoryFormatError("a custom instruct template must map tag names to text")
    for name in ("instruct_template", "system_prompt", "user_name", "bot_name"):
        _str(getattr(options, name))
    return options


def _wi_options(data: Any) -> WorldInfoOptions:
    options: WorldInfoOptions = _typed(WorldInfoOptions, data)
    if options.insert_location not in get_args(InsertLocation):
        raise StoryFormatError(f"unknown world-info location {options.insert_location!r}")
    if not isinstance(options.search_depth, int) or options.search_depth < 0:
        raise StoryFormatError("the world-info search depth must be a whole number ≥ 0")
    return options


def _typed(cls: Any, data: Any) -> Any:
    """Build a dataclass from a dict, ignoring unknown keys (a v1 reader of a v1 file)."""
    if not isinstance(data, dict):
        raise StoryFormatError(f"{cls.__name__} must be an object, not {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise StoryFormatError(f"expected text, got {type(value).__name__}")
    return value


__all__ = [
    "Alternatives", "Author", "AuthorsNote", "Branch", "FieldsChanged", "GenerationMeta",
    "InsertLocation", "Mode", "ReplyError",
    "ModeOptions", "NewerFormat", "WorldInfoOptions",
    "RangeEdited", "Reset", "Segment", "SegmentAppended", "SegmentFinished", "Story",
    "StoryEvent", "StoryFormatError", "TextAppended", "WorldInfoEntry",
]
