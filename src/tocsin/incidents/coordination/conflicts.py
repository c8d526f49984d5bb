"""Which task conflicts are still waiting for the commander.

A conflict is a pair of tasks; the pair is unordered (A against B is B against A), a task cannot
conflict with itself, and a pair can only be open once. A conflict closes when a decision names
it; nothing else closes it, so finishing one of the tasks does not quietly settle the argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Conflict:
    id: int
    task_id: int
    other_task_id: int
    decision_id: int | None


def pair(task_id: int, other_task_id: int) -> tuple[int, int]:
    """The same key whichever side raised the conflict."""
    return (min(task_id, other_task_id), max(task_id, other_task_id))


def open_conflicts(conflicts: Iterable[Conflict], decision_ids: Iterable[int]) -> list[Conflict]:
    """Conflicts no recorded decision has settled, oldest first."""
    decided = set(decision_ids)
    return sorted(
        (c for c in conflicts if c.decision_id is None or c.decision_id not in decided),
        key=lambda c: c.id,
    )


def refusal(task_id: int, other_task_id: int, existing: Iterable[Conflict]) -> str | None:
    """Why the pair cannot be marked as conflicting now, or None when it can."""
    if task_id == other_task_id:
        return "a task cannot conflict with itself"
    key = pair(task_id, other_task_id)
    for conflict in existing:
        if conflict.decision_id is None and pair(conflict.task_id, conflict.other_task_id) == key:
            return "these tasks already have an open conflict"
    return None
