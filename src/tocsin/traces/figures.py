"""Request, error and duration figures of a service over a window. Pure arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[int], q: float) -> int | None:
    """Nearest-rank percentile: always a value that was observed, never an interpolation."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Figures:
    requests: int
    errors: int
    rate_per_second: float
    error_percent: float
    p50_us: int | None
    p95_us: int | None
    p99_us: int | None


def figures(durations_us: Sequence[int], errors: int, window_seconds: float) -> Figures:
    values = sorted(durations_us)
    count = len(values)
    return Figures(
        requests=count,
        errors=errors,
        rate_per_second=count / window_seconds if window_seconds > 0 else 0.0,
        error_percent=100.0 * errors / count if count else 0.0,
        p50_us=percentile(values, 50),
        p95_us=percentile(values, 95),
        p99_us=percentile(values, 99),
    )
