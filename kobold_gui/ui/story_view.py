"""StoryView: the editable document view of a `Story` (core/story.py).

The story is the single source of the text; the view renders it and follows its change events,
so a streamed token costs one small insert at the end, an edit touches its range, and an undo
(a `Reset`) re-renders only the segments that differ (segments are immutable and shared between
undo snapshots, so the unchanged prefix and suffix are found by identity).

Two kinds of things are shown that are not story text, and both stay outside story positions:
- view-only block breaks: Qt re-lays out a whole paragraph (QTextBlock) on every insert, so a
  200 KB paragraph without newlines costs 30 ms per token. The view splits long paragraphs into
  blocks of a few KB (a paragraph being streamed exactly where Qt wrapped its line, so the
  break does not show; a loaded one at a space); the breaks live in a sorted list of story
  positions and the position mapping (`PositionMap`) skips them, so plain text, copy and
  edits never see them;
- marks ("[generation failed: …]"): notes after the end of the story, one block each.

Two more costs are kept flat: set_story shows a long story over several event-loop turns
(RENDER_CHUNK), and streamed text is written afresh now and then (RECYCLE_CHARS) so Qt drops
the layouts it would otherwise keep for every paragraph it ever laid out. Qt also lays out
paragraphs nobody sees (the last screenful, to size the scroll bar), so neither of those lets
it do that at every step (RENDER_RESIZE_EVERY, the viewport's updates off while recycling).
A reader scrolling through a long story has every paragraph shown laid out too: once enough
was shown, a sweep over later event-loop turns writes afresh those far from the screen
(READ_RELEASE_CHARS).

User edits (typing, paste, cut, drop, IME) are applied by Qt first and then reported as
`story.edit(start, end, text)` in story positions (Python characters; Qt counts UTF-16 units,
an emoji is two). An edit that is not allowed (the reply still streaming, a mark) is put back
from the story, after the signal that reported it (changing the document inside Qt's own change
notification is not safe), and `edit_refused` says why.
"""

from __future__ import annotations

import re
import time
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QTextBlock,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QPlainTextDocumentLayout, QPlainTextEdit, QWidget

from ..core.memory import release_freed_memory
from ..core.story import (
    RangeEdited,
    Reset,
    Segment,
    SegmentAppended,
    SegmentFinished,
    Story,
    StoryEvent,
    TextAppended,
)
from .reading import READING_WIDTH, mix, reading_font
from .turn_decor import TurnDecorations

#: A paragraph longer than this (characters) gets a view-only break at its next space ...
SOFT_BLOCK = 2000
#: ... or, with no space in sight (CJK, a URL), here regardless.
HARD_BLOCK = 4000
#: The paragraph being streamed into gets its view-only break (where Qt wrapped its last line)
#: once it is this long: Qt lays out the whole paragraph again on every token, so its length
#: sets the cost of each one. At 2000 a 50 tok/s stream into a long paragraph took 17 % of a
#: core, at 600 13 % (bench/bench_story_view.py, same run). Such a break shows (a line ending
#: early) only if the reading column gets narrower later.
STREAM_BLOCK = 600
#: set_story shows this many characters at once and the rest over the next event-loop turns,
#: so opening a 10 MB story never freezes the window (Qt inserts ~1 MB in 60-100 ms): pieces of
#: RENDER_CHUNK characters until RENDER_TURN_BUDGET seconds of the turn are used, so a slow
#: machine renders less per turn instead of dropping frames
RENDER_CHUNK = 30_000
#: ... or fewer, as many as the time left in the turn allows at the pace the last pieces were
#: written (a slow machine took 9-20 ms for 30 000, so a turn overran its budget by a piece)
RENDER_MIN_CHUNK = 2_000
#: ... but the turn that set_story runs in writes at most this many (a tall screen of small
#: type): that turn also swaps the document and paints the first screen, and 30 000 took
#: 7-9 ms of it on a slow machine
RENDER_FIRST = 10_000
RENDER_TURN_BUDGET = 0.006
RENDER_PAUSE_MS = 10
#: ... with the scroll bar told the new size every this many characters: each time, Qt lays
#: out the last screenful to find the scroll range, and keeps those layouts (see RECYCLE_CHARS)
#: though nobody sees them once the rest follows; after every turn that was 30 MB of layouts
#: for a 10 MB story
RENDER_RESIZE_EVERY = 1_000_000
#: a document bigger than this (characters) is swapped for a fresh one, not cleared
RETIRE_ABOVE = 200_000
RETIRE_PIECE = 30_000
#: Qt keeps ~40 bytes a character for every paragraph it has laid out, for as long as the
#: paragraph exists (clearing a layout frees nothing). Every this many streamed characters the
#: view writes the older streamed text afresh, so those paragraphs are laid out again only when
#: painted: streaming 2 MB then adds ~45 MB instead of ~85 MB (bench/bench_story_view.py).
RECYCLE_CHARS = 64_000
#: ... except the newest this many characters, which are on screen while the reader follows.
RECYCLE_KEEP = 8_000
#: A reader scrolling through a long story has Qt lay out every paragraph shown, and keep the
#: layouts (~3 KB a paragraph: reading through a 10 MB story would add ~400 MB). Once this many
#: characters were newly shown, the view looks for laid-out paragraphs far from the screen ...
READ_RELEASE_CHARS = 200_000
#: ... (further than this many characters) and writes them afresh, as RECYCLE_CHARS does,
READ_KEEP = 20_000
#: ... looking at this many blocks per event-loop turn, and writing at most this many
#: characters per turn, once no text has streamed in for READ_QUIET seconds.
SWEEP_BLOCKS = 1500
SWEEP_WRITE = 32_000
READ_QUIET = 1.0
#: Qt turns "\r\n" into a single block separator; the view shows a carriage return as this
#: one-unit symbol so story and view positions stay in step.
CR_SHOWN = "\u240d"
PARAGRAPH_SEP = "\u2029"
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_FOLLOW_SLACK = 4  # pixels: "at the bottom" even when a fraction of a line is left

LOCKED_REASON = "The reply is still being written: wait for it to finish or stop it first."
MARK_REASON = "Notes from Kobold GUI are not part of the story and cannot be edited."


def plan_breaks(text: str, run: int, soft: int | None = None,
                hard: int | None = None) -> list[int]:
    """Offsets in `text` where a view-only break keeps every paragraph under `hard` characters
    (at a space once past `soft`), given `run` characters already in the paragraph before it."""
    soft = SOFT_BLOCK if soft is None else soft
    hard = HARD_BLOCK if hard is None else hard
    breaks: list[int] = []
    pos, n = 0, len(text)
    while pos < n:
        newline = text.find("\n", pos)
        line_end = n if newline == -1 else newline
        while run + (line_end - pos) > soft:
            wanted = pos + max(soft - run, 0)
            space = text.find(" ", max(wanted - 1, pos), line_end)
            if space != -1 and run + (space + 1 - pos) <= hard:
                cut = space + 1
            elif run + (line_end - pos) > hard:
                cut = pos + max(hard - run, 0)
            else:
                break
            if cut == pos and run == 0:
                cut = pos + 1  # never an empty block
            if cut >= line_end and newline != -1:
                break  # the story's own newline ends this paragraph
            breaks.append(cut)
            pos, run = cut, 0
        if newline == -1:
            break
        pos, run = newline + 1, 0
    return breaks


class PositionMap:
    """Story positions (Python characters) <-> view positions (Qt UTF-16 units, view-only
    breaks included). O(log n): two sorted sequences, astral characters and breaks, in story
    positions. A break at story position b sits between story characters b-1 and b."""

    def __init__(self) -> None:
        #: 8 bytes an emoji, not 36 as a list of ints: a model's prose can have one every
        #: 50 characters, ~200 000 in a 10 MB story
        self.astral = array("q")
        self.breaks: list[int] = []

    def clear(self) -> None:
        del self.astral[:]
        self.breaks.clear()

    def view_hi(self, p: int) -> int:
        """View position of story position `p`, after any breaks at `p`."""
        return p + bisect_left(self.astral, p) + bisect_right(self.breaks, p)

    def view_lo(self, p: int) -> int:
        """View position of story position `p`, before any breaks at `p`."""
        return p + bisect_left(self.astral, p) + bisect_left(self.breaks, p)

    def break_view_position(self, index: int) -> int:
        b = self.breaks[index]
        return b + bisect_left(self.astral, b) + index

    def story_of(self, v: int, length: int) -> tuple[int, bool]:
        """(story position, exact) of view position `v` in a story of `length` characters.
        Not exact: `v` falls inside an emoji's surrogate pair (rounded down) or past the end."""
        lo, hi = 0, length
        while lo < hi:  # the largest p with view_lo(p) <= v
            mid = (lo + hi + 1) // 2
            if self.view_lo(mid) <= v:
                lo = mid
            else:
                hi = mid - 1
        return lo, self.view_lo(lo) <= v <= self.view_hi(lo)

    def replace_astral(self, start: int, end: int, new_text: str) -> None:
        """Story range [start, end) became `new_text`: its astral characters replace those
        that were there, the ones after it shift."""
        delta = len(new_text) - (end - start)
        a0, a1 = bisect_left(self.astral, start), bisect_left(self.astral, end)
        after = self.astral[a1:]
        if delta:
            after = array("q", [a + delta for a in after])
        del self.astral[a0:]
        self.astral.extend(start + m.start() for m in _ASTRAL.finditer(new_text))
        self.astral.extend(after)

    def replaced(self, start: int, end: int, new_text: str,
                 new_breaks: Iterable[int] = ()) -> None:
        """Story range [start, end) became `new_text`: drop what was inside, shift what follows,
        add the astral characters of the new text and `new_breaks` (story positions). Breaks
        at `start` stay before the new text, breaks at `end` (> start) move after it."""
        delta = len(new_text) - (end - start)
        self.replace_astral(start, end, new_text)
        b0 = bisect_right(self.breaks, start)
        b1 = max(b0, bisect_left(self.breaks, end))
        self.breaks[b0:] = sorted(new_breaks) + [b + delta for b in self.breaks[b1:]]


class StoryView(QPlainTextEdit):
    """The story, editable; see the module docstring for why it is built this way."""

    edit_refused = Signal(str)

    def __init__(self, parent: QWidget | None = None, story: Story | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("storyView")
        self.setUndoRedoEnabled(False)  # undo is the story's (window-level Edit actions)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setFrameShape(QPlainTextEdit.Shape.NoFrame)
        self.setPlaceholderText("The story appears here; write in it freely.\n\n"
                                "Write a prompt below and press Ctrl+Enter.")
        self.document().setDocumentMargin(22)
        self.set_font_kind("serif")
        self._map = PositionMap()
        self._segs: list[Segment] = []  # the story's segment objects as rendered (no copies)
        self._lens: list[int] = []  # their rendered lengths (the last one grows while streaming)
        self._length = 0  # story characters rendered (all of them unless _behind)
        self._behind = False  # set_story still rendering the rest of a long story
        self._sized_at = 0  # story characters rendered when the scroll bar last got the size
        self._streamed = 0  # characters appended since the last layout recycling
        self._appended_at = 0.0  # time.monotonic() of the last streamed text
        self._changes = 0  # document changes, so a sweep knows when its positions are stale
        self._shown = 0  # characters newly shown since the last sweep (roughly)
        self._shown_top = 0  # view position of the top block at the last paint
        self._sweep: _Sweep | None = None
        self._marks: list[str] = []
        self._locked_from: int | None = None
        self._tail_format = QTextCharFormat()
        self._rendering = 0  # >0 while the view itself changes the document
        self._doc_len = 0  # view units, kept to read Qt's change reports
        self._fixes: list[_PutBack] = []  # refused edits to put back (see _flush)
        self._needs_full_render = False
        self._formats_pending: list[tuple[int, int]] = []  # story ranges to give "edited" format
        self._echo = False
        self._cursor = QTextCursor(self.document())
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(0)
        self._flush_timer.timeout.connect(self._flush)
        self._render_pace = 0.0  # characters a second the last render piece was written at
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        # not 0: a zero timer re-armed from its own slot runs again before other timers (the
        # asyncio loop's) get their turn; this leaves each frame about half free
        self._render_timer.setInterval(RENDER_PAUSE_MS)
        self._render_timer.timeout.connect(self._render_more)
        #: documents replaced by a fresh one, emptied a piece per turn (see _swap_document)
        self._retired: list[QTextDocument] = []
        self._retire_timer = QTimer(self)
        self._retire_timer.setSingleShot(True)
        self._retire_timer.setInterval(RENDER_PAUSE_MS)
        self._retire_timer.timeout.connect(self._retire_some)
        self._sweep_timer = QTimer(self)
        self._sweep_timer.setSingleShot(True)
        self._sweep_timer.setInterval(RENDER_PAUSE_MS)
        self._sweep_timer.timeout.connect(self._sweep_some)
        self._update_formats()
        self.document().contentsChange.connect(self._on_contents_change)
        self._story = story if story is not None else Story()
        self._unsubscribe = self._story.subscribe(self._on_story_event)
        #: turn labels and collapsed thinking, outside the story (ui/turn_decor.py)
        self.decor = TurnDecorations(self)
        self._render_all()

    # ------------------------------------------------------------------ the contract
    def set_story(self, story: Story) -> None:
        """Render `story` and follow its events (the previous one, its lock and its marks are
        let go)."""
        self._unsubscribe()
        self._story = story
        self._unsubscribe = story.subscribe(self._on_story_event)
        self._locked_from = None
        self._marks.clear()
        self._render_all()

    def story(self) -> Story:
        return self._story

    def set_locked_from(self, position: int | None) -> None:
        """Story positions >= `position` are read-only (the reply being written); None: none.
        Edits before it shift it, so it keeps marking the start of the reply."""
        self._locked_from = position

    def locked_from(self) -> int | None:
        return self._locked_from

    def plain_text(self) -> str:
        """The story text as the view shows it (equals story.text; copies the document)."""
        self._flush()
        self.finish_rendering()
        shown = self._view_slice(0, self._map.view_hi(self._length))
        pieces, last = [], 0
        for index, b in enumerate(self._map.breaks):
            at = b + index  # Python index of the break in the shown text (no surrogates there)
            pieces.append(shown[last:at])
            last = at + 1
        pieces.append(shown[last:])
        return _from_view("".join(pieces))

    def shown_text(self) -> str:
        """Everything shown, marks included (view-only breaks are not text)."""
        return self.plain_text() + "".join("\n" + m for m in self._marks)

    def add_mark(self, text: str) -> None:
        """A note on a line of its own after the story, e.g. "[generation failed: …]": never
        story text, not editable; the stream goes on before it; removed by clear_marks()."""
        self._flush()
        text = text.replace("\n", " ")
        self._marks.append(text)
        with self._changing():
            self._cursor.movePosition(QTextCursor.MoveOperation.End)
            self._cursor.insertText(PARAGRAPH_SEP + text, self.mark_format)

    def marks(self) -> list[str]:
        return list(self._marks)

    def cursor_story_position(self) -> int:
        """The story position of the text cursor (marks and view-only breaks left out)."""
        return self._map.story_of(self.textCursor().position(), self._length)[0]

    def clear_marks(self) -> None:
        self._flush()
        if not self._marks:
            return
        self._marks.clear()
        with self._changing():
            self._select(self._map.view_hi(self._length), self._doc_end())
            self._cursor.removeSelectedText()

    def set_thinking_shown(self, shown: bool) -> None:
        """Show thinking blocks in full (True) or collapsed to one line each (False)."""
        self.decor.set_thinking_shown(shown)

    def set_font_kind(self, kind: str, point_size: float = 12.5) -> None:
        """'serif' for prose, 'mono' for code and chat logs."""
        self.setFont(reading_font(kind, point_size))

    # ------------------------------------------------------------------ appearance
    def _update_formats(self) -> None:
        pal = self.palette()
        text, base = pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base)
        link = pal.color(QPalette.ColorRole.Link)
        self.model_format = QTextCharFormat()
        self.model_format.setForeground(text)
        self.model_format.setToolTip("Written by the model")
        self.user_format = QTextCharFormat()
        self.user_format.setForeground(mix(text, base, 0.42))
        self.user_format.setToolTip("Written by you")
        self.edited_format = QTextCharFormat()
        self.edited_format.setForeground(mix(text, link, 0.55))
        self.edited_format.setToolTip("Edited by you")
        self.recovered_format = QTextCharFormat()
        self.recovered_format.setForeground(text)
        self.recovered_format.setBackground(mix(base, QColor("#f2b441"), 0.22))
        self.recovered_format.setToolTip("Recovered from the server after the stream broke")
        self.mark_format = QTextCharFormat()
        self.mark_format.setForeground(mix(text, base, 0.4))
        self.mark_format.setFontItalic(True)
        self.mark_format.setToolTip("A note from Kobold GUI, not part of the story")

    def format_for(self, segment: Segment) -> QTextCharFormat:
        """The character format a segment is shown in: by author, with its details as tooltip."""
        fmt = QTextCharFormat({"user": self.user_format, "model": self.model_format,
                               "edited": self.edited_format,
                               "recovered": self.recovered_format}[segment.author])
        meta = segment.meta
        if meta is not None:
            details = [d for d in (meta.model,
                                   None if meta.finish_reason in (None, "stop")
                                   else meta.finish_reason) if d]
            if details:
                fmt.setToolTip(f"{fmt.toolTip()} ({', '.join(details)})")
        return fmt

    def _reapply_formats(self) -> None:
        start = 0
        with self._changing():
            for seg, length in zip(self._segs, self._lens, strict=True):
                end = min(start + length, self._length)
                if start < end:
                    self._select(self._map.view_hi(start), self._map.view_lo(end))
                    self._cursor.setCharFormat(self.format_for(seg))
                start += length
            if self._marks:
                self._select(self._map.view_hi(self._length), self._doc_end())
                self._cursor.setCharFormat(self.mark_format)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        """Keep a comfortable reading column in a wide window (measure the widget: the
        viewport's resizes arrive here too)."""
        self.update_margins()
        super().resizeEvent(event)
        self.decor.place_gutter()

    def update_margins(self) -> None:
        """Centre the reading column; leave room on the left for turn labels when shown."""
        side = max(0, (self.width() - READING_WIDTH) // 2)
        left = max(side, self.decor.gutter_width())
        if (self.viewportMargins().left(), self.viewportMargins().right()) != (left, side):
            self.setViewportMargins(left, 0, side, 0)
        self.decor.place_gutter()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        if self.decor.spans:
            self.decor.paint_summaries()
        top = self.firstVisibleBlock().position()
        if top != self._shown_top:  # a new place shown: Qt laid it out, and keeps that
            self._shown += min(abs(top - self._shown_top), 2 * SOFT_BLOCK)
            self._shown_top = top
            if self._shown >= READ_RELEASE_CHARS and self._sweep is None:
                self._shown = 0
                self._sweep = _Sweep(self.document().firstBlock(), self._changes)
                self._sweep_timer.start()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self.decor.spans and self.decor.mouse_press(event):
            return
        super().mousePressEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._update_formats()
            self._flush()
            self._reapply_formats()

    # ------------------------------------------------------------------ keys and clipboard
    def event(self, event: QEvent) -> bool:
        """Let the window's Undo/Redo actions have Ctrl+Z, Ctrl+Shift+Z and Ctrl+Y: a text
        edit normally claims them (ShortcutOverride) for its own undo, which is off here."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and _is_undo_key(event):
            event.ignore()
            return False
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if _is_undo_key(event):
            event.ignore()  # never undo inside the widget
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) \
                and event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            # Shift+Enter would insert a line separator (U+2028): the story wants a newline
            self.textCursor().insertText("\n")
            return
        super().keyPressEvent(event)

    def createMimeDataFromSelection(self) -> QMimeData:  # noqa: N802 (Qt override)
        """Copy and drag give the story's text of the selection: no view-only breaks, no marks.

        Whoever asked (the clipboard, a drag) deletes the object returned, in C++; one made in
        Python would be deleted twice (a crash when the clipboard goes), so it is Qt's own,
        made for an empty selection (then it holds no rich text either) and given our text."""
        self._flush()
        cursor = self.textCursor()
        start, _ = self._map.story_of(cursor.selectionStart(), self._length)
        end, exact = self._map.story_of(cursor.selectionEnd(), self._length)
        if not exact and end < self._length:
            end += 1
        collapsed = QTextCursor(cursor)
        collapsed.clearSelection()
        blocked = self.blockSignals(True)
        try:
            self.setTextCursor(collapsed)
            data = super().createMimeDataFromSelection()
        finally:
            self.setTextCursor(cursor)
            self.blockSignals(blocked)
        data.setText(self._story_slice(start, end))
        return data

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 (Qt override)
        return source.hasText()

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 (Qt override)
        """Paste and drop insert plain text only (no formats, images or HTML)."""
        if source.hasText():
            self.textCursor().insertText(source.text())

    # ------------------------------------------------------------------ story events
    def _on_story_event(self, event: StoryEvent) -> None:
        self._follow_story(event)
        self.decor.story_event(event)

    def _follow_story(self, event: StoryEvent) -> None:
        if isinstance(event, TextAppended):
            self._on_text_appended(event)
            return
        if not self._echo and self._flush():
            return  # rendered afresh from the story, which already includes this event
        if isinstance(event, SegmentAppended):
            self._on_segment_appended(event.index)
        elif isinstance(event, RangeEdited):
            self._on_range_edited(event)
        elif isinstance(event, SegmentFinished):
            self._on_segment_finished(event.index)
        elif isinstance(event, Reset):
            self._on_reset()

    def _on_text_appended(self, event: TextAppended) -> None:
        if (self._fixes or self._needs_full_render) and self._flush():
            return
        if self._behind:
            self._lens[-1] += len(event.text)  # rendered with the rest of the story
            return
        if event.position != self._length or event.index != len(self._segs) - 1:
            self._render_all()  # out of step (should not happen): the story is the truth
            return
        self._lens[-1] += len(event.text)
        self._insert_at_end(event.text, self._tail_format)

    def _on_segment_appended(self, index: int) -> None:
        if index != len(self._segs):
            self._render_all()
            return
        seg = self._story.segment(index)
        self._segs.append(seg)
        self._lens.append(len(seg.text))
        self._tail_format = self.format_for(seg)
        if not self._behind:
            self._insert_at_end(seg.text, self._tail_format)

    def _on_segment_finished(self, index: int) -> None:
        if not 0 <= index < len(self._segs):
            return
        old, seg = self._segs[index], self._story.segment(index)
        self._segs[index] = seg
        if index == len(self._segs) - 1:
            self._tail_format = self.format_for(seg)
        if self.format_for(old).toolTip() != self.format_for(seg).toolTip():
            start = sum(self._lens[:index])
            end = min(start + self._lens[index], self._length)
            if start < end:
                with self._changing():
                    self._select(self._map.view_hi(start), self._map.view_lo(end))
                    self._cursor.setCharFormat(self.format_for(seg))

    def _on_range_edited(self, event: RangeEdited) -> None:
        start, end, text = event.start, event.end, event.new_text
        delta = len(text) - (end - start)
        if self._locked_from is not None and end <= self._locked_from \
                and start < self._locked_from:
            self._locked_from += delta
        if not self._echo:
            if start <= self._length:  # (beyond it: rendered with the rest of the story)
                self._replace(start, min(end, self._length), [(text, self.edited_format)])
        else:
            self._length += delta
            self._formats_pending.append((start, start + len(text)))
            self._flush_timer.start()
        self._resync_segments()

    def _on_reset(self) -> None:
        """Undo, redo, load: re-render only what differs. Segments shared with the previous
        state (same objects) are skipped at both ends; inside the rest, text that reads the
        same and is shown the same way (an undone edit in a long segment) is kept too."""
        if self._behind:
            self._render_all()
            return
        new = self._story.segments
        old, lens = self._segs, self._lens
        limit = min(len(old), len(new))
        k = 0
        while k < limit and old[k] is new[k] and lens[k] == len(new[k].text):
            k += 1
        m = 0
        while m < limit - k and old[-1 - m] is new[-1 - m] \
                and lens[-1 - m] == len(new[-1 - m].text):
            m += 1
        start = sum(lens[:k])
        end = self._length - sum(lens[len(lens) - m:])
        old_mid = [(_known_text(seg, n), _look(seg)) for seg, n in
                   zip(old[k:len(old) - m], lens[k:len(lens) - m], strict=True) if n]
        new_mid = [(seg.text, _look(seg)) for seg in new[k:len(new) - m] if seg.text]
        new_len = sum(len(t) for t, _ in new_mid)
        head = common_head(old_mid, new_mid)
        room = min(end - start, new_len) - head
        tail = min(room, common_head(_reversed(old_mid), _reversed(new_mid)))
        segments = [seg for seg in new[k:len(new) - m] if seg.text]
        pieces: list[tuple[str, QTextCharFormat]] = []
        offset = 0
        for seg in segments:  # the new text in [head, new_len - tail), by segment
            a, b = max(head - offset, 0), min(new_len - tail - offset, len(seg.text))
            if a < b:
                pieces.append((seg.text[a:b], self.format_for(seg)))
            offset += len(seg.text)
        self._replace(start + head, end - tail, pieces)
        self._resync_segments()

    def _resync_segments(self) -> None:
        self._segs = list(self._story.segments)
        self._lens = [len(s.text) for s in self._segs]
        self._tail_format = self.format_for(self._segs[-1]) if self._segs else QTextCharFormat()

    # ------------------------------------------------------------------ rendering
    def _render_all(self) -> None:
        self._fixes.clear()
        self._formats_pending.clear()
        self._needs_full_render = False
        with self._changing():
            if self.document().characterCount() > RETIRE_ABOVE:
                self._swap_document()
            else:
                self.document().clear()
            self._map.clear()
            self._cursor = QTextCursor(self.document())
            self._resync_segments()
            self._length = self._sized_at = 0
            self._write_marks()
        self._render_more(limit=RENDER_FIRST)
        self.decor.schedule()

    def _swap_document(self) -> None:
        """Show a fresh document and empty the old one piece by piece on later turns: clearing
        a laid-out 10 MB document in one go blocks the window for ~30 ms, while removing it
        in pieces once it is no longer shown costs ~1 ms a piece."""
        old = self.document()
        old.contentsChange.disconnect(self._on_contents_change)
        fresh = QTextDocument(self)
        fresh.setDocumentLayout(QPlainTextDocumentLayout(fresh))
        fresh.setDefaultFont(old.defaultFont())
        fresh.setDocumentMargin(old.documentMargin())
        fresh.setUndoRedoEnabled(False)
        old.setParent(None)  # ours to empty now: setDocument would delete it at once
        self.setDocument(fresh)
        fresh.contentsChange.connect(self._on_contents_change)
        self._retired.append(old)
        if not self._retire_timer.isActive():
            self._retire_timer.start()

    def _retire_some(self) -> None:
        if not self._retired:
            return
        doc = self._retired[0]
        if doc.characterCount() > 1:
            cursor = QTextCursor(doc)
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.setPosition(max(0, doc.characterCount() - 1 - RETIRE_PIECE),
                               QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        else:
            self._retired.pop(0).deleteLater()
        if self._retired:
            self._retire_timer.start()

    def _render_more(self, everything: bool = False, limit: int | None = None) -> None:
        """Show the next chunk of a story that set_story (or an undo of a load) has not
        shown yet (at most `limit` characters); the rest follows on the next event-loop
        turn."""
        if (self._fixes or self._needs_full_render) and self._flush():
            return
        started = time.perf_counter()
        layout = self.document().documentLayout()
        # text written below the bottom of the screen changes nothing on it: no repaint
        # (painting the screen after every turn was a third of a slow machine's turn)
        shown = (self._map.view_hi(self._length)
                 <= self.cursorForPosition(self.viewport().rect().bottomRight()).position())
        quiet = layout.blockSignals(True)
        try:
            while True:
                size = min(RENDER_CHUNK, limit or RENDER_CHUNK)
                if self._render_pace and not everything:
                    left = RENDER_TURN_BUDGET - (time.perf_counter() - started)
                    size = max(RENDER_MIN_CHUNK, min(size, int(self._render_pace * left)))
                end = len(self._story) if everything else min(len(self._story),
                                                               self._length + size)
                piece_started = time.perf_counter()
                with self._changing():
                    self._cursor.setPosition(self._map.view_hi(self._length))
                    full, breaks = self._write(self._length, self._pieces(self._length, end))
                    self._map.replaced(self._length, self._length, full, breaks)
                    self._length += len(full)
                took = time.perf_counter() - piece_started
                if len(full) >= RENDER_MIN_CHUNK and took > 0:
                    self._render_pace = len(full) / took
                if (everything or not full or self._length >= len(self._story)
                        or limit is not None
                        or time.perf_counter() - started >= RENDER_TURN_BUDGET):
                    break
        finally:
            layout.blockSignals(quiet)
        self._behind = self._length < len(self._story)
        if not quiet:  # what the blocked signals would have done, once
            if not self._behind or self._length - self._sized_at >= RENDER_RESIZE_EVERY:
                self._sized_at = self._length
                layout.documentSizeChanged.emit(layout.documentSize())
            if shown:
                self.viewport().update()
        if self._behind:
            self._render_timer.start()
        else:
            self._render_timer.stop()
            self.decor.rendered()

    def writing(self) -> bool:
        """True while the document change under way is the view's own (a streamed token,
        a render), so a cursor moved now was carried along, not moved by the user."""
        return bool(self._rendering)

    def rendering(self) -> bool:
        """True while set_story is still showing the rest of a long story."""
        return self._behind

    def finish_rendering(self) -> None:
        """Show all of a long story now (set_story shows it over several event-loop turns)."""
        if self._behind:
            self._render_more(everything=True)

    def _write_marks(self) -> None:
        for mark in self._marks:
            self._cursor.insertText(PARAGRAPH_SEP + mark, self.mark_format)

    def _insert_at_end(self, text: str, fmt: QTextCharFormat) -> None:
        """The streaming hot path: O(len(text)), wherever the user's cursor is."""
        if not text:
            return
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - _FOLLOW_SLACK
        with self._changing():
            self._cursor.setPosition(self._map.view_hi(self._length))
            full, breaks = self._write(self._length, [(text, fmt)], soft=HARD_BLOCK)
            self._map.replaced(self._length, self._length, full, breaks)
            self._length += len(full)
            self._break_at_wrap()
        self._streamed += len(text)
        self._appended_at = time.monotonic()
        if self._streamed >= RECYCLE_CHARS:
            self._streamed = 0
            self._recycle_layouts()
        if follow:
            bar.setValue(bar.maximum())

    def _recycle_layouts(self) -> None:
        """Write the text streamed before the newest RECYCLE_KEEP characters afresh (same
        text, formats and breaks; the map does not change) unless the reader is looking at it."""
        doc = self.document()
        top = self.firstVisibleBlock()
        bottom = self.cursorForPosition(self.viewport().rect().bottomRight()).position()
        end = doc.findBlock(self._map.view_hi(max(0, self._length - RECYCLE_KEEP)))
        start = doc.findBlock(self._map.view_hi(max(0, self._length - RECYCLE_KEEP
                                                        - 2 * RECYCLE_CHARS)))
        if start.position() <= bottom and top.position() <= end.position():
            end = top  # never what the reader is looking at: only above it
        self._write_afresh(start, end, top)
        release_freed_memory()  # the old layouts' memory, back to the system

    def _write_afresh(self, start: QTextBlock, end: QTextBlock, top: QTextBlock) -> None:
        """Write blocks [start, end) again (same text, formats and breaks; the map does not
        change), so the paragraphs Qt laid out there go with their layouts; `top`: the
        reader's first block, not among them. The reader's selection and place stay."""
        doc = self.document()
        # blocks [start, end) are written again, but not the separator before `end`: the
        # block objects around them (the reader's top one) stay, with their layouts
        va, vb = start.position(), end.position() - 1
        if vb <= va:
            return
        s, s_exact = self._map.story_of(va, self._length)
        e, e_exact = self._map.story_of(vb, self._length)
        if not (s_exact and e_exact) or e <= s:
            return
        user = self.textCursor()
        anchor, position = user.anchor(), user.position()
        bar = self.verticalScrollBar()
        value, follow = bar.value(), bar.value() >= bar.maximum() - _FOLLOW_SLACK
        lines = _line_count(start, end)  # the scroll bar counts lines
        above = end.position() <= top.position()
        # while the text is written again the document is shorter for a moment, so Qt's top
        # block (a block number) lands in the middle of the story; with the viewport's updates
        # on, putting the scroll back lays out a screenful there that nobody sees and nothing
        # would release (one per recycling: ~13 MB after a 10 MB reply)
        self.viewport().setUpdatesEnabled(False)
        try:
            self._put_back(_PutBack(self._map.view_hi(s), self._map.view_lo(e), s,
                                    self._pieces(s, e),
                                    [b for b in self._map.breaks if s < b < e], False))
            if (self.textCursor().anchor(), self.textCursor().position()) != (anchor, position):
                user.setPosition(anchor)
                user.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
                self.setTextCursor(user)  # (this scrolls to it: the scroll is set again below)
            if self.decor.spans:
                self.decor.schedule()  # the blocks written afresh are visible again
            if follow:
                bar.setValue(bar.maximum())
            elif above:  # above the reader: fewer lines above them
                bar.setValue(value - lines + _line_count(doc.findBlock(va), end))
            else:
                bar.setValue(value)
        finally:
            self.viewport().setUpdatesEnabled(True)

    def _sweep_some(self) -> None:
        """One turn of a sweep (see READ_RELEASE_CHARS): look at the next blocks for layouts
        far from the screen, or write the next run of them afresh. Given up when the
        document changed under it (positions stale) or while a reply streams in."""
        sweep = self._sweep
        if sweep is None:
            return
        if sweep.changes != self._changes or self._behind or self._fixes \
                or self._needs_full_render:
            self._sweep = None
            self._shown = READ_RELEASE_CHARS  # the next new place shown starts another
            return
        if time.monotonic() - self._appended_at < READ_QUIET:
            self._sweep_timer.start(int(READ_QUIET * 1000))  # streaming: recycling's part
            return
        doc = self.document()
        top = self.firstVisibleBlock()
        bottom = self.cursorForPosition(self.viewport().rect().bottomRight()).position()
        near_a = self._map.view_hi(max(0, self._map.story_of(top.position(), self._length)[0]
                                       - READ_KEEP))
        near_b = self._map.view_hi(min(self._length,
                                       self._map.story_of(bottom, self._length)[0] + READ_KEEP))
        if sweep.block.isValid():
            block, runs = sweep.block, sweep.runs
            for _ in range(SWEEP_BLOCKS):
                if not block.isValid():
                    break
                p = block.position()
                if block.layout().lineCount() and not near_a <= p <= near_b:
                    if runs and runs[-1][1] == p and p - runs[-1][0] < SWEEP_WRITE:
                        runs[-1][1] = p + block.length()
                    else:
                        runs.append([p, p + block.length()])
                block = block.next()
            sweep.block = block
        elif sweep.runs:
            a, b = sweep.runs.pop()  # from the end: the runs before it keep their positions
            if a > near_b or b < near_a:  # (the reader may have scrolled to it meanwhile)
                self._write_afresh(doc.findBlock(a), doc.findBlock(b), top)
                sweep.changes = self._changes
        else:
            self._sweep = None
            release_freed_memory()  # once for the whole sweep: the layouts it let go
            return
        self._sweep_timer.start(RENDER_PAUSE_MS)

    def _break_at_wrap(self) -> None:
        """Keep the paragraph being streamed into short where nobody sees it: once it is past
        STREAM_BLOCK, its view-only break goes where Qt already wrapped its last line (it shows
        only if the width changes later). Unlaid or unwrapped: HARD_BLOCK breaks it anyway."""
        block = self._cursor.block()
        if block.length() <= STREAM_BLOCK:
            return
        layout = block.layout()
        if layout.lineCount() < 2:
            return
        v = block.position() + layout.lineAt(layout.lineCount() - 1).textStart()
        p, exact = self._map.story_of(v, self._length)
        if not exact or v <= block.position() or p >= self._length:
            return
        self._cursor.setPosition(v)
        self._cursor.insertText("\n")
        insort(self._map.breaks, p)

    def _replace(self, start: int, end: int, pieces: Sequence[tuple[str, QTextCharFormat]]) -> None:
        """Story range [start, end) (as rendered) becomes `pieces`; breaks at `start` stay
        before the new text, breaks at `end` after it."""
        with self._changing():
            a = self._map.view_hi(start)
            b = max(a, self._map.view_lo(end)) if end > start else a
            self._select(a, b)
            self._cursor.removeSelectedText()
            self._cursor.setPosition(a)
            full, breaks = self._write(start, pieces)
            self._map.replaced(start, end, full, breaks)
            self._length += len(full) - (end - start)

    def _write(self, start: int, pieces: Sequence[tuple[str, QTextCharFormat]],
               breaks: Sequence[int] | None = None,
               soft: int | None = None) -> tuple[str, list[int]]:
        """Insert story text that starts at story position `start` at self._cursor, with
        view-only breaks: planned so no paragraph grows past HARD_BLOCK (breaks=None), or
        exactly the given story positions (one at the end of the text goes after it).
        Does not touch the map; returns (the story text written, its breaks)."""
        run = self._cursor.positionInBlock()
        position = start
        written: list[str] = []
        placed: list[int] = []
        fmt = QTextCharFormat()
        for text, fmt in pieces:
            if not text:
                continue
            if breaks is None:
                offsets = plan_breaks(text, run, soft)
            else:
                offsets = [b - position for b in breaks if position <= b < position + len(text)]
            shown, last = [], 0
            for offset in offsets:
                shown.append(text[last:offset])
                last = offset
            shown.append(text[last:])
            self._cursor.insertText("\n".join(_to_view(x) for x in shown), fmt)
            placed.extend(position + offset for offset in offsets)
            written.append(text)
            tail = max(text.rfind("\n") + 1, offsets[-1] if offsets else 0)
            run = len(text) - tail + (run if tail == 0 else 0)
            position += len(text)
        if breaks is not None:
            trailing = [b for b in breaks if b == position]
            if trailing:
                self._cursor.insertText("\n" * len(trailing), fmt)
                placed.extend(trailing)
        return "".join(written), placed

    def _select(self, a: int, b: int) -> None:
        self._cursor.setPosition(a)
        self._cursor.setPosition(b, QTextCursor.MoveMode.KeepAnchor)

    def _doc_end(self) -> int:
        return self.document().characterCount() - 1

    def _view_slice(self, a: int, b: int) -> str:
        cursor = QTextCursor(self.document())
        cursor.setPosition(a)
        cursor.setPosition(b, QTextCursor.MoveMode.KeepAnchor)
        return cursor.selectedText()

    def _story_slice(self, start: int, end: int) -> str:
        return "".join(text for text, _fmt in self._pieces(start, end))

    def _pieces(self, start: int, end: int) -> list[tuple[str, QTextCharFormat]]:
        """The story's text in [start, end), split by segment, with their formats."""
        out: list[tuple[str, QTextCharFormat]] = []
        if start >= end:
            return out
        index, offset = self._story.segment_at(start)
        segments = self._story.segments
        need = end - start
        while need > 0 and index < len(segments):
            piece = segments[index].text[offset:offset + need]
            if piece:
                out.append((piece, self.format_for(segments[index])))
            need -= len(piece)
            index, offset = index + 1, 0
        return out

    def _changing(self) -> _Changing:
        return _Changing(self)

    # ------------------------------------------------------------------ user edits
    def _on_contents_change(self, position: int, removed: int, added: int) -> None:
        if self._rendering:
            return
        self._changes += 1
        old_len, new_len = self._doc_len, self._doc_end()
        excess = position + removed - old_len  # Qt counts the final separator on a first edit
        if excess > 0:
            removed -= excess
            added -= excess
        self._doc_len = new_len
        if self._fixes or self._needs_full_render:
            self._needs_full_render = True  # a second change before the first was put back
            self._flush_timer.start()
            return
        self._user_edit(position, position + removed, added, old_len)

    def _user_edit(self, v0: int, v1: int, added: int, old_len: int) -> None:
        """Qt replaced view range [v0, v1) by `added` units: the same edit, in the story."""
        story_end = self._map.view_hi(self._length)
        new_text = _from_view(self._view_slice(v0, v0 + added))
        drops_marks = bool(self._marks) and v0 <= story_end and v1 >= old_len
        if (v0 > story_end or v1 > story_end) and not drops_marks:
            self._refuse(v0, v1, added, MARK_REASON)
            return
        s, s_exact = self._map.story_of(v0, self._length)
        e, e_exact = self._map.story_of(min(v1, story_end), self._length)
        if not (s_exact and e_exact):
            self._refuse(v0, v1, added, "")  # half an emoji: put it back whole
            return
        lock = self._locked_from
        if lock is not None and (e > lock or s >= lock):
            self._refuse(v0, v1, added, LOCKED_REASON)
            return
        # the map follows what Qt did: breaks inside the removed view range are gone, breaks
        # before it stay, breaks after it move with the text
        delta = len(new_text) - (e - s)
        kept: list[int] = []
        first = bisect_left(self._map.breaks, s)
        last = bisect_right(self._map.breaks, e)
        for index in range(first, last):
            vb = self._map.break_view_position(index)
            if vb < v0:
                kept.append(self._map.breaks[index])
            elif vb >= v1:
                kept.append(self._map.breaks[index] + delta)
        self._map.breaks[first:] = kept + [b + delta for b in self._map.breaks[last:]]
        self._map.replace_astral(s, e, new_text)
        if drops_marks:
            self._marks.clear()
        self._echo = True
        try:
            self._story.edit(s, e, new_text)
        finally:
            self._echo = False

    def _refuse(self, v0: int, v1: int, added: int, reason: str) -> None:
        """Put the old content back (after Qt's change notification) and say why."""
        self._fixes.append(self._plan_put_back(v0, v1, added))
        self._flush_timer.start()
        if reason:
            self.edit_refused.emit(reason)

    def _flush(self) -> bool:
        """Finish what user edits left to do: put refused ones back, format accepted ones.
        True when that meant rendering everything again from the story (as it is now)."""
        self._flush_timer.stop()
        if self._needs_full_render:
            cursor = self.textCursor().position()
            self._render_all()
            restored = self.textCursor()
            restored.setPosition(min(cursor, self._doc_end()))
            self.setTextCursor(restored)
            return True
        fixes, self._fixes = self._fixes, []
        for fix in fixes:
            self._put_back(fix)
        pending, self._formats_pending = self._formats_pending, []
        with self._changing():
            for start, end in pending:
                if start < end <= self._length:
                    self._select(self._map.view_hi(start), self._map.view_lo(end))
                    self._cursor.setCharFormat(self.edited_format)
        return False

    def _plan_put_back(self, v0: int, v1: int, added: int) -> _PutBack:
        """The document has `added` units in place of old view range [v0, v1); the story and
        the map are unchanged (now, not necessarily when it runs): what to render where."""
        story_end = self._map.view_hi(self._length)
        to_marks = v0 > story_end or v1 > story_end
        s, _ = self._map.story_of(min(v0, story_end), self._length)
        if to_marks:
            e = self._length
        else:
            e, exact = self._map.story_of(v1, self._length)
            e += 0 if exact else 1
        a = self._map.view_lo(s)
        b = -1 if to_marks else self._map.view_hi(e) + added - (v1 - v0)
        return _PutBack(a, b, s, self._pieces(s, e),
                        [x for x in self._map.breaks if s <= x <= e], to_marks)

    def _put_back(self, fix: _PutBack) -> None:
        with self._changing():
            self._select(fix.view_start, self._doc_end() if fix.to_marks else fix.view_end)
            self._cursor.removeSelectedText()
            self._cursor.setPosition(fix.view_start)
            self._write(fix.story_start, fix.pieces, fix.breaks)
            if fix.to_marks:
                self._write_marks()


@dataclass
class _Sweep:
    """A sweep for layouts far from the screen: the next block to look at, the runs of
    laid-out blocks found so far (view positions [start, end)), the document as it was."""

    block: QTextBlock
    changes: int
    runs: list[list[int]] = field(default_factory=list)


@dataclass
class _PutBack:
    """A refused edit to undo in the document: view range [view_start, view_end) (to the end
    of the document with `to_marks`) gets these story pieces and breaks back."""

    view_start: int
    view_end: int
    story_start: int
    pieces: list[tuple[str, QTextCharFormat]]
    breaks: list[int]
    to_marks: bool


def common_head(old: Sequence[tuple[str, object]], new: Sequence[tuple[str, object]]) -> int:
    """How many characters two runs of (text, look) pieces share at their start, text and look
    alike (pieces may be cut differently: an edit splits a segment in three)."""
    total = i = j = oi = nj = 0
    while i < len(old) and j < len(new):
        (ot, ok), (nt, nk) = old[i], new[j]
        if ok != nk:
            break
        n = min(len(ot) - oi, len(nt) - nj)
        a, b = ot[oi:oi + n], nt[nj:nj + n]
        if a != b:
            return total + _common_prefix_len(a, b)
        total, oi, nj = total + n, oi + n, nj + n
        if oi == len(ot):
            i, oi = i + 1, 0
        if nj == len(nt):
            j, nj = j + 1, 0
    return total


def _common_prefix_len(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))  # bisect with slice compares: memcmp speed, no char loop
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _reversed(pieces: Sequence[tuple[str, object]]) -> list[tuple[str, object]]:
    return [(text[::-1], look) for text, look in reversed(pieces)]


def _look(segment: Segment) -> object:
    """What decides how a segment's text is shown."""
    return segment.author, segment.meta


def _known_text(segment: Segment, rendered: int) -> str:
    """The rendered text of an old segment; a segment that was still streaming (its object
    older than its text) gets a stand-in that matches nothing."""
    return segment.text if len(segment.text) == rendered else "\0" * rendered


class _Changing:
    """`with view._changing():` the document changes are the view's own, not the user's."""

    def __init__(self, view: StoryView) -> None:
        self.view = view

    def __enter__(self) -> None:
        self.view._rendering += 1

    def __exit__(self, *_exc: object) -> None:
        self.view._rendering -= 1
        if not self.view._rendering:
            self.view._doc_len = self.view._doc_end()
            self.view._changes += 1


def _line_count(first: QTextBlock, stop: QTextBlock) -> int:
    """Lines in blocks [first, stop), as the layout counts them (an unlaid block is one)."""
    count, block = 0, first
    while block.isValid() and block != stop:
        count += block.lineCount()
        block = block.next()
    return count


def _is_undo_key(event: QKeyEvent) -> bool:
    if event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo):
        return True
    combo = event.keyCombination()
    return combo.key() == Qt.Key.Key_Y \
        and combo.keyboardModifiers() == Qt.KeyboardModifier.ControlModifier


def _to_view(text: str) -> str:
    return text.replace("\r", CR_SHOWN) if "\r" in text else text


def _from_view(text: str) -> str:
    return text.replace(PARAGRAPH_SEP, "\n").replace(CR_SHOWN, "\r")


__all__ = ["PositionMap", "StoryView", "common_head", "plan_breaks"]
