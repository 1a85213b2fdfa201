"""Live statistics of a generation, and their words: what the status bar shows while a reply
streams and what each reply keeps in its GenerationMeta afterwards (issue 8 #7).

Why a core module: the window and `kobold-story continue` record the same figures, and the
words for them must be the same everywhere. No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .story import GenerationMeta

#: A reply's ending (`GenerationMeta.finish_reason`) in two or three words.
FINISH_SHORT: dict[str, str] = {
    "stop_sequence": "stop sequence",
    "eos": "end of sequence",
    "length": "length limit",
    "stop": "end of sequence or stop sequence",  # the server could not tell which
    "stopped": "stopped",
    "failed": "failed",
    "interrupted": "interrupted",
    "aborted": "stopped",
}


def finish_short(reason: str | None) -> str | None:
    if reason is None:
        return None
    return FINISH_SHORT.get(reason, reason)


@dataclass(frozen=True)
class LiveStats:
    """A generation's figures so far. Seconds are counted from sending the request."""

    #: tokens generated so far (stream events while streaming, the server's count after)
    tokens: int = 0
    elapsed: float = 0.0
    time_to_first_token: float | None = None
    tokens_per_second: float | None = None
    #: None while it runs; then GenerationMeta.finish_reason ("stop_sequence", "eos", …)
    finish_reason: str | None = None

    @property
    def running(self) -> bool:
        return self.finish_reason is None


def rate(tokens: int | None, first_token: float | None, end: float) -> float | None:
    """Tokens per second from the first token to `end` (monotonic seconds); None when there
    is too little to measure (one token, or no time)."""
    if not tokens or first_token is None:
        return None
    span = end - first_token
    if span <= 0 or tokens < 2:
        return None
    return tokens / span


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def stats_parts(tokens: int | None, tokens_per_second: float | None,
                time_to_first_token: float | None, elapsed: float | None) -> list[str]:
    parts = []
    if tokens is not None:
        parts.append(f"{tokens:,} token{'' if tokens == 1 else 's'}")
    if tokens_per_second is not None and tokens_per_second > 0:
        parts.append(f"{tokens_per_second:.1f} tok/s")
    if time_to_first_token is not None:
        parts.append(f"first token {_seconds(time_to_first_token)}")
    if elapsed is not None:
        parts.append(_seconds(elapsed))
    return parts


def stats_text(stats: LiveStats | GenerationMeta) -> str:
    """"42 tokens · 8.3 tok/s · first token 0.42 s · 3.1 s", then the ending once known; the
    same words for a reply's record (empty when it kept no figures, e.g. imported)."""
    parts = stats_parts(stats.tokens, stats.tokens_per_second, stats.time_to_first_token,
                        stats.elapsed)
    ending = finish_short(stats.finish_reason)
    if ending:
        parts.append(ending)
    return " · ".join(parts)


def meta_stats(meta: GenerationMeta) -> LiveStats:
    return LiveStats(tokens=meta.tokens or 0, elapsed=meta.elapsed or 0.0,
                     time_to_first_token=meta.time_to_first_token,
                     tokens_per_second=meta.tokens_per_second,
                     finish_reason=meta.finish_reason or "stop")
