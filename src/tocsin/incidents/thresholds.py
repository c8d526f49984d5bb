"""Severity thresholds (S1.3): has the incident crossed one of its policy's escalation or
post-mortem triggers, why, and when will the next duration trigger fire.

A threshold is crossed when the measure reaches it (≥), and any one crossed is enough, as the
policy says. Duration is the impact's duration: from impact start (the declaration when that is
unknown) until mitigation, else technical resolution, else still running. Once the impact has
ended the duration stops growing, so no further duration crossing is scheduled.

The next crossing time is exact (clock start + threshold), so a durable timer can be scheduled
for that very moment instead of polling; evaluating again at that moment finds it crossed.
Impact measures (customers, revenue, error rate) change only when someone or something updates
them, so they are re-evaluated on each update rather than timed.

Pure: times come in as arguments ("now" included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from tocsin.incidents.kpis import Milestones
from tocsin.incidents.milestones import Milestone
from tocsin.policy.schemas import SeverityPolicyIn, Thresholds

MINUTE = timedelta(minutes=1)


class Measure(StrEnum):
    DURATION = "duration"
    CUSTOMERS_AFFECTED = "customers_affected"
    REVENUE_PER_HOUR = "revenue_per_hour"
    ERROR_RATE = "error_rate"


@dataclass(frozen=True)
class Impact:
    """The incident's current impact; None = not known, which never crosses anything."""

    customers_affected: int | None = None
    revenue_per_hour: Decimal | None = None
    """in the organisation's reporting currency"""
    error_rate_percent: Decimal | None = None


@dataclass(frozen=True)
class Crossing:
    measure: Measure
    value: Decimal
    """the current value (minutes for duration)"""
    threshold: Decimal
    reason: str
    """e.g. "duration 47 min ≥ 30 min" """


@dataclass(frozen=True)
class ThresholdCheck:
    crossed: tuple[Crossing, ...]
    next_duration_crossing_at: datetime | None
    """when the duration threshold will be crossed, if it is set, not yet crossed and the
    impact is still going on"""

    @property
    def triggered(self) -> bool:
        return bool(self.crossed)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(c.reason for c in self.crossed)


@dataclass(frozen=True)
class PostmortemCheck:
    required: bool
    reasons: tuple[str, ...]
    crossed: tuple[Crossing, ...]
    next_duration_crossing_at: datetime | None


@dataclass(frozen=True)
class ThresholdReport:
    measured_from: Milestone | None
    """which clock the duration uses; None when neither impact start nor declaration is known"""
    duration: timedelta | None
    escalation: ThresholdCheck
    postmortem: PostmortemCheck

    @property
    def next_check_at(self) -> datetime | None:
        """The earliest moment a re-evaluation would find something new (for a timer)."""
        moments = [
            m
            for m in (
                self.escalation.next_duration_crossing_at,
                self.postmortem.next_duration_crossing_at,
            )
            if m is not None
        ]
        return min(moments, default=None)


def impact_window(milestones: Milestones) -> tuple[Milestone, datetime, datetime | None] | None:
    """(clock, start, end or None while the impact lasts)."""
    clock = milestones.clock()
    if clock is None:
        return None
    return clock[0], clock[1], milestones.mitigated or milestones.resolved


def _number(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _decimal(value: float | int) -> Decimal:
    return Decimal(str(value))


def crossings(
    thresholds: Thresholds, impact: Impact, duration: timedelta | None
) -> tuple[Crossing, ...]:
    """Which of `thresholds` the impact and duration reach, each with its reason."""
    found: list[Crossing] = []
    if thresholds.duration_minutes is not None and duration is not None:
        limit = timedelta(minutes=thresholds.duration_minutes)
        if duration >= limit:
            minutes = duration // MINUTE
            found.append(
                Crossing(
                    Measure.DURATION,
                    Decimal(minutes),
                    Decimal(thresholds.duration_minutes),
                    f"duration {minutes:,} min ≥ {thresholds.duration_minutes:,} min",
                )
            )
    customers, customers_limit = impact.customers_affected, thresholds.customers_affected
    if customers is not None and customers_limit is not None and customers >= customers_limit:
        found.append(
            Crossing(
                Measure.CUSTOMERS_AFFECTED,
                Decimal(customers),
                Decimal(customers_limit),
                f"customers affected {customers:,} ≥ {customers_limit:,}",
            )
        )
    if thresholds.revenue_per_hour is not None and impact.revenue_per_hour is not None:
        limit_money = _decimal(thresholds.revenue_per_hour)
        if impact.revenue_per_hour >= limit_money:
            found.append(
                Crossing(
                    Measure.REVENUE_PER_HOUR,
                    impact.revenue_per_hour,
                    limit_money,
                    f"revenue per hour {_number(impact.revenue_per_hour)} ≥ {_number(limit_money)}",
                )
            )
    if thresholds.error_rate_percent is not None and impact.error_rate_percent is not None:
        limit_rate = _decimal(thresholds.error_rate_percent)
        if impact.error_rate_percent >= limit_rate:
            found.append(
                Crossing(
                    Measure.ERROR_RATE,
                    impact.error_rate_percent,
                    limit_rate,
                    f"error rate {_number(impact.error_rate_percent)} % ≥ {_number(limit_rate)} %",
                )
            )
    return tuple(found)


def _next_duration_crossing(
    thresholds: Thresholds, start: datetime | None, ended: bool, now: datetime
) -> datetime | None:
    if thresholds.duration_minutes is None or start is None or ended:
        return None
    moment = start + timedelta(minutes=thresholds.duration_minutes)
    return moment if moment > now else None


def evaluate(
    policy: SeverityPolicyIn, impact: Impact, milestones: Milestones, now: datetime
) -> ThresholdReport:
    """The severity policy's escalation and post-mortem triggers, as of `now`."""
    window = impact_window(milestones)
    measured_from: Milestone | None = None
    start: datetime | None = None
    end: datetime | None = None
    duration: timedelta | None = None
    if window is not None:
        measured_from, start, end = window
        duration = max(timedelta(0), (end or now) - start)
    ended = end is not None

    escalation = ThresholdCheck(
        crossings(policy.escalation, impact, duration),
        _next_duration_crossing(policy.escalation, start, ended, now),
    )

    if policy.postmortem.always:
        postmortem = PostmortemCheck(
            required=True,
            reasons=("the severity's policy asks for a post-mortem of every incident",),
            crossed=(),
            next_duration_crossing_at=None,
        )
    else:
        crossed = crossings(policy.postmortem.when, impact, duration)
        postmortem = PostmortemCheck(
            required=bool(crossed),
            reasons=tuple(c.reason for c in crossed),
            crossed=crossed,
            next_duration_crossing_at=_next_duration_crossing(
                policy.postmortem.when, start, ended, now
            ),
        )
    return ThresholdReport(measured_from, duration, escalation, postmortem)
