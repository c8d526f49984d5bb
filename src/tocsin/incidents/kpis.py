"""Incident KPIs (S1.1): how long each response milestone took, against the severity's targets.

Every figure is measured from impact start, because that is when customers began to suffer;
measuring from declaration would reward late declarations. When impact start is not known, the
figures fall back to the declaration and say so (`measured_from`), so nobody compares the two
kinds of figure without noticing. Time to detect is not measured in that case: detection comes
before declaration, so a detection time counted from the declaration says nothing.

A figure is *met* when its milestone was reached within the target, *breached* once the target
has passed without it (or it was reached late), and *running* while the milestone is still ahead
and time is left. Elapsed time only grows, so a breached figure never becomes met again.

Aggregates (MTTD, MTTA, MTTM, MTTR) count only incidents that reached the milestone and whose
clock is the one asked for; the others are excluded and counted, so a low mean cannot hide a
pile of still-open incidents.

Pure: times come in as arguments ("now" included), nothing here reads a clock or a database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from tocsin.incidents.milestones import Milestone
from tocsin.policy.schemas import KpiTargets

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Milestones:
    """When each milestone happened; None = not reached (or not recorded) yet."""

    impact_started: datetime | None = None
    detected: datetime | None = None
    declared: datetime | None = None
    acknowledged: datetime | None = None
    mitigated: datetime | None = None
    resolved: datetime | None = None
    business_resolved: datetime | None = None

    @classmethod
    def from_times(cls, times: Mapping[Milestone, datetime]) -> Milestones:
        """From the incident's milestone times; the ones KPIs do not use are ignored."""
        return cls(**{f.name: times.get(Milestone(f.name)) for f in fields(cls)})

    def at(self, milestone: Milestone) -> datetime | None:
        value: datetime | None = getattr(self, milestone.value, None)
        return value

    def clock(self) -> tuple[Milestone, datetime] | None:
        """The moment figures are measured from: impact start, else the declaration."""
        if self.impact_started is not None:
            return Milestone.IMPACT_STARTED, self.impact_started
        if self.declared is not None:
            return Milestone.DECLARED, self.declared
        return None


class Kpi(StrEnum):
    TIME_TO_DETECT = "time_to_detect"
    TIME_TO_ACKNOWLEDGE = "time_to_acknowledge"
    TIME_TO_MITIGATE = "time_to_mitigate"
    TIME_TO_RESOLVE = "time_to_resolve"
    """technical resolution"""
    TIME_TO_BUSINESS_RESOLVE = "time_to_business_resolve"

    @property
    def milestone(self) -> Milestone:
        return _KPI_MILESTONE[self]

    @property
    def mean_name(self) -> str:
        """The name the aggregate goes by on dashboards."""
        return _MEAN_NAMES[self]

    def target(self, targets: KpiTargets) -> timedelta | None:
        minutes: int | None = getattr(targets, f"{self.value}_minutes")
        return None if minutes is None else timedelta(minutes=minutes)


_KPI_MILESTONE = {
    Kpi.TIME_TO_DETECT: Milestone.DETECTED,
    Kpi.TIME_TO_ACKNOWLEDGE: Milestone.ACKNOWLEDGED,
    Kpi.TIME_TO_MITIGATE: Milestone.MITIGATED,
    Kpi.TIME_TO_RESOLVE: Milestone.RESOLVED,
    Kpi.TIME_TO_BUSINESS_RESOLVE: Milestone.BUSINESS_RESOLVED,
}
_MEAN_NAMES = {
    Kpi.TIME_TO_DETECT: "MTTD",
    Kpi.TIME_TO_ACKNOWLEDGE: "MTTA",
    Kpi.TIME_TO_MITIGATE: "MTTM",
    Kpi.TIME_TO_RESOLVE: "MTTR",
    Kpi.TIME_TO_BUSINESS_RESOLVE: "MTTR (business)",
}


class KpiStatus(StrEnum):
    MET = "met"
    BREACHED = "breached"
    RUNNING = "running"
    """milestone still ahead, target not yet passed"""
    NO_TARGET = "no_target"
    """the severity sets no target for this figure: measured, not judged"""
    UNMEASURED = "unmeasured"
    """no clock to measure from (see `note`)"""


@dataclass(frozen=True)
class KpiFigure:
    kpi: Kpi
    milestone: Milestone
    """the milestone that stops this clock"""
    measured_from: Milestone | None
    """impact_started, or declared when impact start is unknown; None when unmeasured"""
    started_at: datetime | None
    reached_at: datetime | None
    elapsed: timedelta | None
    """start to milestone, or start to now while the milestone is still ahead"""
    target: timedelta | None
    status: KpiStatus
    time_left: timedelta | None = None
    """while running: how long until the target passes"""
    overrun: timedelta | None = None
    """when breached: how far past the target (so far, if still running)"""
    deadline: datetime | None = None
    """when the target passes (or passed)"""
    note: str = ""

    @property
    def done(self) -> bool:
        return self.reached_at is not None


def _judge(
    elapsed: timedelta, target: timedelta | None, reached: bool
) -> tuple[KpiStatus, timedelta | None, timedelta | None]:
    """(status, time left, overrun): reaching the target exactly still counts as met."""
    if target is None:
        return KpiStatus.NO_TARGET, None, None
    if elapsed > target:
        return KpiStatus.BREACHED, None, elapsed - target
    if reached:
        return KpiStatus.MET, None, None
    return KpiStatus.RUNNING, target - elapsed, None


def figure(kpi: Kpi, milestones: Milestones, targets: KpiTargets, now: datetime) -> KpiFigure:
    """One KPI for one incident, as of `now`."""
    milestone = kpi.milestone
    target = kpi.target(targets)
    reached_at = milestones.at(milestone)
    clock = milestones.clock()
    if clock is None or (kpi is Kpi.TIME_TO_DETECT and clock[0] is not Milestone.IMPACT_STARTED):
        note = (
            "impact start unknown: detection cannot be measured from the declaration"
            if clock is not None
            else "neither impact start nor declaration is known"
        )
        return KpiFigure(
            kpi, milestone, None, None, reached_at, None, target, KpiStatus.UNMEASURED, note=note
        )
    measured_from, started_at = clock
    notes: list[str] = []
    if measured_from is Milestone.DECLARED:
        notes.append("impact start unknown: measured from the declaration")
    stop = reached_at if reached_at is not None else now
    elapsed = stop - started_at
    if elapsed < timedelta(0):
        # A milestone recorded before the clock start (or a "now" behind it): count it as
        # immediate rather than report a negative duration, and leave a trace of why.
        notes.append(f"{milestone if reached_at else 'now'} precedes {measured_from}: counted as 0")
        elapsed = timedelta(0)
    status, time_left, overrun = _judge(elapsed, target, reached_at is not None)
    return KpiFigure(
        kpi=kpi,
        milestone=milestone,
        measured_from=measured_from,
        started_at=started_at,
        reached_at=reached_at,
        elapsed=elapsed,
        target=target,
        status=status,
        time_left=time_left,
        overrun=overrun,
        deadline=None if target is None else started_at + target,
        note="; ".join(notes),
    )


def figures(milestones: Milestones, targets: KpiTargets, now: datetime) -> list[KpiFigure]:
    """All five KPIs of one incident, in milestone order."""
    return [figure(kpi, milestones, targets, now) for kpi in Kpi]


# --- aggregates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentTimes:
    """What aggregation needs to know about one incident."""

    ref: str
    """the incident's identifier, for drill-down"""
    severity: str
    milestones: Milestones
    groups: Mapping[str, str] = field(default_factory=dict)
    """any other grouping keys, e.g. {"business_unit": "retail", "impact": "revenue"}"""


@dataclass(frozen=True)
class Summary:
    """One aggregate (e.g. MTTA) over a group of incidents."""

    kpi: Kpi
    name: str
    """MTTD, MTTA, MTTM, MTTR or MTTR (business)"""
    measured_from: str
    """which clock the sample used"""
    count: int
    """incidents in the sample"""
    mean: timedelta | None
    median: timedelta | None
    p90: timedelta | None
    """nearest-rank 90th percentile: 90 % of the sample took at most this long"""
    missing_milestone: int
    """excluded: the milestone is not reached (or not recorded)"""
    missing_clock: int
    """excluded: no impact start (and the fallback was not allowed, or nothing to fall back to)"""
    fell_back: int = 0
    """included, measured from the declaration because impact start was unknown"""


def _median(ordered: list[timedelta]) -> timedelta:
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _p90(ordered: list[timedelta]) -> timedelta:
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def summarise(
    kpi: Kpi, incidents: Iterable[IncidentTimes], *, allow_declared_clock: bool = False
) -> Summary:
    """Mean, median and p90 of one KPI over completed incidents.

    By default only incidents with a known impact start count, so every figure in the sample
    uses the same clock; `allow_declared_clock` lets the declaration stand in, and says how
    many did.
    """
    sample: list[timedelta] = []
    missing_milestone = missing_clock = fell_back = 0
    for incident in incidents:
        milestones = incident.milestones
        reached = milestones.at(kpi.milestone)
        if reached is None:
            missing_milestone += 1
            continue
        clock = milestones.clock()
        usable = clock is not None and (
            clock[0] is Milestone.IMPACT_STARTED
            or (allow_declared_clock and kpi is not Kpi.TIME_TO_DETECT)
        )
        if clock is None or not usable:
            missing_clock += 1
            continue
        if clock[0] is Milestone.DECLARED:
            fell_back += 1
        sample.append(max(timedelta(0), reached - clock[1]))
    sample.sort()
    count = len(sample)
    clock_name = Milestone.IMPACT_STARTED.value
    if fell_back:
        clock_name = f"{clock_name} (declared for {fell_back})"
    return Summary(
        kpi=kpi,
        name=kpi.mean_name,
        measured_from=clock_name,
        count=count,
        mean=sum(sample, timedelta(0)) / count if count else None,
        median=_median(sample) if count else None,
        p90=_p90(sample) if count else None,
        missing_milestone=missing_milestone,
        missing_clock=missing_clock,
        fell_back=fell_back,
    )


def aggregate(
    incidents: Iterable[IncidentTimes],
    key: Callable[[IncidentTimes], K | None],
    *,
    allow_declared_clock: bool = False,
) -> dict[K, dict[Kpi, Summary]]:
    """Every KPI's summary per group; incidents whose key is None belong to no group."""
    groups: dict[K, list[IncidentTimes]] = {}
    for incident in incidents:
        group = key(incident)
        if group is not None:
            groups.setdefault(group, []).append(incident)
    return {
        group: {
            kpi: summarise(kpi, members, allow_declared_clock=allow_declared_clock) for kpi in Kpi
        }
        for group, members in groups.items()
    }


def by_severity(
    incidents: Iterable[IncidentTimes], *, allow_declared_clock: bool = False
) -> dict[str, dict[Kpi, Summary]]:
    return aggregate(incidents, lambda i: i.severity, allow_declared_clock=allow_declared_clock)


def by_group(
    incidents: Iterable[IncidentTimes], name: str, *, allow_declared_clock: bool = False
) -> dict[str, dict[Kpi, Summary]]:
    """By one of the incidents' grouping keys, e.g. by_group(incidents, "business_unit")."""
    return aggregate(
        incidents, lambda i: i.groups.get(name), allow_declared_clock=allow_declared_clock
    )
