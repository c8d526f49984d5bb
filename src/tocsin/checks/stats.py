"""Uptime and latency percentiles over a window of results, and the up/down state machine.

Pure arithmetic so the numbers on the check page can be property-tested.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


def uptime_percent(outcomes: Sequence[bool]) -> float | None:
    """Share of passing runs in percent; None with no runs (not 100: no data is not uptime)."""
    if not outcomes:
        return None
    return 100.0 * sum(1 for ok in outcomes if ok) / len(outcomes)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: always a value that was really observed."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Transition:
    status: Status
    consecutive_failures: int
    went_down: bool = False
    recovered: bool = False


def advance(status: Status, consecutive_failures: int, ok: bool, threshold: int) -> Transition:
    """Down after `threshold` failures in a row; up again at the first pass.

    One pass is enough to recover (as PagerDuty and Uptime Kuma do): a flapping target
    alerts again after another `threshold` failures rather than staying silently down.
    """
    if ok:
        return Transition(Status.UP, 0, recovered=status is Status.DOWN)
    failures = consecutive_failures + 1
    if status is not Status.DOWN and failures >= threshold:
        return Transition(Status.DOWN, failures, went_down=True)
    return Transition(status, failures)
