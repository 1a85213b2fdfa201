"""The status bar: connection state, the last message, model, context size and speed.

Why its own module: the design promises that the window always shows the connection state and,
while retrying, the attempt and a live countdown. The state is a coloured dot plus the word from
`ConnectionState` (colour alone is not enough for everyone), its tooltip carries the detail or the
last error, and messages stay until something newer replaces them.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStatusBar,
    QToolButton,
    QWidget,
)

from ..core.events import ConnectionState, Retrying, finish_words
from ..core.serverinfo import ServerInfo
from ..core.stats import LiveStats, stats_text
from ..core.story import GenerationMeta
from .plain import make_plain, plain_label, set_plain_tooltip

S = ConnectionState
#: One colour per state. Offline is grey when nothing went wrong, red after an error.
STATE_COLORS: dict[ConnectionState, str] = {
    S.OFFLINE: "#9aa0a6",
    S.CONNECTING: "#e3a008",
    S.CONNECTED: "#2f9e44",
    S.QUEUED: "#7950f2",
    S.PROCESSING: "#1098ad",
    S.STREAMING: "#1c7ed6",
    S.STALLED: "#f76707",
    S.RECOVERING: "#e8590c",
    S.RETRYING: "#f59f00",
    S.INCOMPATIBLE: "#e03131",
}
ERROR_COLOR = "#e03131"


class Dot(QWidget):
    """A small filled circle in the state's colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._color = QColor(STATE_COLORS[S.OFFLINE])
        self.setFixedSize(QSize(12, 12))

    def set_color(self, color: str) -> None:
        self._color = QColor(color)
        self.update()

    def color(self) -> QColor:
        return QColor(self._color)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        halo = QColor(self._color)
        halo.setAlpha(60)
        p.setBrush(halo)
        p.drawEllipse(0, 0, 12, 12)
        p.setBrush(self._color)
        p.drawEllipse(2, 2, 8, 8)
        p.end()


class ElidedLabel(QLabel):
    """A one-line plain-text label that ends in "…" when its text does not fit; the tooltip
    holds all of it. Cut at a word boundary when one is near, never silently mid-word."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        make_plain(self)
        self._full = ""
        # Long messages must not widen the window; they are elided instead.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self._full = text
        set_plain_tooltip(self, text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        one_line = " ".join(self._full.split())
        width = self.contentsRect().width()
        fm = QFontMetrics(self.font())
        shown = one_line if width <= 0 else fm.elidedText(one_line, Qt.TextElideMode.ElideRight,
                                                           width)
        if shown != one_line and shown.endswith("…"):
            head = shown[:-1]
            cut = head.rstrip().rfind(" ")
            if len(head) < len(one_line) and one_line[len(head)] != " " and cut > len(head) // 3:
                shown = head[:cut].rstrip() + " …"
        self.setText(shown)


class StateIndicator(QWidget):
    """Dot + state word; the tooltip explains (detail or last error)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stateIndicator")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(6)
        self.dot = Dot(self)
        self.word = plain_label(parent=self)
        self.word.setObjectName("stateWord")
        layout.addWidget(self.dot)
        layout.addWidget(self.word)
        self.state = S.OFFLINE
        self.detail = ""
        self.set_state(S.OFFLINE)

    def set_state(self, state: ConnectionState, detail: str = "", error: bool = False) -> None:
        self.state, self.detail = state, detail
        color = ERROR_COLOR if (state is S.OFFLINE and error) else STATE_COLORS[state]
        self.dot.set_color(color)
        self.word.setText(state.value)
        set_plain_tooltip(self, detail or state.value)

    def text(self) -> str:
        return self.word.text()


class StatusBar(QStatusBar):
    """Left: state, the latest message, "Reconnect now". Right: model, context, tokens/s."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.setSizeGripEnabled(False)
        self.indicator = StateIndicator(self)
        self.message = ElidedLabel(self)
        self.message.setObjectName("statusMessage")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.countdown = plain_label(parent=self)
        self.countdown.setObjectName("retryCountdown")
        self.countdown.hide()
        self.reconnect_button = QToolButton(self)
        self.reconnect_button.setObjectName("reconnectButton")
        self.reconnect_button.setText("Reconnect now")
        self.reconnect_button.setAutoRaise(True)
        self.reconnect_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.reconnect_button.hide()
        self.model = plain_label(parent=self)
        self.model.setObjectName("modelLabel")
        self.context = plain_label(parent=self)
        self.context.setObjectName("contextLabel")
        self.speed = plain_label(parent=self)
        self.speed.setObjectName("speedLabel")
        #: the running generation's live figures, then the finished reply's (or the figures
        #: of the reply under the cursor)
        self.stats = plain_label(parent=self)
        self.stats.setObjectName("statsLabel")
        self.stats.setAccessibleName("Generation statistics")
        self.stats.hide()
        self.addWidget(self.indicator)
        self.addWidget(self.message, 1)
        self.addWidget(self.countdown)
        self.addWidget(self.reconnect_button)
        for w in (self.stats, self.model, self.context, self.speed):
            self.addPermanentWidget(w)
        self.last_error = ""
        self._text = ""
        self._error = False
        self._retry_deadline: float | None = None
        self._retry_note = ""
        #: during a generation: the retry's reason shown as the message, and what it replaced
        self._retry_reason: str | None = None
        self._before_retry: tuple[str, bool] = ("", False)
        self._retry_timer = QTimer(self)
        self._retry_timer.setInterval(250)
        self._retry_timer.timeout.connect(self._render)
        self.set_server(None)
        self.set_speed(None)

    # ------------------------------------------------------------------ state and messages
    def set_state(self, state: ConnectionState, detail: str = "") -> None:
        if state not in (S.OFFLINE, S.RETRYING, S.CONNECTING):
            reason = self._retry_reason
            self._end_retry()
            if reason is not None and self._text == reason:
                # The retry went through: its reason ("busy", "cannot reach") is over.
                self._show(*self._before_retry)
        if state is S.INCOMPATIBLE and detail:
            # Final until the user changes the address: say why, and no countdown.
            self.last_error = detail
            self._show(detail, error=True)
        error = state is S.OFFLINE and bool(self.last_error)
        self.indicator.set_state(state, detail or (self.last_error if error else ""), error)

    def show_error(self, text: str) -> None:
        self.last_error = text
        self._show(text, error=True)
        if self.indicator.state is S.OFFLINE:
            self.indicator.set_state(S.OFFLINE, text, error=True)
        else:
            set_plain_tooltip(self.indicator, text)

    def show_info(self, text: str) -> None:
        self._end_retry()
        self._show(text, error=False)

    def clear_error(self) -> None:
        self.last_error = ""
        if self._error:
            self._end_retry()
            self._show("", error=False)

    def _show(self, text: str, error: bool) -> None:
        self._text = text
        if self._error != error:
            self._error = error
            self.message.setProperty("error", error)
            self.message.style().unpolish(self.message)
            self.message.style().polish(self.message)
        self._render()

    def _render(self) -> None:
        self.message.set_full_text(self._text)
        if self._retry_deadline is None:
            self.countdown.hide()
            return
        left = self._retry_deadline - time.monotonic()
        when = f"in {left:.0f} s" if left >= 0.5 else "now"
        if left < 0.5:
            self._retry_timer.stop()
        self.countdown.setText(self._retry_note.format(when=when))
        self.countdown.show()

    def message_text(self) -> str:
        """What the status bar says: the message, then the retry countdown if one runs."""
        parts = [self._text] if self._text else []
        if self._retry_deadline is not None:
            parts.append(self.countdown.text())
        return " — ".join(parts)

    # ------------------------------------------------------------------ retry countdown
    def show_retry(self, event: Retrying, during_generation: bool) -> None:
        """A live countdown to the next attempt; between generations, a Reconnect button."""
        attempt = (f"attempt {event.attempt} of {event.max_attempts}" if event.max_attempts
                   else f"attempt {event.attempt}")
        if during_generation:
            self._retry_note = f"retrying {{when}} ({attempt}; Esc cancels)"
            if self._retry_reason is None:
                self._before_retry = (self._text, self._error)
            self._retry_reason = event.reason.message
            self._show(event.reason.message, error=False)
        else:
            self._retry_note = f"reconnecting {{when}} ({attempt})"
            self.reconnect_button.show()
            if self._text != event.reason.message:
                self._show(event.reason.message, error=True)
        self._retry_deadline = time.monotonic() + event.delay
        self._render()
        self._retry_timer.start()

    def _end_retry(self) -> None:
        self._retry_timer.stop()
        self._retry_deadline = None
        self._retry_reason = None
        self.countdown.hide()
        self.reconnect_button.hide()

    def retry_pending(self) -> bool:
        return self._retry_deadline is not None

    # ------------------------------------------------------------------ server facts
    def set_server(self, info: ServerInfo | None) -> None:
        if info is None:
            self.model.setText("no model")
            set_plain_tooltip(self.model, "Not connected")
            self.context.setText("")
            self.context.hide()
            return
        self.model.setText(info.model)
        version = f"{info.version.name} {info.version.version}".strip()
        set_plain_tooltip(self.model, f"{info.model}\n{version}\n{info.url}")
        self.context.setText(f"context {info.max_context_length}")
        set_plain_tooltip(self.context,
                          f"The server's context size: {info.max_context_length} tokens")
        self.context.show()

    def set_stats(self, stats: LiveStats | None) -> None:
        """Tokens so far, tokens/s, time to first token, elapsed; then how it ended."""
        if stats is None:
            self.stats.setText("")
            self.stats.hide()
            return
        text = stats_text(stats) if stats.tokens or stats.elapsed else "sending…"
        self.stats.setText(text)
        what = "This generation so far" if stats.running else "The last generation"
        set_plain_tooltip(self.stats, f"{what}: {text}\n(tokens, tokens per second, time to "
                                      "the first token, time since sending"
                                      f"{'' if stats.running else ', how it ended'})")
        self.stats.show()

    def show_reply_stats(self, meta: GenerationMeta | None) -> None:
        """The figures the reply under the cursor kept (nothing for text without a record)."""
        text = stats_text(meta) if meta is not None else ""
        if not text:
            return
        assert meta is not None
        self.stats.setText(f"reply: {text}")
        details = [f"This reply: {text}"]
        if meta.model:
            details.append(f"model {meta.model}")
        if meta.finish_reason:
            details.append(f"ended: {finish_words(meta.finish_reason)}")
        set_plain_tooltip(self.stats, "\n".join(details))
        self.stats.show()

    def stats_text(self) -> str:
        return self.stats.text() if self.stats.isVisibleTo(self) else ""

    def set_speed(self, tokens_per_second: float | None) -> None:
        if tokens_per_second is None or tokens_per_second <= 0:
            self.speed.setText("")
            self.speed.hide()
            return
        self.speed.setText(f"{tokens_per_second:.1f} tok/s")
        set_plain_tooltip(self.speed, "Generation speed of the last or running generation")
        self.speed.show()
