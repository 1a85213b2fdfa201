"""Decisions about a request from the server's facts: is it complete, how many tokens are left,
why did it end, and what the continuation after a break looks like. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: `/api/extra/perf` `stop_reason` (KoboldCPP 1.76 native values) -> `Finished.finish_reason`
STOP_REASONS: dict[int, str] = {0: "length", 1: "eos", 2: "stop_sequence"}


@dataclass(frozen=True)
class ServerFacts:
    """What perf said about the server's last generation, and whether it was ours."""

    ours: bool
    last_token_count: int = 0
    stop_reason: int = -1


def perf_is_ours(idle: bool, total_gens: int, gens_before: int | None, has_text: bool) -> bool:
    """Does perf's "last generation" describe our (finished) request?

    Yes if exactly one generation completed since we sent it, or if the server is idle and
    `check` by our genkey has text (check answers only for the last started generation).
    """
    if gens_before is not None and total_gens == gens_before + 1:
        return True
    return idle and has_text


def finish_reason(stream_reason: str | None, facts: ServerFacts | None, trimmed: bool) -> str:
    """The true ending: perf's stop_reason when it describes our request, else the best guess.

    KoboldCPP says "length" for a stop sequence; only perf tells the two apart.
    """
    if facts is not None and facts.ours and facts.stop_reason in STOP_REASONS:
        return STOP_REASONS[facts.stop_reason]
    if trimmed:
        return "stop_sequence"  # the client saw the stop sequence itself
    if stream_reason == "length" or stream_reason is None:
        return "length"
    return "stop"  # "stop": end of sequence or (newer servers) a stop sequence


def remaining_tokens(max_length: int, facts: ServerFacts | None, counted: int | None,
                     held_chars: int) -> int:
    """Tokens still to generate after a broken request.

    Exact when the server's last generation was ours (perf), else counted by the server's
    tokenizer (`tokencount`), else estimated (about 4 characters a token).
    """
    if facts is not None and facts.ours:
        if facts.stop_reason in (1, 2):
            return 0  # it ended by itself: nothing more to generate
        return max_length - facts.last_token_count
    if counted is not None:
        return max_length - counted
    return max_length - max(held_chars // 4, 1 if held_chars else 0)


def continuation_body(body: dict[str, Any], prompt: str, text_so_far: str, remaining: int,
                      genkey: str) -> dict[str, Any]:
    """The same settings, the prompt extended by all text so far, a fresh genkey."""
    out = dict(body)
    out.update(prompt=prompt + text_so_far, max_length=remaining, genkey=genkey)
    return out


def event_limit(max_length: int) -> int:
    """Most events a stream of `max_length` tokens can carry (each carries at least one token),
    plus a margin for the final event and servers that send an empty event or two.
    """
    return max(0, max_length) + 8 + max_length // 16
