"""Token bucket: how many requests an integration may send per minute.

A misconfigured sender (a loop, a storm of duplicate webhooks) must not starve the others.
Each integration gets a bucket holding up to `per_minute` tokens, refilled continuously at
`per_minute` tokens a minute; a request takes one token or is refused with the time after
which one will be there. Refusing happens before anything is read or stored, so a refused
request changes nothing and the sender (Alertmanager, Prometheus, PagerDuty clients) simply
retries it later: nothing accepted is ever dropped.

Pure arithmetic on a time in seconds that the caller provides; `RateLimiter` keeps the
buckets of one process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float
    """When `tokens` was computed, in the caller's seconds."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    bucket: Bucket
    retry_after: int
    """Whole seconds to wait before a token is available; 0 when allowed."""


def full(per_minute: int, now: float) -> Bucket:
    return Bucket(float(per_minute), now)


def take(bucket: Bucket, *, per_minute: int, now: float) -> Decision:
    """Take one token if there is one. Time going backwards is read as no time passing."""
    if per_minute < 1:
        raise ValueError("per_minute must be at least 1")
    rate = per_minute / 60.0
    elapsed = max(0.0, now - bucket.at)
    tokens = min(float(per_minute), bucket.tokens + elapsed * rate)
    if tokens >= 1.0:
        return Decision(True, Bucket(tokens - 1.0, max(now, bucket.at)), 0)
    wait = (1.0 - tokens) / rate
    return Decision(False, Bucket(tokens, max(now, bucket.at)), max(1, math.ceil(wait)))


class RateLimiter:
    """The buckets of one process, keyed by integration. Each node of a cluster keeps its
    own, so with N nodes behind a load balancer an integration may send up to N times its
    limit: the limit protects each node, it is not a billing quota."""

    def __init__(self) -> None:
        self._buckets: dict[int, tuple[int, Bucket]] = {}

    def check(self, key: int, *, per_minute: int, now: float) -> Decision:
        limit, bucket = self._buckets.get(key, (per_minute, full(per_minute, now)))
        if limit != per_minute:
            # The limit was changed: start from a full bucket of the new size.
            bucket = full(per_minute, now)
        decision = take(bucket, per_minute=per_minute, now=now)
        self._buckets[key] = (per_minute, decision.bucket)
        return decision

    def forget(self, key: int) -> None:
        self._buckets.pop(key, None)
