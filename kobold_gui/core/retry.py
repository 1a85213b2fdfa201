"""When and how long to wait before trying again.

Exponential backoff with full jitter (a random wait between 0 and the capped exponential), so
several clients that lost the same server do not all come back at the same instant. Which
failures are worth retrying is decided by the error class (`KoboldError.retryable`): busy and
network failures are, a wrong password or bad input are not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import KoboldError


@dataclass(frozen=True)
class RetryPolicy:
    #: first backoff ceiling, seconds
    base_delay: float = 1.0
    #: no wait is ever longer than this
    max_delay: float = 30.0
    #: attempts after the first try; 0 = never retry
    max_attempts: int = 8
    multiplier: float = 2.0
    #: a jittered wait is never shorter than this (keeps a busy server from being hammered)
    min_delay: float = 0.2

    def ceiling(self, attempt: int) -> float:
        """The largest wait before retry number `attempt` (1-based)."""
        return min(self.max_delay, self.base_delay * self.multiplier ** max(0, attempt - 1))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = self.ceiling(attempt)
        low = min(self.min_delay, ceiling)
        return (rng or random).uniform(low, ceiling)

    def should_retry(self, error: KoboldError, attempt: int) -> bool:
        """`attempt` is the number of the retry that would come next (1-based)."""
        return error.retryable and attempt <= self.max_attempts
