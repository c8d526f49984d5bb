"""Gathering an incident's evidence of impact, proposing its start, and accepting it.

Alerts are not linked to incidents yet, so the alerts counted are those on the incident's
services that started between `LOOKBACK` before its earliest milestone and its end (or now).
Failed synthetic checks (`tocsin.checks.evidence`) and sustained trace errors
(`tocsin.traces.evidence`) are gathered the same way; `SOURCES` takes further ones.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert
from tocsin.auth.permissions import Permission
from tocsin.catalog import service as catalog
from tocsin.checks.evidence import failed_checks
from tocsin.clock import ensure_utc, utcnow
from tocsin.errors import Conflict, NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.models import Incident, IncidentAffected
from tocsin.incidents.reports import evidence as rules
from tocsin.incidents.reports.models import CustomerReport
from tocsin.incidents.reports.schemas import EvidenceOut, ProposalAccept, ProposalOut
from tocsin.incidents.reports.service import describe
from tocsin.incidents.schemas import IncidentOut, MilestoneSet
from tocsin.incidents.service.common import Who, load, milestone_times, ref_of, require
from tocsin.traces.evidence import trace_errors

LOOKBACK = timedelta(hours=6)
"""How long before an incident's first milestone an alert may still be its first sign."""
QUIET_SEVERITIES = frozenset({"info", "informational", "ok", "none"})
SOURCES: list[rules.EvidenceSource] = []
"""Further evidence (synthetic checks, trace errors) registered by their domains."""


async def _services(session: AsyncSession, incident_id: int) -> frozenset[str]:
    rows = await session.scalars(
        sa.select(IncidentAffected.slug).where(
            IncidentAffected.incident_id == incident_id, IncidentAffected.kind == "service"
        )
    )
    return frozenset(rows.all())


async def _alerts(
    session: AsyncSession, services: frozenset[str], since_at: object, until_at: object
) -> list[rules.Evidence]:
    ids: dict[int, str] = {}
    for slug in services:
        try:
            ids[await catalog.service_id(session, slug)] = slug
        except NotFound:
            continue
    if not ids:
        return []
    rows = await session.scalars(
        sa.select(Alert).where(
            Alert.service_id.in_(ids), Alert.starts_at >= since_at, Alert.starts_at <= until_at
        )
    )
    found = []
    for alert in rows:
        quiet = (alert.severity or "").lower() in QUIET_SEVERITIES
        found.append(
            rules.Evidence(
                source="alert",
                at=ensure_utc(alert.starts_at),
                description=f"{alert.source} alert on {ids[alert.service_id]}: "
                f"{alert.summary or alert.dedup_key}"[:1000],
                credible=not quiet,
                reason="informational alert" if quiet else "",
                url=alert.generator_url,
            )
        )
    return found


async def gather(session: AsyncSession, incident: Incident) -> list[rules.Evidence]:
    services = await _services(session, incident.id)
    times = await milestone_times(session, incident.id)
    marks = [ensure_utc(t) for t in times.values()] or [ensure_utc(incident.created_at)]
    since_at = min(marks) - LOOKBACK
    ends = [times[m] for m in (Milestone.RESOLVED, Milestone.CLOSED) if m in times]
    until_at = ensure_utc(min(ends)) if ends else utcnow()
    items = await _alerts(session, services, since_at, until_at)
    items.extend(await failed_checks(session, services, since_at, until_at))
    items.extend(await trace_errors(session, services, since_at, until_at))
    reports = await session.scalars(
        sa.select(CustomerReport).where(CustomerReport.incident_id == incident.id)
    )
    items.extend(
        rules.Evidence("customer-report", ensure_utc(r.reported_at), describe(r)) for r in reports
    )
    for source in SOURCES:
        items.extend(await source.evidence_for(services, since_at, until_at))
    return items


def _out(item: rules.Evidence) -> EvidenceOut:
    return EvidenceOut(
        source=item.source,
        at=item.at,
        description=item.description,
        credible=item.credible,
        reason=item.reason,
        url=item.url,
    )


async def proposal(session: AsyncSession, who: Who, ref: str) -> ProposalOut:
    require(who, Permission.INCIDENT_READ)
    return await _proposal(session, who, ref)


async def _proposal(session: AsyncSession, who: Who, ref: str) -> ProposalOut:
    incident = await load(session, who, ref)
    found = rules.propose(await gather(session, incident))
    current = (await milestone_times(session, incident.id)).get(Milestone.IMPACT_STARTED)
    return ProposalOut(
        incident=ref_of(incident.id),
        current=ensure_utc(current) if current else None,
        proposed=found.at,
        chosen=_out(found.chosen) if found.chosen else None,
        evidence=[_out(e) for e in found.evidence],
    )


async def accept(session: AsyncSession, who: Who, ref: str, body: ProposalAccept) -> IncidentOut:
    """Set impact start to the proposal through the core's milestone rules: order is checked,
    and a change to a start already set is recorded as a correction with its reason."""
    require(who, Permission.INCIDENT_WRITE)
    proposed = await _proposal(session, who, ref)
    if proposed.proposed is None or proposed.chosen is None:
        raise Conflict("there is no credible evidence of impact to propose a start from")
    if proposed.current == proposed.proposed:
        raise Conflict("impact start already equals the proposal")
    chosen = proposed.chosen
    return await incidents.set_milestone(
        session,
        who,
        ref,
        Milestone.IMPACT_STARTED,
        MilestoneSet(
            at=proposed.proposed,
            evidence=f"{chosen.source}: {chosen.description}"[:5000],
            reason=body.reason,
        ),
    )
