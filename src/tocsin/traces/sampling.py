"""Which spans of an export to keep. Pure: the caller supplies the ratio and what is left of
the minute's budget.

Every span of a trace that has an error in this export is kept, whatever the ratio or budget:
errors are what failure isolation is for. Other traces are kept by their trace id, so every
node and every export makes the same decision for a trace and sampled traces stay whole.
"""

from __future__ import annotations

from typing import Any

ERROR = 2


def sampled(trace_id: str, ratio: float) -> bool:
    if ratio >= 1.0:
        return True
    if ratio <= 0.0:
        return False
    return int(trace_id[:16], 16) / 2**64 < ratio


def select(
    rows: list[dict[str, Any]], ratio: float, budget_left: int | None
) -> tuple[list[dict[str, Any]], int]:
    """The rows to store and how many were dropped; `budget_left` None means unlimited."""
    failing = {row["trace_id"] for row in rows if row["status_code"] == ERROR}
    kept: list[dict[str, Any]] = []
    spent = 0
    for row in rows:
        if row["trace_id"] in failing:
            kept.append(row)
            continue
        if not sampled(row["trace_id"], ratio):
            continue
        if budget_left is not None and spent >= budget_left:
            continue
        spent += 1
        kept.append(row)
    return kept, len(rows) - len(kept)
