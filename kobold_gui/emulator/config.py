"""Settings of the emulated server and the faults it can inject.

Both are plain dataclasses so tests can build them inline and the CLI can fill them from flags.
Defaults reproduce a stock KoboldCpp 1.76 (`--multiuser 1`, no password, 4096 context).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

MODEL_PREFIX = "koboldcpp/"


@dataclass
class Faults:
    """Faults injected by the emulator; all off by default.

    The emulator reads ``emulator.faults`` once when a request arrives, so replacing the object
    between requests changes behaviour for the next request only. Stream faults compose: e.g.
    ``crlf`` + ``comments`` + ``split_utf8`` all apply to the same event bytes, and
    ``stall_after_events`` can be combined with ``drop_after_events`` (stall first, then drop).
    Event counts ("after N events") count the data events actually sent on that stream
    (garbage/comment blocks are not counted). ``0`` means "right after the headers".
    """

    #: Stream: after N events close the socket abruptly (FIN, no final event). The generation
    #: is then aborted as on a real client disconnect; its text so far stays readable via check.
    drop_after_events: int | None = None
    #: Stream: like ``drop_after_events`` but the close is a TCP RST (SO_LINGER 0).
    reset_after_events: int | None = None
    #: Stream: after N events stop writing for ``stall_seconds`` (the generation keeps running
    #: into its buffer, so check shows the text growing), then resume with the backlog.
    stall_after_events: int | None = None
    stall_seconds: float = 0.0
    #: The first K generation requests (sync or stream) get an immediate 503 "busy" as captured,
    #: whatever the state of the lock. Counted from the moment this Faults object is installed.
    busy_first: int = 0
    #: Extra seconds of prompt processing before the first token (silence on the wire;
    #: perf shows idle 0 and check returns "").
    prompt_delay: float = 0.0
    #: Stream: a buffering proxy. Headers go out at once, every event byte is held back and
    #: written in one piece after the final event, just before the close.
    buffer_stream: bool = False
    #: Stream: before each real event write one malformed block, cycling through
    #: ``data: {not json``, an unknown ``event: ping`` carrying data, and a ``message`` whose JSON
    #: lacks ``token``. The real tokens still all arrive in valid events.
    garbage_events: bool = False
    #: Stream: every ``garbage_every``-th data event goes out unreadable IN PLACE OF the real
    #: one, so its text is really lost on the wire (check still has it). Comma-separated kinds,
    #: used in turn: ``json`` (invalid JSON), ``no_token`` (the text under another key),
    #: ``number`` (a number as the token), ``list`` (the token inside a list). The final event
    #: is never replaced. Empty = off.
    garbage_instead: str = ""
    garbage_every: int = 3
    #: The model ignores ``max_length`` (and EOS): it generates until aborted or disconnected,
    #: so a stream never sends its final event by itself.
    endless_stream: bool = False
    #: Stream: JSON is written with raw UTF-8 (not \\u escapes) and every event is written in
    #: several pieces: between the ``event:`` and ``data:`` lines, after ``data: ``, and inside
    #: every multi-byte character (or mid-JSON when there is none), with ``split_gap`` seconds
    #: and TCP_NODELAY between pieces so the client really sees partial reads.
    split_utf8: bool = False
    split_gap: float = 0.002
    #: Stream: CRLF line endings instead of LF in the SSE body.
    crlf: bool = False
    #: Stream: a ``: keep-alive`` comment block before every event.
    comments: bool = False
    #: ``/api/extra/generate/stream`` does not exist (404 with an empty body after the busy
    #: check, like any unknown POST path of a server without the endpoint).
    no_stream_endpoint: bool = False
    #: Stream: after N events the whole server "restarts": every connection is closed, the
    #: port refuses connections for ``restart_seconds``, then the emulator listens again on the
    #: same port with a fresh state (check no longer knows the old text, counters reset).
    restart_after_events: int | None = None
    restart_seconds: float = 0.5
    #: If set, every check (GET/POST) answers this text instead of the real one.
    check_text_override: str | None = None
    #: Stream: seconds to wait (after owning the lock) before sending the response headers,
    #: i.e. a slow time-to-first-byte that is not a queue.
    headers_delay: float = 0.0
    #: Sync generate: run the generation but close the connection without any response.
    drop_sync_response: bool = False

    @classmethod
    def field_types(cls) -> dict[str, str]:
        """Field name -> annotation string; used by the CLI to coerce ``--fault NAME=VALUE``."""
        return {f.name: str(f.type) for f in dataclasses.fields(cls)}


@dataclass
class EmulatorConfig:
    """How the emulated server is set up (the equivalent of koboldcpp's command line)."""

    host: str = "127.0.0.1"
    #: 0 = pick a free port (read it back from ``Emulator.port``).
    port: int = 0
    #: Seed of the deterministic text generator; same seed + same context = same tokens.
    seed: int = 0
    #: Reported model name; "koboldcpp/" is prepended when missing, as the real server does.
    model: str = "koboldcpp/emulated-7B"
    #: ``--contextsize``: true max context; ``max_context_length`` in requests is capped to it.
    context_length: int = 4096
    #: Generated tokens per second; 0 or inf = as fast as possible (a whole reply in one event).
    token_rate: float = 50.0
    #: Simulated prompt processing: fixed seconds plus seconds per (uncached) prompt token.
    prompt_delay: float = 0.0
    prompt_seconds_per_token: float = 0.0
    #: Stream: silence between the headers and the first poll of the token buffer (0.35 s real).
    first_poll_delay: float = 0.35
    #: Stream: interval between polls; each poll with new text sends one event (20 ms real).
    poll_interval: float = 0.02
    #: ``--password``; None or "" = unprotected. Whitespace is trimmed like the real server.
    password: str | None = None
    #: ``--multiuser N``: 0 = 503 when busy, 1 = up to 6 waiters (1.76 default), N>1 = N-1.
    multiuser: int = 1
    #: Probability per step that the model emits EOS (finish_reason "stop"); deterministic.
    eos_chance: float = 0.0
    #: Emulate newer servers (1.8x+): JSON null intermediate finish_reason, a separate empty
    #: final event, and the ``X-Accel-Buffering: no`` header.
    json_null_finish: bool = False
    #: Server default for ``max_length`` when a request omits it.
    default_max_length: int = 180
    #: ``--hordegenlen`` / horde max context as reported by /api/v1/config/*.
    horde_max_length: int = 400
    horde_max_context: int = 4096
    #: ``--server-version``: the KoboldCpp version reported by /api/extra/version. From 1.88
    #: on the emulator also reports the newer feature flags and fills instruct placeholders.
    version: str = "1.76"
    #: 1.88+: the chat adapter whose tags replace ``{{[INPUT]}}``… (None: ChatML)
    adapter: dict[str, str] | None = None
    #: Each fresh reply (the prompt ends with an assistant tag or a chat name cue) starts with
    #: this text, e.g. a thinking model's "<think>\nHmm.\n</think>\n"; "" = off.
    reply_prefix: str = ""
    #: Reported as ``quiet`` in /api/extra/perf.
    quiet: bool = False
    #: Stream end: seconds between the final event and closing the socket, then seconds until
    #: the lock is released (real: ~0.15 + ~0.05).
    stream_close_delay: float = 0.15
    lock_release_delay: float = 0.05
    #: Pause before an abort that actually aborted replies (real: 0.1 s).
    abort_reply_delay: float = 0.1
    #: Pause after a stream write failed (disconnect) before giving up (real: 0.2 s).
    disconnect_delay: float = 0.2
    faults: Faults = field(default_factory=Faults)

    @property
    def model_name(self) -> str:
        """Name as served by /api/v1/model (always with the ``koboldcpp/`` prefix)."""
        name = self.model or "inactive"
        return name if name.startswith(MODEL_PREFIX) else MODEL_PREFIX + name

    @property
    def effective_password(self) -> str:
        """The password after the server's whitespace trim; "" when unprotected."""
        return (self.password or "").strip()
