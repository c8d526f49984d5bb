"""An incident's figures as of now: its KPIs against its severity's targets, and the SLAs of
the customer tiers it touches."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.clock import utcnow
from tocsin.incidents import kpis, slas
from tocsin.incidents.escalation.schemas import (
    AvailabilityOut,
    BusinessUnitSlaOut,
    CreditOut,
    SlaClockOut,
    SlasOut,
    TierSlaOut,
)
from tocsin.incidents.models import IncidentAffected
from tocsin.incidents.schemas import KpiOut
from tocsin.incidents.service.common import Who, load, milestone_times, ref_of


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


async def get_kpis(session: AsyncSession, who: Who, ref: str) -> list[KpiOut]:
    from tocsin.policy import service as policy

    incident = await load(session, who, ref)
    targets = (await policy.get_policy(session, incident.severity)).kpi_targets
    times = kpis.Milestones.from_times(await milestone_times(session, incident.id))
    return [
        KpiOut(
            kpi=f.kpi.value,
            milestone=f.milestone,
            measured_from=f.measured_from,
            started_at=f.started_at,
            reached_at=f.reached_at,
            elapsed_seconds=_seconds(f.elapsed),
            target_seconds=_seconds(f.target),
            status=f.status.value,
            time_left_seconds=_seconds(f.time_left),
            overrun_seconds=_seconds(f.overrun),
            deadline=f.deadline,
            note=f.note,
        )
        for f in kpis.figures(times, targets, utcnow())
    ]


# --- customer SLAs ---------------------------------------------------------------------------


def _clock(c: slas.SlaClock) -> SlaClockOut:
    return SlaClockOut(
        status=c.status.value,
        measured_from=c.measured_from.value if c.measured_from else None,
        budget_minutes=None if c.budget is None else int(c.budget.total_seconds() // 60),
        elapsed_seconds=_seconds(c.elapsed),
        deadline=c.deadline,
        time_left_seconds=_seconds(c.time_left),
        overrun_seconds=_seconds(c.overrun),
    )


def _availability(a: slas.AvailabilityBudget | None) -> AvailabilityOut | None:
    if a is None:
        return None
    return AvailabilityOut(
        period_start=a.period.start,
        period_end=a.period.end,
        target_percent=str(a.target_percent),
        budget_seconds=a.budget.total_seconds(),
        incident_downtime_seconds=a.incident_downtime.total_seconds(),
        availability_percent=str(a.availability_percent),
        incident_consumed_percent=round(a.incident_consumed_fraction * 100, 2),
        remaining_seconds=a.remaining.total_seconds(),
        exhausted=a.exhausted,
    )


async def _affected(session: AsyncSession, incident_id: int) -> dict[str, set[str]]:
    rows = await session.execute(
        sa.select(IncidentAffected.kind, IncidentAffected.slug).where(
            IncidentAffected.incident_id == incident_id
        )
    )
    found: dict[str, set[str]] = {}
    for kind, slug in rows:
        found.setdefault(kind, set()).add(slug)
    return found


async def affected_tiers(session: AsyncSession, incident_id: int) -> list[slas.AffectedTier]:
    """Tiers named on the incident (all their customers are affected), tiers scoped to an
    affected business unit, and the tiers of customers named on the incident (those
    customers only)."""
    from tocsin.catalog.models import BusinessUnit, Customer, CustomerTier
    from tocsin.catalog.schemas import Sla

    affected = await _affected(session, incident_id)
    units = {u.id: u.slug for u in await session.scalars(sa.select(BusinessUnit))}
    unit_ids = {i for i, s in units.items() if s in affected.get("business_unit", set())}
    tiers = list((await session.scalars(sa.select(CustomerTier).order_by(CustomerTier.slug))).all())
    customers = list((await session.scalars(sa.select(Customer).order_by(Customer.slug))).all())
    named = affected.get("customer", set())
    result: list[slas.AffectedTier] = []
    for tier in tiers:
        whole = tier.slug in affected.get("customer_tier", set()) or (
            tier.business_unit_id is not None and tier.business_unit_id in unit_ids
        )
        members = [c for c in customers if c.tier_id == tier.id and (whole or c.slug in named)]
        if not whole and not members:
            continue
        result.append(
            slas.AffectedTier(
                slug=tier.slug,
                sla=Sla.model_validate(tier.sla),
                business_unit=units.get(tier.business_unit_id) if tier.business_unit_id else None,
                customers=[
                    slas.AffectedCustomer(c.slug, c.monthly_fee, c.currency) for c in members
                ],
            )
        )
    return result


async def get_slas(session: AsyncSession, who: Who, ref: str) -> SlasOut:
    incident = await load(session, who, ref)
    times = kpis.Milestones.from_times(await milestone_times(session, incident.id))
    reports = slas.tier_slas(
        await affected_tiers(session, incident.id), incident.severity, times, utcnow()
    )
    return SlasOut(
        ref=ref_of(incident.id),
        severity=incident.severity,
        tiers=[
            TierSlaOut(
                tier=r.tier,
                business_unit=r.business_unit,
                status=r.status.value,
                response=_clock(r.response),
                resolution=_clock(r.resolution),
                availability=_availability(r.availability),
                credits=[
                    CreditOut(
                        customer=c.customer,
                        percent=str(c.credit.percent),
                        amount=None if c.credit.amount is None else str(c.credit.amount),
                        currency=c.currency,
                    )
                    for c in r.credits
                ],
                credit_totals={k: str(v) for k, v in r.credit_totals.items()},
                customers_without_fee=list(r.customers_without_fee),
            )
            for r in reports
        ],
        business_units=[
            BusinessUnitSlaOut(
                business_unit=u.business_unit,
                tiers=list(u.tiers),
                response=u.response.value,
                resolution=u.resolution.value,
                status=u.status.value,
                credit_totals={k: str(v) for k, v in u.credit_totals.items()},
            )
            for u in slas.by_business_unit(reports)
        ],
    )
