"""Tickets: what a `ticket` rule opens instead of waking someone.

A group opens at most one ticket (the table's unique group), so a retried decision finds the
ticket it opened and only records the decision again. Later alerts of the group are grouped
into it; when every alert has resolved the ticket says so and, when it is mirrored to a
tracker, the tracker is told (`external`). A person closes it: resolving alerts never do.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert, AlertGroup
from tocsin.alerts.routing import external
from tocsin.alerts.routing.decisions import ROUTER, decide
from tocsin.alerts.routing.models import AlertTicket, RoutingRule
from tocsin.alerts.routing.refs import ticket_ref
from tocsin.alerts.routing.schemas import TicketOut
from tocsin.alerts.service.integrations import Who, _actor, service_slugs
from tocsin.audit import service as audit
from tocsin.audit.snapshot import snapshot
from tocsin.catalog.models import Service
from tocsin.clock import utcnow
from tocsin.errors import Conflict, NotFound

TICKET = "ticket"


def _ticket_out(row: AlertTicket, slug: str) -> TicketOut:
    return TicketOut(
        id=row.id,
        ref=ticket_ref(row.id),
        service=slug,
        group_id=row.group_id,
        rule=row.rule_slug,
        title=row.title,
        summary=row.summary,
        severity=row.severity,
        status=row.status,
        created_at=row.created_at,
        alerts_resolved_at=row.alerts_resolved_at,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        tracker=None if row.tracker is None else str(row.tracker.get("kind")),
        external_status=row.external_status,
        waiting_until=row.external_waiting_until,
        external_key=row.external_key,
        external_url=row.external_url,
        external_error=row.external_error,
    )


async def list_tickets(
    session: AsyncSession, *, status: str | None = None, limit: int = 200
) -> list[TicketOut]:
    stmt = sa.select(AlertTicket).order_by(AlertTicket.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(AlertTicket.status == status)
    rows = list(await session.scalars(stmt))
    slugs = await service_slugs(session, {r.service_id for r in rows})
    return [_ticket_out(r, slugs[r.service_id]) for r in rows]


async def close_ticket(session: AsyncSession, who: Who, ticket_id: int) -> TicketOut:
    row = await session.get(AlertTicket, ticket_id)
    if row is None:
        raise NotFound("ticket", ticket_id)
    if row.status == "closed":
        raise Conflict(f"ticket {ticket_ref(row.id)} is closed already", "status")
    before = snapshot(row)
    row.status, row.closed_at, row.closed_by = "closed", utcnow(), _actor(who).label
    await session.flush()
    audit.record(
        session, _actor(who), "close", "ticket", row.id, before=before, after=snapshot(row)
    )
    await session.commit()
    slugs = await service_slugs(session, {row.service_id})
    return _ticket_out(row, slugs[row.service_id])


async def _of_group(session: AsyncSession, group_id: int) -> AlertTicket | None:
    return await session.scalar(sa.select(AlertTicket).where(AlertTicket.group_id == group_id))


async def open_ticket(
    session: AsyncSession,
    row: Alert,
    service: Service,
    group: AlertGroup,
    rule: RoutingRule,
    now: datetime,
) -> None:
    """The group's ticket (opened, and its filing queued, unless a retry finds it), and the
    alert's decision."""
    ticket = await _of_group(session, group.id)
    if ticket is None:
        ticket = AlertTicket(
            service_id=service.id,
            group_id=group.id,
            rule_slug=rule.slug,
            title=f"[{service.slug}] {row.summary}"[:500],
            summary=row.summary,
            severity=row.severity,
            status="open",
        )
        session.add(ticket)
        await session.flush()
        await external.queue_filing(session, ticket, rule)
        audit.record(session, ROUTER, "create", "ticket", ticket.id, after=snapshot(ticket))
    decide(
        session,
        row,
        TICKET,
        f"opened ticket {ticket_ref(ticket.id)} (routing rule {rule.slug}); nobody paged",
        f"ticket:{ticket.id}",
        now,
    )


async def grouped(session: AsyncSession, row: Alert, group: AlertGroup, now: datetime) -> bool:
    """A later alert of a group that opened a ticket is grouped into it; False: no ticket."""
    ticket = await _of_group(session, group.id)
    if ticket is None:
        return False
    decide(
        session,
        row,
        "grouped",
        f"grouped into ticket {ticket_ref(ticket.id)} of group #{group.id}; nobody paged",
        f"ticket:{ticket.id}",
        now,
    )
    return True


async def alerts_resolved(session: AsyncSession, group: AlertGroup, now: datetime) -> None:
    """Every alert of the group resolved: mark its ticket (a person closes it) and tell the
    tracker it is mirrored to."""
    ticket = await _of_group(session, group.id)
    if ticket is not None and ticket.alerts_resolved_at is None:
        ticket.alerts_resolved_at = now
        await external.queue_resolution(session, ticket)
