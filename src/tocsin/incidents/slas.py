"""Customer SLAs for one incident (S1.2): per affected tier, response and resolution clocks,
the availability budget the incident eats, and the credits owed.

The clocks run from impact start (the declaration when impact start is unknown), like the KPIs:
a contract promises a response to the customer's problem, not to our noticing it. A clock is
*met* once its milestone came in time, *breached* once the budget is gone without it (or it came
late), *at risk* once a configurable share of the budget is used, and *on track* before that.

Availability is counted over a period (by default the calendar month, as contracts are written)
from the union of downtime intervals, so two incidents overlapping in time take the minutes they
share only once. Credits use the catalog's own ladder (`tocsin.catalog.sla.credit_for`), the same
one the customer's credit page shows, so the two never disagree.

Pure: times come in as arguments ("now" included).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from tocsin.catalog.schemas import Sla
from tocsin.catalog.sla import HUNDRED, Credit, availability_percent, credit_for
from tocsin.incidents.kpis import Milestones
from tocsin.incidents.milestones import Milestone

DEFAULT_AT_RISK_FRACTION = 0.75
"""a clock with three quarters of its budget used is worth a warning"""


class SlaStatus(StrEnum):
    MET = "met"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    NOT_COVERED = "not_covered"
    """the tier promises nothing for this severity"""
    UNMEASURED = "unmeasured"
    """neither impact start nor declaration is known"""


_WORST_FIRST = (
    SlaStatus.BREACHED,
    SlaStatus.AT_RISK,
    SlaStatus.ON_TRACK,
    SlaStatus.MET,
    SlaStatus.UNMEASURED,
    SlaStatus.NOT_COVERED,
)


def worst(statuses: Iterable[SlaStatus]) -> SlaStatus:
    """The status to show for several clocks together."""
    present = set(statuses)
    return next((s for s in _WORST_FIRST if s in present), SlaStatus.NOT_COVERED)


@dataclass(frozen=True)
class SlaClock:
    """A response or resolution SLA for one tier."""

    milestone: Milestone
    """the milestone that stops the clock"""
    measured_from: Milestone | None
    budget: timedelta | None
    """the tier's response or resolution time for the severity"""
    status: SlaStatus
    elapsed: timedelta | None = None
    deadline: datetime | None = None
    time_left: timedelta | None = None
    """while the clock runs and the budget lasts"""
    overrun: timedelta | None = None
    used_fraction: float | None = None
    """share of the budget used (above 1 once breached)"""


def sla_clock(
    milestone: Milestone,
    budget_minutes: int | None,
    milestones: Milestones,
    now: datetime,
    at_risk_fraction: float = DEFAULT_AT_RISK_FRACTION,
) -> SlaClock:
    if not 0 < at_risk_fraction <= 1:
        raise ValueError("at_risk_fraction must be in (0, 1]")
    if budget_minutes is None:
        return SlaClock(milestone, None, None, SlaStatus.NOT_COVERED)
    budget = timedelta(minutes=budget_minutes)
    clock = milestones.clock()
    if clock is None:
        return SlaClock(milestone, None, budget, SlaStatus.UNMEASURED)
    measured_from, started_at = clock
    reached_at = milestones.at(milestone)
    elapsed = max(timedelta(0), (reached_at or now) - started_at)
    used = elapsed / budget
    deadline = started_at + budget
    if elapsed > budget:
        status, time_left, overrun = SlaStatus.BREACHED, None, elapsed - budget
    elif reached_at is not None:
        status, time_left, overrun = SlaStatus.MET, None, None
    else:
        status = SlaStatus.AT_RISK if used >= at_risk_fraction else SlaStatus.ON_TRACK
        time_left, overrun = budget - elapsed, None
    return SlaClock(
        milestone, measured_from, budget, status, elapsed, deadline, time_left, overrun, used
    )


# --- availability ----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"interval ends ({self.end}) before it starts ({self.start})")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def clip(self, period: Interval) -> Interval | None:
        start, end = max(self.start, period.start), min(self.end, period.end)
        return Interval(start, end) if start < end else None


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals merged, in time order."""
    merged: list[Interval] = []
    for interval in sorted(intervals):
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return merged


def union_duration(intervals: Iterable[Interval]) -> timedelta:
    return sum((i.duration for i in union(intervals)), timedelta(0))


def calendar_month(moment: datetime) -> Interval:
    """The UTC calendar month containing `moment`: the period SLAs are written for."""
    moment = moment.astimezone(UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        end = start.replace(year=start.year + 1, month=1)
    else:
        end = start.replace(month=start.month + 1)
    return Interval(start, end)


def downtime(milestones: Milestones, now: datetime) -> Interval | None:
    """When the incident made the service unavailable: from the clock start until mitigation
    (service restored, perhaps by a workaround), else technical resolution, else still now."""
    clock = milestones.clock()
    if clock is None:
        return None
    end = milestones.mitigated or milestones.resolved or now
    return Interval(clock[1], max(end, clock[1]))


_MICROSECOND = timedelta(microseconds=1)


def _minutes(delta: timedelta) -> Decimal:
    return Decimal(delta // _MICROSECOND) / Decimal(60_000_000)


@dataclass(frozen=True)
class AvailabilityBudget:
    period: Interval
    target_percent: Decimal
    budget: timedelta
    """downtime the target allows over the period"""
    incident_downtime: timedelta
    """this incident's own downtime inside the period"""
    total_downtime: timedelta
    """all incidents' downtime for the tier inside the period, overlaps counted once"""
    availability_percent: Decimal
    incident_consumed_fraction: float
    """share of the budget this incident used (above 1 = it alone broke the target)"""
    consumed_fraction: float
    """share of the budget used by all incidents together"""
    remaining: timedelta
    """budget left, never below zero"""

    @property
    def exhausted(self) -> bool:
        return self.total_downtime > self.budget


def availability_budget(
    target_percent: float | Decimal,
    incident: Interval | None,
    period: Interval,
    others: Iterable[Interval] = (),
) -> AvailabilityBudget:
    """How much of the period's allowed downtime this incident, and all of them, consumed."""
    if period.duration <= timedelta(0):
        raise ValueError("the measurement period must be longer than zero")
    target = Decimal(str(target_percent))
    allowed = Decimal(period.duration // _MICROSECOND) * (HUNDRED - target) / HUNDRED
    budget = timedelta(microseconds=int(allowed))
    own = incident.clip(period) if incident is not None else None
    clipped = [c for i in others if (c := i.clip(period)) is not None]
    if own is not None:
        clipped.append(own)
    total = union_duration(clipped)
    own_duration = own.duration if own is not None else timedelta(0)

    def fraction(used: timedelta) -> float:
        if budget > timedelta(0):
            return used / budget
        return 0.0 if used == timedelta(0) else float("inf")

    return AvailabilityBudget(
        period=period,
        target_percent=target,
        budget=budget,
        incident_downtime=own_duration,
        total_downtime=total,
        availability_percent=availability_percent(_minutes(period.duration), _minutes(total)),
        incident_consumed_fraction=fraction(own_duration),
        consumed_fraction=fraction(total),
        remaining=max(timedelta(0), budget - total),
    )


# --- per tier --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AffectedCustomer:
    slug: str
    monthly_fee: Decimal | None = None
    currency: str = "USD"


@dataclass(frozen=True)
class AffectedTier:
    """A customer tier the incident touches, with its contract and affected customers."""

    slug: str
    sla: Sla
    business_unit: str | None = None
    customers: Sequence[AffectedCustomer] = ()
    other_downtime: Sequence[Interval] = ()
    """other incidents' downtime for this tier, to count the period's budget as a whole"""


@dataclass(frozen=True)
class CustomerCredit:
    customer: str
    currency: str
    credit: Credit


@dataclass(frozen=True)
class TierSla:
    tier: str
    business_unit: str | None
    severity: str
    response: SlaClock
    resolution: SlaClock
    availability: AvailabilityBudget | None
    """None when the incident has no clock start to count downtime from"""
    credits: tuple[CustomerCredit, ...] = ()
    credit_totals: dict[str, Decimal] = field(default_factory=dict)
    """owed per currency, over customers whose fee is known"""
    customers_without_fee: tuple[str, ...] = ()
    """owed a percentage, but no amount can be computed"""

    @property
    def status(self) -> SlaStatus:
        statuses = [self.response.status, self.resolution.status]
        if self.availability is not None and self.availability.exhausted:
            statuses.append(SlaStatus.BREACHED)
        return worst(statuses)


def tier_sla(
    tier: AffectedTier,
    severity: str,
    milestones: Milestones,
    now: datetime,
    *,
    period: Interval | None = None,
    at_risk_fraction: float = DEFAULT_AT_RISK_FRACTION,
) -> TierSla:
    """Everything the tier's contract says about this incident, as of `now`.

    `period` defaults to the calendar month in which the incident's clock started.
    """
    sla = tier.sla
    response = sla_clock(
        Milestone.ACKNOWLEDGED,
        sla.response_minutes.get(severity),
        milestones,
        now,
        at_risk_fraction,
    )
    resolution = sla_clock(
        Milestone.RESOLVED,
        sla.resolution_minutes.get(severity),
        milestones,
        now,
        at_risk_fraction,
    )
    interval = downtime(milestones, now)
    if interval is None:
        return TierSla(tier.slug, tier.business_unit, severity, response, resolution, None)
    budget = availability_budget(
        sla.availability_target_percent,
        interval,
        period or calendar_month(interval.start),
        tier.other_downtime,
    )
    rule = sla.credit_rule.to_rule()
    credits: list[CustomerCredit] = []
    totals: dict[str, Decimal] = {}
    no_fee: list[str] = []
    for customer in tier.customers:
        credit = credit_for(rule, budget.availability_percent, customer.monthly_fee)
        credits.append(CustomerCredit(customer.slug, customer.currency, credit))
        if credit.amount is None:
            if credit.percent > 0:
                no_fee.append(customer.slug)
            continue
        totals[customer.currency] = totals.get(customer.currency, Decimal(0)) + credit.amount
    return TierSla(
        tier.slug,
        tier.business_unit,
        severity,
        response,
        resolution,
        budget,
        tuple(credits),
        totals,
        tuple(no_fee),
    )


def tier_slas(
    tiers: Iterable[AffectedTier],
    severity: str,
    milestones: Milestones,
    now: datetime,
    *,
    period: Interval | None = None,
    at_risk_fraction: float = DEFAULT_AT_RISK_FRACTION,
) -> list[TierSla]:
    return [
        tier_sla(t, severity, milestones, now, period=period, at_risk_fraction=at_risk_fraction)
        for t in tiers
    ]


@dataclass(frozen=True)
class BusinessUnitSla:
    """The tiers of one business unit (None = tiers not scoped to a unit), rolled up."""

    business_unit: str | None
    tiers: tuple[str, ...]
    response: SlaStatus
    resolution: SlaStatus
    status: SlaStatus
    credit_totals: dict[str, Decimal]


def by_business_unit(reports: Iterable[TierSla]) -> list[BusinessUnitSla]:
    grouped: dict[str | None, list[TierSla]] = {}
    for report in reports:
        grouped.setdefault(report.business_unit, []).append(report)
    rolled: list[BusinessUnitSla] = []
    for unit, members in grouped.items():
        totals: dict[str, Decimal] = {}
        for member in members:
            for currency, amount in member.credit_totals.items():
                totals[currency] = totals.get(currency, Decimal(0)) + amount
        rolled.append(
            BusinessUnitSla(
                business_unit=unit,
                tiers=tuple(m.tier for m in members),
                response=worst(m.response.status for m in members),
                resolution=worst(m.resolution.status for m in members),
                status=worst(m.status for m in members),
                credit_totals=totals,
            )
        )
    return rolled
