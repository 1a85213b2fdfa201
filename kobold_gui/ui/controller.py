"""The single bridge between the asyncio core and Qt: owns the client and the running task.

The story is the context (issue 7): `generate()` appends what the user typed as a "user"
segment, builds the request from the story (`core.request.plan_generation`, the one planner
`kobold-story continue`, the meter and "Show request" share: memory and world info in the
server's `memory` field, the newest text that fits the budget, its start kept stable between
turns by a CutAnchor per story) and streams the reply into "model"
segments at the end of the story, "recovered" ones for text fetched after a broken stream. The
story is the only copy of the text; views follow its change events.

Core events arrive through a callback on the qasync loop and leave as Qt signals. Streamed text
is batched and emitted at most once per frame, so the view's cost does not follow the token rate.
UI state changes synchronously in `generate()`/`stop()` (a task cancelled before its first step
never runs its own cleanup; see stack-notes pitfall 9). Every background task it starts (closing
an old client, asking for the final speed) is kept in one set and cancelled and awaited by
`aclose()`, so nothing outlives the window: no open socket, no coroutine left unawaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from ..core import errors as E
from ..core import settings as sampler_settings
from ..core.context import (
    Budget,
    BudgetError,
    ContextOverflow,
    ContextPlan,
    CutAnchor,
    TokenCache,
)
from ..core.events import (
    ConnectionState,
    Event,
    Failed,
    Finished,
    GenerationMode,
    Recovered,
    Retrying,
    ServerChanged,
    StateChanged,
    Tokens,
)
from ..core.generation import Generation, ResilienceConfig
from ..core.logs import register_secret
from ..core.memory import release_freed_memory
from ..core.monitor import ConnectionMonitor
from ..core.reply import ReplyWriter, reply_meta
from ..core.request import plan_generation, user_turn
from ..core.serverinfo import DEFAULT_URL, ServerInfo
from ..core.stats import LiveStats, meta_stats, rate
from ..core.story import (
    Author,
    RangeEdited,
    Reset,
    Story,
    StoryEvent,
)
from ..core.worldinfo import random_roll

if TYPE_CHECKING:
    from ..core.protocol import KoboldClient

log = logging.getLogger(__name__)

FRAME_MS = 16
#: how often the live statistics tick while nothing arrives (elapsed time, prompt processing)
STATS_MS = 250
#: How often the context is planned again when the story changed while it was being counted.
MAX_REPLANS = 5


class Controller(QObject):
    #: (ConnectionState value, detail)
    state_changed = Signal(str, str)
    #: ServerInfo after a successful connect, None when the server is gone
    server_changed = Signal(object)
    #: a person-readable message about the last connection or generation problem
    error = Signal(str)
    #: (user text, continues): `continues` when there is no new input (the story carries on)
    generation_started = Signal(str, bool)
    #: nothing was sent: (why, the user's text to give back to the prompt box)
    not_sent = Signal(str, str)
    #: the ContextPlan of the generation being sent (tokens used and available)
    context_planned = Signal(object)
    #: story position where the growing reply starts (None: nothing grows): the view keeps
    #: everything from there on read-only
    reply_start_changed = Signal(object)
    #: batched generated text, in order
    text_appended = Signal(str)
    #: text recovered from the server after a broken stream
    text_recovered = Signal(str)
    #: core Retrying event
    retrying = Signal(object)
    #: core Finished event
    generation_finished = Signal(object)
    #: core Failed event
    generation_failed = Signal(object)
    busy_changed = Signal(bool)
    #: generated tokens per second (estimate while streaming, server's figure at the end)
    speed_changed = Signal(float)
    #: the address or password was refused before anything was sent (a KoboldError)
    input_rejected = Signal(object)
    #: core.stats.LiveStats of the running generation (a few times a second), and once more
    #: when it ended, with its finish reason (the figures its reply keeps)
    stats_changed = Signal(object)

    def __init__(self, url: str = DEFAULT_URL, password: str | None = None,
                 parent: QObject | None = None, *,
                 config: ResilienceConfig | None = None,
                 health_interval: float | None = None) -> None:
        super().__init__(parent)
        self.config = config or ResilienceConfig()
        self._health_interval = health_interval
        self._client: KoboldClient | None = None
        self._monitor: ConnectionMonitor | None = None
        #: "poll" once a server turned out unable to stream
        self._mode: GenerationMode = "stream"
        self._task: asyncio.Task[Any] | None = None
        #: from `generate()` until `_on_done` handled the task's end (see `busy`)
        self._running = False
        self._generation: Generation | None = None
        self._pending: list[str] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FRAME_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._last_flush = 0.0
        #: ticks the elapsed time in the live statistics while a generation runs
        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(STATS_MS)
        self._stats_timer.timeout.connect(self._emit_stats)
        self.server: ServerInfo | None = None
        self.state = ConnectionState.OFFLINE
        self.url = url
        self.password = password
        self._stream_chars = 0
        self._stream_events = 0
        #: the document the next generation reads and writes
        self._story = Story()
        #: the story the running generation writes into (kept if the window's is replaced)
        self._target: Story | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._user_text = ""
        self._not_sent_reason = ""
        #: the running reply: author of its last segment, its segments and characters
        #: writes the running generation's text into the story (None while idle)
        self._reply: ReplyWriter | None = None
        self._started_wall: float = 0.0
        #: token counts per exact text, for one server and model
        self._token_cache = TokenCache()
        self._cache_key: tuple[str, str | None] | None = None
        #: per story, where the previous request's story text started (the stable cut)
        self._anchors: weakref.WeakKeyDictionary[Story, CutAnchor] = \
            weakref.WeakKeyDictionary()
        #: world info's probability rolls: a preview rolls a copy, so "Show request" shows
        #: what the next Generate really sends
        self._wi_random = random.Random()
        #: background work this controller owns (see `_spawn`); awaited by `aclose()`
        self._tasks: set[asyncio.Task[Any]] = set()
        #: the subset that must run to its end (closing an old client), never cancelled
        self._finishing: set[asyncio.Task[Any]] = set()
        self._closing = False

    def _spawn(self, coro: Coroutine[Any, Any, Any], *, must_finish: bool = False) -> None:
        """Run `coro` as a task this controller owns; optional work is dropped once closing."""
        if self._closing and not must_finish:
            coro.close()  # never started, so never "never awaited"
            return
        try:
            task = asyncio.ensure_future(coro)
        except RuntimeError:  # no loop any more (a timer firing while the app tears down)
            coro.close()
            return
        self._tasks.add(task)
        if must_finish:
            self._finishing.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._finishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # ------------------------------------------------------------------ connection
    @property
    def client(self) -> KoboldClient | None:
        return self._client

    def connect_to(self, url: str, password: str | None = None) -> None:
        """(Re)connect: a client for `url`, and a monitor that keeps its state true."""
        register_secret(password)
        from ..core.protocol import KoboldClient  # httpx: first needed here, after the frame

        try:
            client = KoboldClient(url, password)
        except E.KoboldError as err:
            # Refused before anything was sent (a bad address or password): say so, and do not
            # pretend to connect. The window shows it at the field.
            self._set_state(ConnectionState.OFFLINE, err.message)
            self.input_rejected.emit(err)
            self.error.emit(err.message)
            return
        old_client, old_monitor = self._client, self._monitor
        self._client, self.url, self.password = client, client.url, password
        self._mode = "stream"
        if self.server is not None:
            self.server = None
            self.server_changed.emit(None)  # the old server's model, context and speed go
        if self._health_interval is None:
            self._monitor = ConnectionMonitor(client, self._on_monitor_event)
        else:
            self._monitor = ConnectionMonitor(client, self._on_monitor_event,
                                              interval=self._health_interval)
        if old_monitor is not None or old_client is not None:
            self._spawn(self._close_old(old_monitor, old_client), must_finish=True)
        if not self.busy:
            self._monitor.start()

    def test_server(self, url: str, password: str | None,
                    done: Callable[[ServerInfo | None, str], None]) -> None:
        """Ask the server at `url` who it is, without switching to it (the server panel's
        Test button): `done(info, "")` or `done(None, why)`, later, on the Qt thread."""
        from ..core.protocol import KoboldClient

        try:
            client = KoboldClient(url, password)
        except E.KoboldError as err:
            done(None, err.message)
            return

        async def probe() -> None:
            try:
                info: ServerInfo | None = await client.connect()
                why = ""
            except E.KoboldError as err:
                info, why = None, err.message
            finally:
                await client.aclose()
            done(info, why)

        self._spawn(probe())

    async def _close_old(self, monitor: ConnectionMonitor | None,
                         client: KoboldClient | None) -> None:
        if monitor is not None:
            await monitor.aclose()
        if client is not None and not (self.busy and self._generation is not None
                                       and self._generation.client is client):
            await client.aclose()

    def reconnect_now(self) -> None:
        """Try the server again now (the user pressed "Reconnect now" or Ctrl+R).

        While connected this identifies the server afresh (it may have restarted with another
        model), so the answer is always a new state: connected or the reason why not.
        """
        if self.busy:
            return  # the running generation reports the state, and owns the client
        if self._monitor is None or self.server is not None:
            self.connect_to(self.url, self.password)
        else:
            self._monitor.start()
            self._monitor.reconnect_now()

    def _on_monitor_event(self, event: Event) -> None:
        if isinstance(event, ServerChanged):
            info = event.info
            self.server = info
            self.server_changed.emit(info)
            if event.info is None and self._monitor is not None and self._monitor.last_error:
                self.error.emit(self._monitor.last_error.message)
        elif self.busy:
            return  # the running generation reports the state
        elif isinstance(event, StateChanged):
            self._set_state(event.state, event.detail)
        elif isinstance(event, Retrying):
            self.retrying.emit(event)

    # ------------------------------------------------------------------ generation
    @property
    def server_features(self) -> sampler_settings.ServerFeatures | None:
        """What the connected server reads (None: not connected yet)."""
        if self.server is None:
            return None
        return sampler_settings.ServerFeatures.from_version_info(self.server.version)

    @property
    def busy(self) -> bool:
        """A generation runs or its end is not handled yet. The task is done a moment before
        that: its done-callback (`_on_done`) runs on a later turn of the event loop, which
        on a loaded machine can come after whoever polls this (a retry not put back yet, the
        reply's record not written, the next generation let start on top of it)."""
        return self._running

    @property
    def story(self) -> Story:
        return self._story

    def set_story(self, story: Story) -> None:
        """Generate from `story` from now on (the window replaced its document). A running
        generation is stopped: its text still lands in the story it started in."""
        self.stop()
        self._story = story
        self._emit_reply_start()  # nothing grows in this one

    def generate(self, user_text: str, settings: Mapping[str, Any]) -> bool:
        """Start a generation from the story; False (and an `error` signal) if it cannot start.

        `user_text` (verbatim) becomes a "user" segment at the end once the request fits;
        empty: carry the story on (Continue). Counting the tokens takes round trips, so the
        request is built in the task: if it cannot fit, `not_sent` gives the text back.
        """
        if self.busy:
            return False
        if self._client is None:
            self.connect_to(self.url, self.password)
            if self._client is None:
                return False
        try:
            values = sampler_settings.validate(settings)
            budget = Budget(int(values["max_context_length"]), int(values["max_length"]))
        except E.KoboldError as err:
            self.error.emit(err.message)
            return False
        except BudgetError as err:
            self.error.emit(f"Not sent: {err}")
            return False
        if self._monitor is not None:
            self._monitor.pause()
        self._generation = None
        self._target = self._story
        self._user_text = user_text
        self._not_sent_reason = "Stopped before anything was sent"
        self._reply = ReplyWriter(self._story)
        self._started_wall = time.time()
        self._stream_chars = 0
        self._stream_events = 0
        self._unsubscribe = self._target.subscribe(self._on_story_event)
        self._task = asyncio.ensure_future(self._run(self._target, user_text, dict(settings),
                                                     budget))
        self._task.add_done_callback(self._on_done)
        self._running = True
        self.busy_changed.emit(True)
        self._emit_reply_start()
        self.generation_started.emit(user_text, not user_text)
        self._stats_timer.start()
        self._emit_stats()
        return True

    def retry(self, settings: Mapping[str, Any]) -> bool:
        """Generate the story's last reply again: the version shown is kept among the reply's
        alternatives (every one, no limit) and the new one streams into its place, one undo
        step. A retry that writes nothing (not sent, failed, stopped at once) puts the shown
        version back. False (and an `error`) when there is no reply at the end to retry."""
        if self.busy:
            return False
        story = self._story
        reply = story.last_reply()
        if reply is None:
            self.error.emit("There is no reply at the end of the story to retry")
            return False
        writer = ReplyWriter.retry(story, reply)
        if not self.generate("", settings):
            writer.cancel_if_empty()
            return False
        self._reply = writer  # the task has not started yet: it writes through this one;
        return True  # `_on_done` puts the shown version back if it wrote nothing

    async def _run(self, story: Story, user_text: str, settings: dict[str, Any],
                   budget: Budget) -> Finished | Failed | None:
        """Plan the context, then append the user's text and run the generation.

        None: nothing was sent (`_not_sent_reason` says why)."""
        client = self._client
        assert client is not None
        try:
            plan, body_settings = await self._plan(client, story, user_text, settings)
            generation = Generation(client, plan.prompt, body_settings, self._on_event,
                                    config=self.config, mode=self._mode)
        except (ContextOverflow, BudgetError, E.KoboldError) as err:
            message = err.message if isinstance(err, E.KoboldError) else str(err)
            self._not_sent_reason = f"Not sent: {message}"
            return None
        # No await since the plan was checked against the story: nothing changed it since.
        if user_text:
            story.append_segment("user", user_turn(story, user_text))
            self._emit_reply_start()
        self._generation = generation
        self.context_planned.emit(plan)
        return await generation.run()

    async def _plan(self, client: Any, story: Story, user_text: str,
                    settings: Mapping[str, Any], *,
                    preview: bool = False) -> tuple[ContextPlan, dict[str, Any]]:
        """The request for `story` plus `user_text` (core/request.py), planned again if the
        user edited the story while it was being counted. A preview leaves the cut anchor and
        the world-info rolls as they were, so the next real plan comes out the same."""
        url = getattr(client, "url", None)
        key = (str(url), self.server.model if self.server else None)
        if key != self._cache_key:  # tokenizers differ between models
            self._token_cache, self._cache_key = TokenCache(), key
        anchor = self._anchors.setdefault(story, CutAnchor())
        result: tuple[ContextPlan, dict[str, Any]] | None = None
        for _ in range(MAX_REPLANS):
            revision = story.revision
            trial, rolls = copy.copy(anchor), copy.deepcopy(self._wi_random)
            result = await plan_generation(story, user_text, settings, client,
                                           self._token_cache, self.server, anchor=trial,
                                           roll=random_roll(rolls))
            if story.revision == revision:
                break
        assert result is not None
        if not preview or anchor.start is None:
            # a first preview sets the cut the next ones (and Generate) keep while it fits,
            # so the meter's next plan costs one count of the prompt (core/context.py)
            anchor.__dict__.update(trial.__dict__)
        if not preview:
            self._wi_random.setstate(rolls.getstate())
        return result

    async def preview(self, user_text: str,
                      settings: Mapping[str, Any]) -> tuple[ContextPlan, dict[str, Any]]:
        """What the next Generate with `user_text` would send (the meter, "Show request"),
        without sending it. Without a connection the token counts are estimates. Raises the
        reason it would not be sent (InvalidSettings, BudgetError, ContextOverflow)."""
        client: Any = self._client if self._client is not None else _NoServer()
        return await self._plan(client, self._story, user_text, settings, preview=True)

    def request_preview(self, user_text: str, settings: Mapping[str, Any],
                        done: Callable[[tuple[ContextPlan, dict[str, Any]] | None, str], None],
                        ) -> None:
        """`preview` in the background, as a task this controller owns (cancelled when it
        closes); `done(result, "")`, or `done(None, why it would not be sent)`."""
        async def run() -> None:
            try:
                result = await self.preview(user_text, settings)
            except (ContextOverflow, BudgetError) as err:
                done(None, str(err))
            except E.KoboldError as err:
                done(None, err.message)
            else:
                done(result, "")

        self._spawn(run())

    @property
    def reply_start(self) -> int | None:
        """Where the growing reply starts in the story (None: nothing generates into it)."""
        if not self.busy or self._target is None or self._target is not self._story:
            return None
        return len(self._target) - (self._reply.chars if self._reply is not None else 0)

    def _emit_reply_start(self) -> None:
        self.reply_start_changed.emit(self.reply_start)

    def _on_story_event(self, event: StoryEvent) -> None:
        """An edit before the growing reply moves where it starts."""
        if isinstance(event, RangeEdited | Reset) and self.busy:
            if isinstance(event, Reset) and self._reply is not None:
                # Undo/load while streaming: the reply may be gone; go on in a new segment.
                self._reply.start_afresh()
            self._emit_reply_start()

    def stop(self) -> None:
        """Stop the generation, or cancel its pending retry; the text so far is kept. While
        the request is still being built, nothing is sent."""
        if not self.busy:
            return
        if self._generation is not None:
            self._generation.stop()
        elif self._task is not None:
            self._task.cancel()

    cancel_retry = stop

    @property
    def generation(self) -> Generation | None:
        return self._generation

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Tokens):
            self._pending.append(event.text)
            self._stream_chars += len(event.text)
            self._stream_events += event.events
            if not self._flush_timer.isActive():
                # At most one append a frame, but no wait when the last one is a frame ago:
                # a 0 ms timer fires once this read's events are all in, so an idle window
                # shows a token at once and a flood still costs one append a frame.
                since = (time.monotonic() - self._last_flush) * 1000
                self._flush_timer.start(max(0, int(FRAME_MS - since)))
        elif isinstance(event, Recovered):
            self._flush()
            self._append_reply("recovered", event.text)
            self.text_recovered.emit(event.text)
        elif isinstance(event, StateChanged):
            self._set_state(event.state, event.detail)
        elif isinstance(event, Retrying):
            self.retrying.emit(event)
        elif isinstance(event, Finished | Failed):
            self._flush()
            # Outcome signals are sent from the done-callback, after the task has ended.

    def _flush(self) -> None:
        self._flush_timer.stop()
        self._last_flush = time.monotonic()
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._append_reply("model", text)
            self.text_appended.emit(text)
            self._emit_speed()
            self._emit_stats()

    def _append_reply(self, author: Author, text: str) -> None:
        """Into the reply's last segment, or a new one when the author changes (text
        recovered after a break, the stream after it): all one undo step."""
        if self._target is not None and self._reply is not None:
            self._reply.append(author, text)

    def _finish_reply(self, finish_reason: str) -> None:
        """Record on the reply's segments how they were made and how the generation ended."""
        reply, g = self._reply, self._generation
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._target = None
        self._stats_timer.stop()
        if g is None:
            return
        meta = reply_meta(g, model=self.server.model if self.server is not None else None,
                          started_at=self._started_wall, finish_reason=finish_reason,
                          streamed_tokens=self._stream_events)
        self.stats_changed.emit(meta_stats(meta))
        if reply is not None and reply.segments:
            reply.finish(meta)

    def live_stats(self) -> LiveStats | None:
        """The running generation's figures so far (None while idle)."""
        if not self.busy:
            return None
        g = self._generation
        if g is None or g.started_at is None:
            return LiveStats()  # still planning the context: nothing sent yet
        now = time.monotonic()
        first = g.first_token_at
        return LiveStats(tokens=self._stream_events, elapsed=now - g.started_at,
                         time_to_first_token=None if first is None else first - g.started_at,
                         tokens_per_second=rate(self._stream_events, first, now))

    def _emit_stats(self) -> None:
        stats = self.live_stats()
        if stats is not None:
            self.stats_changed.emit(stats)

    def _emit_speed(self) -> None:
        g = self._generation
        if g is None or g.first_token_at is None:
            return
        span = time.monotonic() - g.first_token_at
        if span > 0.25 and self._stream_events > 1:
            # KoboldCPP sends about one token per event on real models.
            self.speed_changed.emit(self._stream_events / span)

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._flush()
        g = self._generation
        outcome: Finished | Failed | None
        if task.cancelled():
            outcome = Finished(g.text, "stopped", stopped=True) if g is not None else None
        elif task.exception() is not None:
            exc = task.exception()
            log.error("generation task crashed", exc_info=exc)
            outcome = Failed(E.KoboldError(f"Internal error: {exc}"), g.text if g else "")
        else:
            outcome = task.result()
        reply = self._reply
        if isinstance(outcome, Finished):
            self._finish_reply("stopped" if outcome.stopped else outcome.finish_reason)
        else:
            self._finish_reply("failed")
        if reply is not None:
            # a retry that wrote nothing (not sent, failed, stopped at once): the version
            # shown before is back before anyone hears the controller is idle
            reply.cancel_if_empty()
        self._running = False
        release_freed_memory()  # what the stream freed (chunks, buffers), back to the system
        self.busy_changed.emit(False)
        self.reply_start_changed.emit(None)
        if g is not None and g.mode == "poll":
            self._mode = "poll"  # do not try streaming again on this server
        if self._monitor is not None:
            self._monitor.start()
            self._monitor.resume(self.state)
        if outcome is None:  # it did not fit, or Stop came while it was being built
            self.not_sent.emit(self._not_sent_reason, self._user_text)
            return
        if isinstance(outcome, Failed):
            if not task.cancelled() and task.exception() is None:
                self.error.emit(outcome.error.message)
            self.generation_failed.emit(outcome)
        else:
            self.generation_finished.emit(outcome)
            if not outcome.stopped and g is not None and not task.cancelled():
                self._spawn(self._final_speed(g.client))

    async def _final_speed(self, client: KoboldClient) -> None:
        """The server knows the real speed of the last generation (ms per token)."""
        try:
            perf = await client.perf()
        except (E.KoboldError, RuntimeError):  # RuntimeError: the user switched servers
            return
        if perf.last_eval > 0 and client is self._client:
            self.speed_changed.emit(1000.0 / perf.last_eval)

    def _set_state(self, state: ConnectionState, detail: str = "") -> None:
        self.state = state
        self.state_changed.emit(state.value, detail)

    # ------------------------------------------------------------------ shutdown
    async def aclose(self) -> None:
        """Stop what runs, wait for it and for every task it owns, close the client (call
        before the loop closes)."""
        self._closing = True
        if self.busy:
            assert self._task is not None
            self.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5.0)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        await asyncio.sleep(0)  # let the generation's done-callback run while we are here
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                if task not in self._finishing:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
        if self._monitor is not None:
            await self._monitor.aclose()
        self._flush_timer.stop()
        self._stats_timer.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        # A request cancelled above leaves httpcore's body reader to the loop's async-generator
        # finaliser, which schedules its close as a task: let it run while the loop still does.
        for _ in range(3):
            await asyncio.sleep(0)



class _NoServer:
    """Counts nothing: the plan falls back to its (flagged) estimate."""

    url = None

    async def tokencount(self, text: str, special: bool = True) -> int:
        raise E.ConnectionFailed("not connected to a server")
