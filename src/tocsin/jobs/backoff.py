"""When to try a failed job again, and when to stop trying.

Pure arithmetic (no clock, no randomness of its own, no database) so that its promises can be
checked exhaustively: delays grow exponentially up to a cap, and jitter spreads the retries
of many jobs that failed together (a chat platform outage) instead of sending them back in
one synchronised wave.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    factor: float = 2.0
    cap_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.factor < 1 or self.cap_seconds < self.base_seconds:
            raise ValueError("need base_seconds > 0, factor >= 1 and cap_seconds >= base_seconds")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        delay = self.base_seconds
        for _ in range(attempt - 1):
            delay *= self.factor
            if delay >= self.cap_seconds:
                return self.cap_seconds
        return min(delay, self.cap_seconds)

    def delay(self, attempt: int, jitter: float) -> float:
        """Seconds to wait before the next attempt, given a uniform random `jitter` in [0, 1).

        "Equal jitter": at least half the ceiling, so retries never collapse to zero, and at
        most the ceiling, so the cap still bounds them.
        """
        if not 0.0 <= jitter < 1.0:
            raise ValueError("jitter must be in [0, 1)")
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + jitter * ceiling / 2


DEFAULT_POLICY = RetryPolicy()


def verdict(attempt: int, max_attempts: int, *, permanent: bool = False) -> Verdict:
    """After a failed attempt: try again, or dead-letter the job for a person to look at."""
    if permanent or attempt >= max_attempts:
        return Verdict.DEAD
    return Verdict.RETRY
