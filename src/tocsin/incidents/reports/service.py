"""Customer report use cases: intake from every channel, matching, and links by hand.

Intake is all-or-nothing per request and idempotent per `(source, external_id)`. A stored
report is matched at once against open and recently resolved incidents (see matching.py);
the match is made by the system, so it reaches private incidents too, but a caller is only
ever shown the reference of an incident they may see.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin import events
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.catalog import service as catalog
from tocsin.clock import ensure_utc
from tocsin.errors import Conflict, Invalid, NotFound
from tocsin.incidents import visibility
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.models import Incident, IncidentAffected, IncidentMilestone
from tocsin.incidents.reports import matching
from tocsin.incidents.reports.models import CustomerReport
from tocsin.incidents.reports.schemas import (
    IntakeOut,
    ReportIn,
    ReportOut,
)
from tocsin.incidents.service.common import (
    Who,
    actor_of,
    finish,
    load,
    note,
    record,
    ref_of,
    require,
)

MATCHED_BY = "matching"
START_MILESTONES = (Milestone.IMPACT_STARTED, Milestone.DETECTED, Milestone.DECLARED)
END_MILESTONES = (Milestone.RESOLVED, Milestone.BUSINESS_RESOLVED, Milestone.CLOSED)


# --- reading -------------------------------------------------------------------------------


async def _visible_ids(session: AsyncSession, who: Who, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    rows = await session.scalars(
        sa.select(Incident.id).where(Incident.id.in_(ids), visibility.visible_clause(who))
    )
    return set(rows.all())


async def outs(session: AsyncSession, who: Who, rows: Sequence[CustomerReport]) -> list[ReportOut]:
    """Reports as `who` may read them: a link to an incident they cannot see is left out."""
    seen = await _visible_ids(session, who, {r.incident_id for r in rows if r.incident_id})
    result = []
    for row in rows:
        shown = row.incident_id is not None and row.incident_id in seen
        out = ReportOut.model_validate(row)
        result.append(
            out.model_copy(
                update={
                    "incident": ref_of(row.incident_id) if shown and row.incident_id else None,
                    "linked_by": row.linked_by if shown else "",
                }
            )
        )
    return result


async def list_reports(
    session: AsyncSession,
    who: Who,
    *,
    service: str | None = None,
    incident: str | None = None,
    unlinked: bool = False,
    limit: int = 200,
) -> list[ReportOut]:
    require(who, Permission.INCIDENT_READ)
    stmt = sa.select(CustomerReport).order_by(
        CustomerReport.reported_at.desc(), CustomerReport.id.desc()
    )
    if service is not None:
        stmt = stmt.where(CustomerReport.service == service)
    if incident is not None:
        stmt = stmt.where(CustomerReport.incident_id == (await load(session, who, incident)).id)
    if unlinked:
        stmt = stmt.where(CustomerReport.incident_id.is_(None))
    return await outs(session, who, (await session.scalars(stmt.limit(limit))).all())


# --- matching ------------------------------------------------------------------------------


async def windows(session: AsyncSession, services: set[str]) -> list[matching.Window]:
    """The incidents a report on one of `services` could belong to, as matching windows.

    A report on X can belong to an incident on X or on anything X depends on, so those are
    the incidents loaded; each window then reaches its services and all their dependents.
    """
    graph = await catalog.dependency_graph(session)
    candidates = set(services)
    for slug in services:
        if slug in graph.nodes:
            candidates.update(graph.upstream(slug))
    affected_rows = (
        await session.execute(
            sa.select(IncidentAffected.incident_id, IncidentAffected.slug).where(
                IncidentAffected.kind == "service", IncidentAffected.slug.in_(candidates)
            )
        )
    ).all()
    ids = {row[0] for row in affected_rows}
    if not ids:
        return []
    reach: dict[int, set[str]] = {}
    for incident_id, slug in (
        await session.execute(
            sa.select(IncidentAffected.incident_id, IncidentAffected.slug).where(
                IncidentAffected.kind == "service", IncidentAffected.incident_id.in_(ids)
            )
        )
    ).all():
        found = reach.setdefault(incident_id, set())
        found.add(slug)
        if slug in graph.nodes:
            found.update(graph.downstream(slug))
    times: dict[int, dict[str, datetime]] = {}
    for m in await session.scalars(
        sa.select(IncidentMilestone).where(IncidentMilestone.incident_id.in_(ids))
    ):
        times.setdefault(m.incident_id, {})[m.name] = ensure_utc(m.at)
    created: dict[int, datetime] = {}
    for incident in await session.scalars(sa.select(Incident).where(Incident.id.in_(ids))):
        created[incident.id] = incident.created_at
    result = []
    for incident_id in sorted(ids):
        marks = times.get(incident_id, {})
        starts = [marks[m.value] for m in START_MILESTONES if m.value in marks]
        ends = [marks[m.value] for m in END_MILESTONES if m.value in marks]
        start = min(starts) if starts else ensure_utc(created[incident_id])
        result.append(
            matching.Window(
                incident_id, start, min(ends) if ends else None, frozenset(reach[incident_id])
            )
        )
    return result


def link_report(
    session: AsyncSession, incident: Incident, report: CustomerReport, actor: Actor, by: str
) -> None:
    before = snapshot(report)
    report.incident_id = incident.id
    report.linked_by = by
    who_label = "" if by == MATCHED_BY else f" by {by}"
    note(
        session,
        incident,
        actor,
        "customer_report_linked",
        f"Customer report {report.external_id} on {report.service} linked{who_label}",
        {
            "report_id": report.id,
            "source": report.source,
            "external_id": report.external_id,
            "service": report.service,
            "reported_at": ensure_utc(report.reported_at).isoformat(),
            "linked_by": by,
        },
    )
    record(session, actor, "incident.customer_report_linked", incident, before, snapshot(report))


# --- intake --------------------------------------------------------------------------------


async def _check_references(session: AsyncSession, rows: Sequence[tuple[str, ReportIn]]) -> None:
    services = (await catalog.dependency_graph(session)).nodes
    customers = {c.slug for c in await catalog.list_customers(session)}
    for prefix, body in rows:
        if body.service not in services:
            raise Invalid(f"{prefix}service", f"there is no service {body.service!r}")
        if body.customer is not None and body.customer not in customers:
            raise Invalid(f"{prefix}customer", f"there is no customer {body.customer!r}")


async def known_slugs(session: AsyncSession) -> tuple[frozenset[str], set[str]]:
    services = (await catalog.dependency_graph(session)).nodes
    return services, {c.slug for c in await catalog.list_customers(session)}


async def intake(
    session: AsyncSession, who: Who, source: str, rows: Sequence[tuple[str, ReportIn]]
) -> IntakeOut:
    """Store new reports (`rows` pair each body with the field prefix its errors carry),
    skip those already stored, and link each new one to the incident it matches.

    Two deliveries of the same report racing each other: the loser's insert hits the unique
    constraint, and a second pass finds the winner's row and counts it as a duplicate.
    """
    require(who, Permission.INCIDENT_NOTE)
    await _check_references(session, rows)
    try:
        return await _store(session, who, source, rows)
    except IntegrityError:
        await session.rollback()
        return await _store(session, who, source, rows)


async def _store(
    session: AsyncSession, who: Who, source: str, rows: Sequence[tuple[str, ReportIn]]
) -> IntakeOut:
    actor = actor_of(who)
    keys = [body.external_id for _, body in rows]
    existing = {
        r.external_id: r
        for r in await session.scalars(
            sa.select(CustomerReport).where(
                CustomerReport.source == source, CustomerReport.external_id.in_(set(keys))
            )
        )
    }
    stored: list[CustomerReport] = []
    reports: list[CustomerReport] = []
    for _, body in rows:
        found = existing.get(body.external_id)
        if found is None:
            found = CustomerReport(
                source=source,
                external_id=body.external_id,
                customer=body.customer,
                customer_name=body.customer_name,
                service=body.service,
                reported_at=ensure_utc(body.reported_at),
                description=body.description,
                linked_by="",
            )
            session.add(found)
            existing[body.external_id] = found
            stored.append(found)
        reports.append(found)
    await session.flush()
    for report in stored:
        audit.record(
            session,
            actor,
            "customer_report.created",
            "customer_report",
            report.id,
            after=snapshot(report),
        )
    linked = await _auto_link(session, stored)
    await session.commit()
    for report in stored:
        await events.publish(
            "customer_report.received",
            {"id": report.id, "service": report.service},
            audience=visibility.PUBLIC_AUDIENCE,
        )
    for incident in linked:
        await events.publish(
            "incident.customer_report_linked",
            {"ref": ref_of(incident.id), "id": incident.id, "status": incident.status},
            audience=visibility.audience(incident.id, incident.visibility),
        )
    return IntakeOut(
        stored=len(stored),
        duplicates=len(rows) - len(stored),
        reports=await outs(session, who, reports),
    )


async def _auto_link(session: AsyncSession, reports: Sequence[CustomerReport]) -> list[Incident]:
    if not reports:
        return []
    found = await windows(session, {r.service for r in reports})
    system = Actor.system("customer report matching")
    linked: dict[int, Incident] = {}
    for report in reports:
        target = matching.match(
            matching.Report(report.id, report.service, ensure_utc(report.reported_at)),
            found,
            matching.DEFAULT_TOLERANCE,
        )
        if target is None:
            continue
        incident = linked.get(target) or await session.get(Incident, target)
        if incident is None:
            continue
        linked[target] = incident
        link_report(session, incident, report, system, MATCHED_BY)
    return list(linked.values())


# --- links by hand -------------------------------------------------------------------------


async def _report(session: AsyncSession, report_id: int) -> CustomerReport:
    report = await session.get(CustomerReport, report_id)
    if report is None:
        raise NotFound("customer report", report_id)
    return report


async def link(session: AsyncSession, who: Who, report_id: int, ref: str) -> ReportOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    report = await _report(session, report_id)
    if report.incident_id == incident.id:
        return (await outs(session, who, [report]))[0]
    if report.incident_id is not None:
        raise Conflict("the report is linked to another incident; unlink it first", "incident")
    link_report(session, incident, report, actor_of(who), actor_of(who).label)
    await finish(session, incident, "incident.customer_report_linked", report_id=report.id)
    return (await outs(session, who, [report]))[0]


async def unlink(session: AsyncSession, who: Who, report_id: int) -> ReportOut:
    require(who, Permission.INCIDENT_WRITE)
    report = await _report(session, report_id)
    if report.incident_id is None:
        return (await outs(session, who, [report]))[0]
    incident = await load(session, who, ref_of(report.incident_id))
    actor = actor_of(who)
    before = snapshot(report)
    report.incident_id = None
    report.linked_by = ""
    note(
        session,
        incident,
        actor,
        "customer_report_unlinked",
        f"Customer report {report.external_id} on {report.service} unlinked by {actor.label}",
        {"report_id": report.id, "source": report.source, "external_id": report.external_id},
    )
    record(session, actor, "incident.customer_report_unlinked", incident, before, snapshot(report))
    await finish(session, incident, "incident.customer_report_unlinked", report_id=report.id)
    return (await outs(session, who, [report]))[0]


def describe(report: CustomerReport) -> str:
    customer = report.customer or report.customer_name or "a customer"
    text = report.description.strip().splitlines()[0] if report.description.strip() else ""
    return f"{customer} reported trouble on {report.service}" + (f": {text}" if text else "")
