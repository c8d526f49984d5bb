"""How often the bridge owes an update, when the next one is due, what a missed one leads to,
and how well an incident kept its rhythm.

Pure: times come in as arguments, so every rule can be checked exhaustively.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

BRIDGE_GROUPS = ("bridge", "responders", "engineering")
"""Policy communication groups that speak for the people on the bridge, in order of preference."""

FALLBACK_MINUTES: dict[str, int | None] = {"sev1": 30, "sev2": 60, "sev3": 240, "sev4": None}
"""Cadence when a severity's policy names none of the bridge groups; None means no cadence."""


def cadence_minutes(severity: str, expectations: Iterable[tuple[str, int]]) -> int | None:
    """The bridge cadence of a severity: its policy's bridge group, else the fallback."""
    by_group = dict(expectations)
    for group in BRIDGE_GROUPS:
        if group in by_group:
            return by_group[group]
    return FALLBACK_MINUTES.get(severity)


def next_due(
    opened_at: datetime,
    last_update_at: datetime | None,
    promised: datetime | None,
    cadence: timedelta | None,
) -> datetime | None:
    """When the next update is owed.

    An update may promise an earlier next update; it can never push the next one past the
    cadence, so a severity raised after the promise pulls the due time forward.
    """
    if cadence is None:
        return None
    anchor = last_update_at or opened_at
    due = anchor + cadence
    if last_update_at is not None and promised is not None:
        due = min(due, promised)
    return due


class Stage(StrEnum):
    ON_TRACK = "on-track"
    REMIND = "remind"
    """the due time has passed: remind the Incident Commander"""
    ESCALATE = "escalate"
    """a second cadence has passed too"""


def stage(now: datetime, due: datetime, cadence: timedelta) -> Stage:
    if now >= due + cadence:
        return Stage.ESCALATE
    if now >= due:
        return Stage.REMIND
    return Stage.ON_TRACK


def next_check(now: datetime, due: datetime, cadence: timedelta, recheck: timedelta) -> datetime:
    """When to look again: the next stage change, but at least every `recheck` (on a fixed grid,
    so checks planned by different paths meet at the same time and collapse into one)."""
    epoch = datetime(2000, 1, 1, tzinfo=now.tzinfo)
    grid = epoch + ((now - epoch) // recheck + 1) * recheck
    return min([grid, *(t for t in (due, due + cadence) if t > now)])


@dataclass(frozen=True)
class Adherence:
    due: int
    """updates owed so far: one answered by each update, plus each due time that passed"""
    on_time: int
    late: int
    missed: int
    """due times that passed with no update at all before the next one came"""
    late_by: tuple[timedelta, ...]
    """for each late update, how long after its due time it came"""

    @property
    def worst_late_by(self) -> timedelta | None:
        return max(self.late_by) if self.late_by else None


def adherence(
    opened_at: datetime,
    until: datetime,
    cadence: timedelta | None,
    updates: Sequence[datetime],
) -> Adherence:
    """Measure updates against the cadence from the incident's opening until `until` (its
    resolution, or now).

    Each update restarts the clock. Between two updates, the first due time is either met (on
    time) or answered late by the next update (late, by how much); every further due time that
    passed in that gap counted as missed. After the last update, due times already passed are
    missed. So due == on_time + late + missed.
    """
    if cadence is None or cadence <= timedelta(0):
        return Adherence(0, 0, 0, 0, ())
    on_time = late = missed = 0
    late_by: list[timedelta] = []
    anchor = opened_at
    for at in sorted(u for u in updates if opened_at <= u <= until):
        passed = _passed(at - anchor, cadence)
        if passed == 0:
            on_time += 1
        else:
            late += 1
            late_by.append(at - (anchor + cadence))
            missed += passed - 1
        anchor = at
    missed += _passed(until - anchor, cadence)
    return Adherence(on_time + late + missed, on_time, late, missed, tuple(late_by))


def _passed(span: timedelta, cadence: timedelta) -> int:
    """Due times strictly inside `span` (a due time met exactly is met)."""
    if span <= timedelta(0):
        return 0
    return int((span - timedelta(microseconds=1)) // cadence)
