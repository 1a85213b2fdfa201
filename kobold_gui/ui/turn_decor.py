"""What the story view shows around the story in instruct and chat mode, never in it.

- Turn labels: "You" / the model's name (instruct) or the chat names, painted in a gutter left
  of the text at the line where each turn starts. They are not document text, so positions,
  copy and edits never see them.
- Thinking blocks (core/thinking.py) in the model's turns are collapsed: the lines inside a
  block are hidden (QTextBlock visibility: the text stays in the document and the story), the
  block's first line stays with a "▸ Thinking… (n words)" summary after it. A click on the
  summary or View > Show Thinking (Ctrl+Shift+T) shows them all.

Costs: the labels and blocks are found again only after a change that is not a streamed append
(once, on the next event-loop turn), by segment, and a segment's blocks are cached by the
(immutable) segment object; a streamed token costs a look at its own text and, inside an open
block, hiding the lines it added. Collapsing works by whole lines: a line that holds both
thoughts and answer stays visible.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QTextCursor
from PySide6.QtWidgets import QWidget

from ..core import thinking
from ..core.modes import segment_roles
from ..core.story import Segment, Story, StoryEvent, TextAppended
from .reading import mix

if TYPE_CHECKING:
    from .story_view import StoryView

#: the gutter's width in pixels when turn labels are shown
GUTTER = 104
_GAP = 10
#: a streamed token is checked for a tag together with this much of the text before it
_TAG_LOOKBACK = 48


@dataclass
class ThinkSpan:
    """A thinking block in story positions (end grows while it streams open)."""

    start: int
    content_start: int
    end: int
    closed: bool
    words: int
    kind: str = "think"


class TurnGutter(QWidget):
    """The strip left of the text where the turn labels are painted."""

    def __init__(self, view: StoryView, decor: TurnDecorations) -> None:
        super().__init__(view)
        self.setObjectName("turnGutter")
        self._view = view
        self._decor = decor
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        self._decor.paint_labels(self)


class TurnDecorations:
    """Turn labels and collapsed thinking for one StoryView; see the module docstring."""

    def __init__(self, view: StoryView) -> None:
        self.view = view
        self.thinking_shown = False
        self.labels: list[tuple[int, str]] = []  # (story position, label), sorted
        self.spans: list[ThinkSpan] = []
        self._cache: dict[int, tuple[Segment, list[thinking.ThinkBlock]]] = {}
        self._hidden = False  # any block hidden now
        self._open: ThinkSpan | None = None  # the block the stream is inside
        self._tail = ""  # the streamed text's last characters, for tags split over tokens
        self.gutter = TurnGutter(view, self)
        self.gutter.hide()
        self._timer = QTimer(view)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.rebuild)
        view.updateRequest.connect(self._update_request)
        self._summary_rects: list[tuple[QRect, ThinkSpan]] = []

    # ------------------------------------------------------------------ hooks
    @property
    def active(self) -> bool:
        return self.view.story().mode in ("instruct", "chat")

    def gutter_width(self) -> int:
        return GUTTER if self.active else 0

    def schedule(self) -> None:
        """Something other than an append changed: find labels and blocks again soon."""
        if not self._timer.isActive():
            self._timer.start()

    def rendered(self) -> None:
        """The view has shown the whole of a long story: find labels and blocks in it (asking
        again on every turn while it rendered kept a 0 ms timer spinning, ~23 000 calls a
        second, for as long as the story took to show)."""
        self.schedule()

    def story_event(self, event: StoryEvent) -> None:
        if isinstance(event, TextAppended):
            self._appended(event)
        else:
            self.schedule()

    def set_thinking_shown(self, shown: bool) -> None:
        if shown != self.thinking_shown:
            self.thinking_shown = shown
            self.rebuild()

    # ------------------------------------------------------------------ finding
    def rebuild(self) -> None:
        """Labels and thinking blocks from the story as it is, and the lines hidden to match."""
        self._timer.stop()
        view, story = self.view, self.view.story()
        if view.rendering():
            return  # a long story is still being shown: rendered() comes when it is all there
        self.labels = _labels(story) if self.active else []
        self.spans = self._find_spans(story)
        self._open = self.spans[-1] if self.spans and not self.spans[-1].closed \
            and self.spans[-1].end == len(story) else None
        self._tail = _tail_text(story)
        self._apply_visibility()
        self._sync_gutter()

    def _find_spans(self, story: Story) -> list[ThinkSpan]:
        spans: list[ThinkSpan] = []
        cache: dict[int, tuple[Segment, list[thinking.ThinkBlock]]] = {}
        for index, (seg, role) in enumerate(zip(story.segments, segment_roles(story),
                                                strict=True)):
            if role != "assistant" or seg.author not in ("model", "recovered") or not seg.text:
                continue
            hit = self._cache.get(id(seg))
            if hit is not None and hit[0] is seg:
                blocks = hit[1]
            else:
                blocks = thinking.find_blocks(seg.text) if _may_think(seg.text) else []
            cache[id(seg)] = (seg, blocks)
            base = story.segment_start(index)
            for b in blocks:
                spans.append(ThinkSpan(base + b.start, base + b.content_start, base + b.end,
                                       b.closed, thinking.word_count(b.content(seg.text)),
                                       b.kind))
        self._cache = cache
        return spans

    def _appended(self, event: TextAppended) -> None:
        """The streaming path: a tag in the new text (with the last few characters before
        it) opens or closes a block; inside an open one, the new lines are hidden. Costs the
        length of the token, never of the story."""
        text = self._tail + event.text
        base = event.position + len(event.text) - len(text)
        self._tail = text[-_TAG_LOOKBACK:]
        if self._open is None:
            if not _may_think(text):
                return
            story = self.view.story()
            if not story.segments or story.segments[-1].author not in ("model", "recovered"):
                return
            blocks = thinking.find_blocks(text)
            if any(b.closed and b.end > len(text) - len(event.text) for b in blocks):
                self.schedule()  # a block ended in this token: find it properly
            if not blocks or blocks[-1].closed:
                return
            b = blocks[-1]
            self._open = ThinkSpan(base + b.start, base + b.content_start, base + len(text),
                                   False, thinking.word_count(b.content(text)), b.kind)
            self.spans.append(self._open)
            new_text = ""  # counted above
        else:
            new_text = event.text
        span = self._open
        close = thinking.closing_tag(span.kind).search(
            text, max(0, span.content_start - base))
        if close is not None:
            span.end = base + close.end()
            span.closed = True
            self._open = None
            self.schedule()  # exact counts, and the rest may open another block
        else:
            span.end = event.position + len(event.text)
            span.words += _new_words(text[:len(text) - len(new_text)], new_text)
        if not self.thinking_shown:
            self._hide_new_lines(span)

    # ------------------------------------------------------------------ hiding
    def _hide_new_lines(self, span: ThinkSpan) -> None:
        """Hide the blocks at the end that lie inside `span` (newest first, up to the first
        that is already hidden)."""
        view = self.view
        doc = view.document()
        first = view._map.view_hi(span.start)
        end = view._map.view_lo(span.end)
        block = doc.findBlock(end)
        changed = []
        while block.isValid() and block.position() > first:
            if block.position() + block.length() - 1 > end:
                block = block.previous()
                continue
            if not block.isVisible():
                break
            block.setVisible(False)
            changed.append(block)
            block = block.previous()
        if changed:
            self._hidden = True
            doc.markContentsDirty(changed[-1].position(),
                                  changed[0].position() + changed[0].length()
                                  - changed[-1].position())

    def _apply_visibility(self) -> None:
        view = self.view
        doc = view.document()
        hide: list[tuple[int, int]] = []
        if not self.thinking_shown:
            hide = [(view._map.view_hi(s.start), view._map.view_lo(s.end)) for s in self.spans]
        if not hide and not self._hidden:
            return
        starts = [a for a, _b in hide]
        block = doc.firstBlock()
        dirty_from, dirty_to = -1, -1
        any_hidden = False
        while block.isValid():
            pos, last = block.position(), block.position() + block.length() - 1
            i = bisect_right(starts, pos) - 1
            inside = i >= 0 and hide[i][0] < pos and last <= hide[i][1]
            if inside:
                any_hidden = True
            if block.isVisible() == inside:
                block.setVisible(not inside)
                dirty_from = pos if dirty_from < 0 else dirty_from
                dirty_to = last + 1
            block = block.next()
        self._hidden = any_hidden
        if dirty_from >= 0:
            doc.markContentsDirty(dirty_from, dirty_to - dirty_from)
            view.viewport().update()

    # ------------------------------------------------------------------ painting
    def _sync_gutter(self) -> None:
        view = self.view
        show = bool(self.labels)
        if show != self.gutter.isVisible():
            self.gutter.setVisible(show)
            view.update_margins()
        self.place_gutter()
        self.gutter.update()
        view.viewport().update()

    def place_gutter(self) -> None:
        view = self.view
        rect = view.viewport().geometry()
        left = view.viewportMargins().left()
        self.gutter.setGeometry(rect.left() - left, rect.top(), left, rect.height())

    def _update_request(self, _rect: QRect, _dy: int) -> None:
        if self.gutter.isVisible():
            self.gutter.update()

    def _visible_range(self) -> tuple[int, int]:
        view = self.view
        top = view.firstVisibleBlock().position()
        bottom = view.cursorForPosition(view.viewport().rect().bottomRight()).position()
        length = len(view.story())
        a, _ = view._map.story_of(top, length)
        b, _ = view._map.story_of(bottom, length)
        return a, b + 1

    def paint_labels(self, widget: QWidget) -> None:
        if not self.labels:
            return
        view = self.view
        a, b = self._visible_range()
        positions = [p for p, _l in self.labels]
        lo = max(0, bisect_left(positions, a) - 1)
        hi = bisect_right(positions, b)
        painter = QPainter(widget)
        font = QFont(view.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.78))
        font.setBold(True)
        painter.setFont(font)
        pal = view.palette()
        painter.setPen(mix(pal.color(pal.ColorRole.Text), pal.color(pal.ColorRole.Base), 0.45))
        metrics = QFontMetrics(font)
        for position, label in self.labels[lo:hi]:
            cursor = QTextCursor(view.document())
            cursor.setPosition(view._map.view_hi(position))
            rect = view.cursorRect(cursor)
            if rect.bottom() < 0 or rect.top() > widget.height():
                continue
            text = metrics.elidedText(label, Qt.TextElideMode.ElideRight,
                                      widget.width() - 2 * _GAP)
            line = QFontMetrics(view.font()).ascent()
            painter.drawText(QPoint(widget.width() - _GAP - metrics.horizontalAdvance(text),
                                    rect.top() + line), text)
        painter.end()

    def paint_summaries(self) -> None:
        """The one-line summaries after each collapsed block's first line (viewport paint)."""
        self._summary_rects = []
        if not self.spans:
            return
        view = self.view
        a, b = self._visible_range()
        painter = QPainter(view.viewport())
        font = QFont(view.font())
        font.setItalic(True)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        pal = view.palette()
        painter.setPen(mix(pal.color(pal.ColorRole.Text), pal.color(pal.ColorRole.Link), 0.5))
        metrics = QFontMetrics(font)
        doc = view.document()
        for span in self.spans:
            if span.end < a or span.start > b:
                continue
            block = doc.findBlock(view._map.view_hi(span.start))
            cursor = QTextCursor(block)
            cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
            rect = view.cursorRect(cursor)
            if self.thinking_shown:
                label = "▾ Thinking (click to fold)"
            elif span.closed:
                label = f"▸ Thought for {span.words} words (click to show)"
            else:
                label = f"▸ Thinking… ({span.words} words)"
            x = rect.right() + 14
            box = QRect(x, rect.top(), metrics.horizontalAdvance(label) + 4, rect.height())
            painter.drawText(box, int(Qt.AlignmentFlag.AlignVCenter), label)
            self._summary_rects.append((box, span))
        painter.end()

    def summary_at(self, point: QPoint) -> ThinkSpan | None:
        for rect, span in self._summary_rects:
            if rect.contains(point):
                return span
        return None

    def mouse_press(self, event: QMouseEvent) -> bool:
        """A click on a summary shows (or folds) the thinking; True when it was one."""
        if event.button() == Qt.MouseButton.LeftButton \
                and self.summary_at(event.position().toPoint()) is not None:
            self.set_thinking_shown(not self.thinking_shown)
            return True
        return False

    def summaries(self) -> list[str]:
        """The summaries as text, for tests and accessibility."""
        out = []
        for span in self.spans:
            if self.thinking_shown:
                out.append("Thinking (shown)")
            elif span.closed:
                out.append(f"Thought for {span.words} words")
            else:
                out.append(f"Thinking… ({span.words} words)")
        return out


def short_model_name(model: str) -> str:
    """What fits the gutter: "Mistral" of "koboldcpp/Mistral-Nemo-Instruct-2407-Q5_K_M"."""
    name = model.removeprefix("koboldcpp/").rsplit("/", 1)[-1]
    if len(name) <= 12:
        return name
    return re.split(r"[-_ .]", name, maxsplit=1)[0] or name


def _labels(story: Story) -> list[tuple[int, str]]:
    """(story position, label) where each turn starts."""
    options = story.mode_options
    chat = story.mode == "chat"
    out: list[tuple[int, str]] = []
    previous = None
    for index, (seg, role) in enumerate(zip(story.segments, segment_roles(story),
                                            strict=True)):
        if not seg.text or role == previous:
            continue
        previous = role
        if role == "user":
            label = options.user_name if chat else "You"
        elif chat:
            label = options.bot_name
        else:
            model = seg.meta.model if seg.meta is not None and seg.meta.model else "Model"
            label = short_model_name(model)
        lead = len(seg.text) - len(seg.text.lstrip("\n"))  # at the turn's first line of text
        out.append((story.segment_start(index) + min(lead, len(seg.text) - 1), label))
    return out


def _may_think(text: str) -> bool:
    """A cheap test before the regular expressions: every format's tags hold one of these."""
    return "think>" in text or "<|channel" in text or "channel|>" in text


def _tail_text(story: Story) -> str:
    """The story's last _TAG_LOOKBACK characters, from its last segments only."""
    pieces: list[str] = []
    need = _TAG_LOOKBACK
    for seg in reversed(story.segments):
        if need <= 0:
            break
        pieces.append(seg.text[-need:])
        need -= len(pieces[-1])
    return "".join(reversed(pieces))


def _new_words(before: str, added: str) -> int:
    """Words that start in `added` (a word that goes on from `before` is not new)."""
    count, space = 0, not before or before[-1].isspace()
    for ch in added:
        if ch.isspace():
            space = True
        elif space:
            count += 1
            space = False
    return count


__all__ = ["GUTTER", "ThinkSpan", "TurnDecorations", "TurnGutter"]
