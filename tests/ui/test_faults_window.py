"""The fault matrix through the window: what a person sees while the server misbehaves.

The same faults as `tests/core/test_faults.py`, driven through a real MainWindow and Controller
(Ctrl+Enter, Esc, the Reconnect button) against the emulator. Each case checks what is on screen:
the text in the output view against the emulator's ground truth (after a broken stream: the chain
of requests, each continuing where the previous one's text ended), the state word, its tooltip,
the status message and the retry countdown at the moments they matter, which actions are enabled,
and that nothing keeps generating on the server after Stop.

What the status bar showed is sampled at every controller signal (after the window's own slots
ran, so the bar is already updated) and every 50 ms, into `Screen.shown`.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from dataclasses import dataclass

import httpx
import pytest
from ground_truth import FRAMING_FAULTS, assert_chain_is_ground_truth
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QTextCursor

from kobold_gui.core.events import Failed, Finished
from kobold_gui.core.generation import ResilienceConfig
from kobold_gui.core.monitor import ConnectionMonitor
from kobold_gui.core.retry import RetryPolicy
from kobold_gui.emulator import Faults
from kobold_gui.ui import controller as controller_module
from kobold_gui.ui.plain import tooltip_text
from kobold_gui.ui.status import ERROR_COLOR

from .conftest import WAIT_MS, wait_connected

PROMPT = "In the beginning"  # its ground truth has multi-byte characters early
FAST = ResilienceConfig(stall_after=0.3, poll_interval=0.1,
                        retry=RetryPolicy(base_delay=0.2, max_delay=1.0, max_attempts=6))
#: every retry waits about a second, so the countdown shows "in 1 s"
ONE_SECOND = ResilienceConfig(stall_after=0.3, poll_interval=0.1,
                              retry=RetryPolicy(base_delay=1.0, min_delay=1.0, max_delay=1.0,
                                                max_attempts=6))
GENERATE_POST = re.compile(r'"POST /api/(v1/generate|extra/generate/stream)')


# ---------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Shown:
    """One sample of what the window showed."""

    why: str
    word: str  # the state word next to the dot
    tooltip: str  # the state's tooltip (detail or last error)
    message: str  # status message, with the countdown when one runs
    countdown: str  # the countdown label's text, "" while hidden
    dot: str  # the dot's colour
    reconnect: bool  # the "Reconnect now" button is visible
    generated: str  # the output view's text of the current generation
    error: bool  # the message is styled as an error


class Screen(QObject):
    """Samples the window at every controller signal and every 50 ms; collects outcomes.

    A child of the window, connected by its own methods: Qt disconnects it when the window is
    deleted, so the controller's last signals at teardown never sample a deleted window.
    """

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.shown: list[Shown] = []
        self.outcomes: list[Finished | Failed] = []
        self.retries: list = []
        #: at each text signal: (view length, length of the record's sent events, its state)
        self.text_events: list[tuple[int, int, str]] = []
        self.record_of_generation = None  # set by a test to compare with the stream
        c = window.controller
        c.state_changed.connect(self._on_state)
        c.retrying.connect(self._retrying)
        c.text_appended.connect(self._on_text)
        c.text_recovered.connect(self._on_recovered)
        c.server_changed.connect(self._on_server)
        c.error.connect(self._on_error)
        c.generation_finished.connect(self._outcome)
        c.generation_failed.connect(self._outcome)
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._on_tick)
        self._timer.start()

    def _on_state(self, *_args: object) -> None:
        self.take("state")

    def _on_text(self, _text: str) -> None:
        self._text("text")

    def _on_recovered(self, _text: str) -> None:
        self._text("recovered")

    def _on_server(self, _info: object) -> None:
        self.take("server")

    def _on_error(self, _message: str) -> None:
        self.take("error")

    def _on_tick(self) -> None:
        self.take("tick")

    def take(self, why: str) -> Shown:
        w = self.window
        bar = w.status
        s = Shown(why, w.state_text(), tooltip_text(bar.indicator), w.status_message(),
                  bar.countdown.text() if bar.countdown.isVisible() else "",
                  bar.indicator.dot.color().name(), bar.reconnect_button.isVisible(),
                  w.last_reply(), bool(bar.message.property("error")))
        self.shown.append(s)
        return s

    def _retrying(self, event) -> None:
        self.retries.append(event)
        self.take("retrying")

    def _text(self, why: str) -> None:
        s = self.take(why)
        rec = self.record_of_generation
        self.text_events.append((len(s.generated), len(rec.streamed_text) if rec else -1,
                                 rec.state if rec else ""))

    def _outcome(self, outcome) -> None:
        self.outcomes.append(outcome)
        self.take("outcome")

    def words(self) -> list[str]:
        """The state words shown, in order, without repeats."""
        out: list[str] = []
        for s in self.shown:
            if not out or out[-1] != s.word:
                out.append(s.word)
        return out

    def with_word(self, word: str) -> list[Shown]:
        return [s for s in self.shown if s.word == word]

    def wait_outcome(self, qtbot, n: int = 1, timeout: int = 2 * WAIT_MS):
        qtbot.waitUntil(lambda: len(self.outcomes) >= n, timeout=timeout)
        qtbot.waitUntil(lambda: not self.window.controller.busy, timeout=WAIT_MS)
        return self.outcomes[n - 1]


class ServerFollowsTheWindow:
    """Paces the emulator's generations by what the window shows instead of by the clock.

    Before each of its first `steps` tokens the server waits until the window shows all the text
    generated so far, so the window sees the text grow in that many steps while the server is
    still generating, however slowly this machine runs the client. With `hold_last_until`, the
    last token also waits for that condition (for example: a stalled stream has resumed), so
    the generation cannot end before the moment a test is about.
    """

    def __init__(self, emu, window, steps: int,
                 hold_last_until=None) -> None:
        self._window = window
        self._shown = 0
        self._changed = threading.Condition()
        self._closed = emu.engine.closed
        self._steps = steps
        self._hold_last_until = hold_last_until
        window.controller.text_appended.connect(self._window_changed)
        window.controller.text_recovered.connect(self._window_changed)
        model = emu.engine.model
        original = model.steps
        model.steps = lambda *args, **kwargs: self._paced(original(*args, **kwargs))

    def _window_changed(self, _text: str) -> None:  # on the Qt thread, after the view's slot
        with self._changed:
            self._shown = len(self._window.last_reply())
            self._changed.notify_all()

    def _wait(self, condition) -> None:
        """On the server's generation thread; gives up at WAIT_MS (the test then fails)."""
        deadline = time.monotonic() + WAIT_MS / 1000
        with self._changed:
            while not condition() and not self._closed.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(min(left, 0.05))

    def _paced(self, steps):
        generated = 0
        previous = None
        for i, step in enumerate(steps):
            if previous is not None:
                yield previous
            if 0 < i <= self._steps:
                self._wait(lambda n=generated: self._shown >= n)
            if step.token is not None:
                generated += len(step.token)
            previous = step
        if previous is not None:
            if self._hold_last_until is not None:
                self._wait(self._hold_last_until)
            yield previous


def open_window(qtbot, make_window, emu, config=FAST, **kwargs):
    window = make_window(emu.url, config=config, **kwargs)
    wait_connected(qtbot, window)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    return window, Screen(window)


def generate(qtbot, window, prompt: str = PROMPT, max_length: int = 60) -> None:
    """Set the prompt and the token limit, then press Ctrl+Enter as a person would."""
    window.settings_panel.set_values({"max_length": max_length})
    window.editor.set_prompt(prompt)
    qtbot.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.busy, window.status_message()
    assert not window.generate_action.isEnabled() and window.stop_action.isEnabled()


def assert_idle_again(window) -> None:
    """After a generation: Generate is back, Stop is off, no countdown is left running."""
    assert window.generate_action.isEnabled() and window.generate_button.isEnabled()
    assert not window.stop_action.isEnabled()
    assert not window.status.retry_pending() and not window.status.countdown.isVisible()


def recovered_spans_in_view(view) -> list[tuple[int, int]]:
    """(start, end) offsets in `view.plain_text()` of the characters in the recovered format."""
    mark = view.recovered_format.background().color()
    cursor = QTextCursor(view.document())
    spans: list[tuple[int, int]] = []
    pos16 = 0  # QTextDocument counts UTF-16 units; Python counts code points
    for i, ch in enumerate(view.plain_text()):
        pos16 += 2 if ord(ch) > 0xFFFF else 1
        cursor.setPosition(pos16)  # charFormat() is the format of the character before
        fmt = cursor.charFormat()
        if fmt.background().style() != Qt.BrushStyle.NoBrush and fmt.background().color() == mark:
            if spans and spans[-1][1] == i:
                spans[-1] = (spans[-1][0], i + 1)
            else:
                spans.append((i, i + 1))
    return spans


def recovered_spans(story) -> list[tuple[int, int]]:
    """(start, end) offsets in the story's text of its "recovered" segments."""
    spans, position = [], 0
    for seg in story.segments:
        if seg.author == "recovered":
            spans.append((position, position + len(seg.text)))
        position += len(seg.text)
    return spans


@pytest.fixture
def requests_log(caplog):
    """The emulator's request log: count the generation requests that reached it."""
    caplog.set_level(logging.DEBUG, logger="kobold_gui.emulator")

    def count() -> int:
        return sum(1 for r in caplog.records if GENERATE_POST.search(r.getMessage()))

    return count


# ---------------------------------------------------------------------------------- framing
@pytest.mark.parametrize("fault", FRAMING_FAULTS.values(), ids=FRAMING_FAULTS.keys())
def test_framing_faults_do_not_change_the_text(
        qtbot, make_emulator, make_window, fault) -> None:
    emu = make_emulator(faults=fault)
    window, screen = open_window(qtbot, make_window, emu)
    generate(qtbot, window, max_length=60)
    outcome = screen.wait_outcome(qtbot)

    expected = emu.expected_text(PROMPT, 60)
    assert any(ord(c) > 127 for c in expected)  # multi-byte text: the case worth testing
    assert isinstance(outcome, Finished), outcome
    assert window.last_reply() == expected == outcome.text
    assert window.output.plain_text() == PROMPT + expected
    assert recovered_spans(window.story) == []
    assert recovered_spans_in_view(window.output) == []
    assert len(emu.generations) == 1
    assert "streaming" in screen.words()
    assert not screen.retries
    assert not any(s.error for s in screen.shown)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    assert window.status_message().startswith("Done")
    assert_idle_again(window)


# ---------------------------------------------------------------------------------- broken streams
@pytest.mark.parametrize("fault", [Faults(drop_after_events=4), Faults(reset_after_events=4)],
                         ids=["close", "reset"])
def test_dropped_stream_is_recovered_marked_and_continued(
        qtbot, make_emulator, make_window, fault) -> None:
    emu = make_emulator(token_rate=100.0, faults=fault)
    window, screen = open_window(qtbot, make_window, emu)
    generate(qtbot, window, max_length=40)
    outcome = screen.wait_outcome(qtbot)

    assert isinstance(outcome, Finished) and not outcome.stopped, outcome
    shown = window.last_reply()
    records = assert_chain_is_ground_truth(emu, shown, PROMPT)
    assert len(records) > 1, "the generation should have been continued by a new request"
    assert records[0].aborted_by == "disconnect"
    assert sum(len(r.tokens) for r in records) == 40
    assert outcome.text == shown
    assert window.output.plain_text() == PROMPT + shown

    # The text that came back through `check` is marked, in the view and in the story, and
    # the text streamed after it is the model's again; all of it is one reply.
    spans = recovered_spans(window.story)
    assert spans, "the server generated past the break; that text must come back, marked"
    assert recovered_spans_in_view(window.output) == spans
    assert [(s - len(PROMPT), e - len(PROMPT)) for s, e in spans] == list(outcome.recovered)
    assert window.story.text == PROMPT + shown
    authors = [seg.author for seg in window.story.segments]
    assert authors[0] == "user" and set(authors[1:]) <= {"model", "recovered"}
    metas = [seg.meta for seg in window.story.segments[1:]]
    assert all(m == metas[0] for m in metas) and metas[0].finish_reason == outcome.finish_reason

    # The person saw that the client was recovering, and it ended well.
    words = screen.words()
    assert "recovering" in words, words
    assert words.index("recovering") > words.index("streaming")
    recovering = screen.with_word("recovering")[0]
    assert "fetching" in recovering.tooltip
    assert not any(s.word == "offline" for s in screen.shown)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    assert window.status_message().startswith("Done")
    assert_idle_again(window)
    assert emu.wait_idle(2.0)


def test_server_restart_shows_the_retry_countdown_then_continues(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=100.0,
                        faults=Faults(restart_after_events=3, restart_seconds=1.3))
    window, screen = open_window(qtbot, make_window, emu, config=ONE_SECOND)
    generate(qtbot, window, max_length=30)
    qtbot.waitUntil(lambda: window.last_reply() != "", timeout=WAIT_MS)
    emu.faults = Faults()  # the running stream keeps its fault; the continuation gets none
    outcome = screen.wait_outcome(qtbot)

    # While the server was down: the state word, the reason, the attempt and a live countdown.
    assert screen.retries, "a retry should have been scheduled while the server was down"
    retrying = screen.with_word("retrying")
    assert retrying, screen.words()
    down = retrying[0]
    reason = screen.retries[0].reason.message
    assert reason in down.message
    assert re.search(r"retrying (in \d+ s|now) \(attempt \d+ of 6; Esc cancels\)",
                     down.countdown), down
    assert any("in 1 s" in s.countdown for s in retrying)
    assert f"attempt {screen.retries[0].attempt} of 6" in down.tooltip
    assert not down.reconnect  # a generation retries by itself; no Reconnect button then
    # Once the server answers again, the status no longer says it cannot be reached.
    last_retry = max(i for i, s in enumerate(screen.shown) if s.word == "retrying")
    after = [s for s in screen.shown[last_retry:] if s.word in ("recovering", "streaming")]
    assert after, screen.words()
    assert not any(reason in s.message for s in after), after
    assert not any(s.countdown for s in after), after

    # Then the text completed: what we had, plus a continuation from exactly there.
    assert isinstance(outcome, Finished) and not outcome.stopped, outcome
    shown = window.last_reply()
    last = emu.generations[-1]
    assert emu.restarts == 1
    assert last.aborted_by is None
    assert last.prompt.startswith(PROMPT)
    before = last.prompt[len(PROMPT):]
    assert shown == before + last.text == outcome.text
    assert last.text == emu.expected_text(last.prompt, last.max_length)
    assert emu.generations[0].text.startswith(before)  # nothing shown that was not generated
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    assert_idle_again(window)


# ---------------------------------------------------------------------------------- busy server
def test_busy_server_shows_attempts_and_countdown_then_the_text(
        qtbot, make_emulator, make_window, requests_log) -> None:
    emu = make_emulator(faults=Faults(busy_first=2))
    window, screen = open_window(qtbot, make_window, emu, config=ONE_SECOND)
    generate(qtbot, window, max_length=40)
    outcome = screen.wait_outcome(qtbot)

    assert [(r.attempt, r.max_attempts) for r in screen.retries] == [(1, 6), (2, 6)]
    retrying = screen.with_word("retrying")
    for n in (1, 2):
        seen = [s for s in retrying if f"attempt {n} of 6" in s.countdown]
        assert seen, f"attempt {n} was never shown: {retrying}"
        assert all("busy" in s.message for s in seen)
        assert any(re.search(r"retrying in 1 s \(attempt", s.countdown) for s in seen)
        assert not any(s.error for s in seen)  # a busy server is not an error (yet)
    assert screen.words().count("retrying") == 2
    # Once the retry went through, the "busy" reason is no longer claimed.
    working = [s for s in screen.shown if s.word in ("processing prompt", "streaming")]
    assert working and not any("busy" in s.message for s in working), working

    assert isinstance(outcome, Finished), outcome
    expected = emu.expected_text(PROMPT, 40)
    assert window.last_reply() == expected == outcome.text
    assert len(emu.generations) == 1 and emu.generations[0].text == expected
    assert requests_log() == 3
    assert_idle_again(window)


def test_busy_beyond_the_last_attempt_fails_readably(
        qtbot, make_emulator, make_window, requests_log) -> None:
    emu = make_emulator(faults=Faults(busy_first=100))
    config = ResilienceConfig(stall_after=0.3, poll_interval=0.1,
                              retry=RetryPolicy(base_delay=0.2, max_delay=0.3, max_attempts=2))
    window, screen = open_window(qtbot, make_window, emu, config=config)
    generate(qtbot, window, max_length=40)
    outcome = screen.wait_outcome(qtbot)

    assert isinstance(outcome, Failed), outcome
    assert [r.attempt for r in screen.retries] == [1, 2]
    assert requests_log() == 3  # the first try and two retries, no more
    assert emu.generations == []
    message = window.status_message()
    assert "busy" in message and window.status.message.property("error") is True
    assert "kept" not in message  # nothing was received, so nothing is "kept"
    assert window.last_reply() == ""
    assert window.output.plain_text() == PROMPT
    assert window.state_text() == "connected"  # the server is there, only busy
    assert_idle_again(window)


def test_busy_after_a_break_keeps_the_text_received(
        qtbot, make_emulator, make_window, requests_log) -> None:
    emu = make_emulator(token_rate=100.0, faults=Faults(drop_after_events=3))
    config = ResilienceConfig(stall_after=0.3, poll_interval=0.1,
                              retry=RetryPolicy(base_delay=0.2, max_delay=0.3, max_attempts=2))
    window, screen = open_window(qtbot, make_window, emu, config=config)
    generate(qtbot, window, max_length=40)
    qtbot.waitUntil(lambda: window.last_reply() != "", timeout=WAIT_MS)
    # The running request already read its faults; the continuation will find the server busy.
    emu.faults = Faults(busy_first=100)
    outcome = screen.wait_outcome(qtbot)

    assert isinstance(outcome, Failed), outcome
    first = emu.generations[0]
    assert len(emu.generations) == 1 and first.aborted_by == "disconnect"
    shown = window.last_reply()
    assert shown == first.text == outcome.text  # streamed + recovered: all the server made
    assert recovered_spans(window.story)
    assert {seg.meta.finish_reason for seg in window.story.segments[1:]} == {"failed"}
    message = window.status_message()
    assert "busy" in message and "The text received so far is kept." in message
    assert window.status.message.property("error") is True
    assert window.output.plain_text() == PROMPT + shown
    assert_idle_again(window)


def test_esc_cancels_a_pending_retry(
        qtbot, make_emulator, make_window, requests_log) -> None:
    emu = make_emulator(faults=Faults(busy_first=100))
    config = ResilienceConfig(retry=RetryPolicy(base_delay=5.0, min_delay=5.0, max_delay=5.0,
                                                max_attempts=6))
    window, screen = open_window(qtbot, make_window, emu, config=config)
    generate(qtbot, window, max_length=40)
    qtbot.waitUntil(lambda: window.state_text() == "retrying", timeout=WAIT_MS)
    assert re.search(r"retrying in [45] s \(attempt 1 of 6; Esc cancels\)",
                     window.status_message()), window.status_message()
    assert window.status.countdown.isVisible()
    assert window.stop_action.isEnabled()
    assert requests_log() == 1

    qtbot.keyClick(window.editor, Qt.Key.Key_Escape)
    # The retry was 5 s away: ending well before that means the wait was cut short.
    outcome = screen.wait_outcome(qtbot, timeout=3000)
    assert isinstance(outcome, Finished | Failed)
    assert window.last_reply() == ""
    assert window.state_text() != "retrying"
    assert_idle_again(window)
    qtbot.wait(300)
    assert requests_log() == 1, "no request may be sent after the retry was cancelled"
    assert len(screen.retries) == 1
    assert emu.generations == []


# ---------------------------------------------------------------------------------- silence
def test_slow_prompt_shows_processing_not_an_error(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(faults=Faults(prompt_delay=1.2))
    window, screen = open_window(qtbot, make_window, emu)
    generate(qtbot, window, max_length=10)
    outcome = screen.wait_outcome(qtbot)

    processing = [s for s in screen.with_word("processing prompt") if s.generated == ""]
    assert processing, screen.words()
    assert all("reading the prompt" in s.tooltip for s in processing)
    # Still "processing prompt" while the server stayed silent past `stall_after`.
    assert any(re.search(r"reading the prompt \(\d+ s\)", s.tooltip) for s in processing)
    # Nothing false is claimed once the text flows: not stalled, not a buffering proxy.
    bad = {"retrying", "offline", "stalled", "recovering"}
    assert not bad & set(screen.words()), screen.words()
    assert not any("proxy" in s.tooltip for s in screen.shown), screen.words()
    assert not screen.retries and not any(s.error for s in screen.shown)
    assert isinstance(outcome, Finished), outcome
    assert window.last_reply() == emu.expected_text(PROMPT, 10)
    assert len(emu.generations) == 1
    assert_idle_again(window)


def test_buffering_proxy_text_appears_before_the_stream_ends(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=50.0, faults=Faults(buffer_stream=True))
    window, screen = open_window(qtbot, make_window, emu)
    ServerFollowsTheWindow(emu, window, steps=5)
    generate(qtbot, window, max_length=60)
    qtbot.waitUntil(lambda: emu.last_generation is not None, timeout=WAIT_MS)
    record = emu.last_generation
    screen.record_of_generation = record
    outcome = screen.wait_outcome(qtbot)

    # The view grew in several steps while the server was still generating: the proxy only
    # lets the stream through after the final event, so that text came from polling.
    early = [n for n, _sent, state in screen.text_events if state == "running"]
    assert len(set(early)) >= 3, screen.text_events
    polling = [s for s in screen.with_word("streaming") if "buffering proxy" in s.tooltip]
    assert polling and "polling" in polling[0].tooltip
    assert isinstance(outcome, Finished), outcome
    expected = emu.expected_text(PROMPT, 60)
    assert window.last_reply() == expected == record.text
    assert len(emu.generations) == 1
    assert_idle_again(window)


def test_stalled_stream_keeps_the_text_coming_by_polling(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=60.0, faults=Faults(stall_after_events=2, stall_seconds=1.5))
    window, screen = open_window(qtbot, make_window, emu)
    # The server keeps generating during the stall but ends only after the stream resumed, as
    # the fault means; the 1.5 s stall is the client's whole time to notice and poll.
    ServerFollowsTheWindow(emu, window, steps=6,
                           hold_last_until=lambda: len(emu.last_generation.sent_events) > 2)
    generate(qtbot, window, max_length=60)
    qtbot.waitUntil(lambda: emu.last_generation is not None, timeout=WAIT_MS)
    record = emu.last_generation
    screen.record_of_generation = record
    outcome = screen.wait_outcome(qtbot)

    # Text the stream had not delivered yet was shown, in more than one step.
    ahead = [n for n, sent, _state in screen.text_events if n > sent >= 0]
    assert len(set(ahead)) >= 2, screen.text_events
    assert any("polling" in s.tooltip for s in screen.with_word("streaming"))
    assert isinstance(outcome, Finished), outcome
    assert window.last_reply() == emu.expected_text(PROMPT, 60) == record.text
    assert len(emu.generations) == 1
    assert not screen.retries
    assert_idle_again(window)


def test_server_without_stream_endpoint_is_polled_and_remembered(
        qtbot, make_emulator, make_window, requests_log) -> None:
    emu = make_emulator(token_rate=40.0, faults=Faults(no_stream_endpoint=True))
    window, screen = open_window(qtbot, make_window, emu)
    generate(qtbot, window, max_length=30)
    outcome = screen.wait_outcome(qtbot)

    assert isinstance(outcome, Finished) and outcome.mode == "poll", outcome
    expected = emu.expected_text(PROMPT, 30)
    assert window.last_reply() == expected
    polling = [s for s in screen.with_word("streaming") if "polling" in s.tooltip]
    assert polling and "cannot stream" in polling[0].tooltip
    assert len({s.generated for s in polling if s.why == "text"}) >= 2  # text came while it ran
    assert [r.endpoint for r in emu.generations] == ["sync"]
    assert requests_log() == 2  # the stream request (404), then the synchronous one

    # A second generation in the same window polls at once: no stream request first.
    emu.wait_idle(5.0)
    generate(qtbot, window, prompt=" Once more", max_length=10)
    story = f"{PROMPT}{expected} Once more"
    outcome = screen.wait_outcome(qtbot, n=2)
    assert window.controller.generation.mode == "poll"
    assert isinstance(outcome, Finished) and outcome.mode == "poll", outcome
    assert window.last_reply() == emu.expected_text(story, 10)
    assert [r.endpoint for r in emu.generations] == ["sync", "sync"]
    assert requests_log() == 3
    assert window.output.plain_text() == story + emu.expected_text(story, 10)
    assert_idle_again(window)


def test_queued_behind_another_client(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=60.0, multiuser=1)
    window, screen = open_window(qtbot, make_window, emu)
    other = threading.Thread(target=httpx.post, args=(emu.url + "/api/v1/generate",),
                             kwargs={"json": {"prompt": "other", "max_length": 60,
                                              "genkey": "OTHER"}, "timeout": 30})
    other.start()
    try:
        qtbot.waitUntil(lambda: emu.last_generation is not None
                        and emu.last_generation.state == "running", timeout=WAIT_MS)
        generate(qtbot, window, max_length=10)
        outcome = screen.wait_outcome(qtbot)
    finally:
        other.join(10)

    queued = screen.with_word("queued")
    assert queued, screen.words()
    assert queued[0].generated == "" and "another generation" in queued[0].tooltip
    assert not screen.retries and not any(s.error for s in screen.shown)
    assert isinstance(outcome, Finished), outcome
    assert window.last_reply() == emu.expected_text(PROMPT, 10)
    theirs, ours = emu.generations
    assert theirs.genkey == "OTHER" and theirs.aborted_by is None
    assert ours.prompt == PROMPT and ours.started_at >= theirs.ended_at
    assert_idle_again(window)


# ---------------------------------------------------------------------------------- stop
def test_esc_stops_on_the_server_and_generate_works_again_at_once(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=40.0)
    window, screen = open_window(qtbot, make_window, emu)
    generate(qtbot, window, max_length=400)
    qtbot.waitUntil(lambda: len(window.last_reply()) > 10, timeout=WAIT_MS)
    qtbot.keyClick(window.editor, Qt.Key.Key_Escape)
    outcome = screen.wait_outcome(qtbot)

    record = emu.generations[0]
    assert isinstance(outcome, Finished) and outcome.stopped, outcome
    qtbot.waitUntil(lambda: record.state == "done", timeout=WAIT_MS)
    assert record.aborted_by == "abort"
    assert emu.wait_idle(5.0), "nothing may keep generating on the server after Stop"
    partial = window.last_reply()
    assert partial and partial == record.text == outcome.text
    assert len(record.tokens) < 400
    assert "stopped" in window.status_message()
    assert_idle_again(window)

    # Right away: the controller waits for the server to be idle, so no "busy" error.
    generate(qtbot, window, prompt=" Next", max_length=8)
    second = screen.wait_outcome(qtbot, n=2)
    story = f"{PROMPT}{partial} Next"
    assert isinstance(second, Finished) and not second.stopped, second
    assert window.last_reply() == emu.expected_text(story, 8)
    assert window.output.plain_text() == story + second.text
    assert not screen.retries and not any(isinstance(o, Failed) for o in screen.outcomes)
    assert emu.generations[1].prompt == story and emu.generations[1].aborted_by is None
    assert emu.wait_idle(5.0)


# ---------------------------------------------------------------------------------- server down
def test_server_down_while_idle_then_back_reconnects_by_itself(
        qtbot, make_emulator, make_window, closed_port_url) -> None:
    window = make_window(closed_port_url, health_interval=0.3)
    screen = Screen(window)
    qtbot.waitUntil(lambda: window.status.countdown.isVisible(), timeout=WAIT_MS)
    assert window.state_text() == "offline"
    assert window.status.indicator.dot.color().name() == ERROR_COLOR
    tooltip = tooltip_text(window.status.indicator)
    assert "Cannot reach the server" in tooltip and closed_port_url in tooltip
    message = window.status_message()
    assert "Cannot reach the server" in message
    assert re.search(r"reconnecting (in \d+ s|now) \(attempt \d+\)", message), message
    assert window.status.reconnect_button.isVisible()
    assert window.status.model.text() == "no model"

    port = int(closed_port_url.rsplit(":", 1)[1])
    make_emulator(port=port, model="Back-Again-7B")
    qtbot.waitUntil(lambda: window.status.model.text() == "koboldcpp/Back-Again-7B",
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    assert not window.status.countdown.isVisible()
    assert not window.status.reconnect_button.isVisible()
    assert window.status.message.property("error") is False
    assert "Cannot reach" not in window.status_message()
    words = screen.words()
    assert words.index("offline") < len(words) - 1 - words[::-1].index("connected")


def test_server_lost_while_idle_and_reconnect_now_skips_the_wait(
        qtbot, make_emulator, make_window, monkeypatch) -> None:
    # Reconnect attempts 30 s apart: only "Reconnect now" can bring the window back quickly.
    slow = RetryPolicy(base_delay=30.0, min_delay=30.0, max_delay=30.0, max_attempts=10**9)
    monkeypatch.setattr(controller_module, "ConnectionMonitor",
                        functools.partial(ConnectionMonitor, policy=slow))
    emu = make_emulator(model="First-7B")
    window, screen = open_window(qtbot, make_window, emu, health_interval=0.3)
    assert window.status.model.text() == "koboldcpp/First-7B"
    port = emu.port

    emu.stop()
    qtbot.waitUntil(lambda: window.status.countdown.isVisible(), timeout=WAIT_MS)
    assert window.state_text() == "offline"
    assert window.status.indicator.dot.color().name() == ERROR_COLOR
    assert tooltip_text(window.status.indicator).strip()  # a readable reason, not blank
    assert window.status.model.text() == "no model"
    assert re.search(r"reconnecting in (30|29) s \(attempt 1\)", window.status_message()), \
        window.status_message()
    assert window.status.reconnect_button.isVisible()

    make_emulator(port=port, model="Second-13B")
    qtbot.wait(600)
    assert window.state_text() == "offline"  # it waits its 30 s...
    qtbot.mouseClick(window.status.reconnect_button, Qt.MouseButton.LeftButton)
    # ...unless asked: well within the 30 s.
    qtbot.waitUntil(lambda: window.status.model.text() == "koboldcpp/Second-13B", timeout=5000)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=5000)
    assert not window.status.countdown.isVisible()
    assert not window.status.reconnect_button.isVisible()
    assert window.status.message.property("error") is False
