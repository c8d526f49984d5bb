"""Mirroring routing tickets to an external tracker (Jira first) through the job outbox.

The decision that opens a ticket only queues the filing, in its own transaction, so deciding
never waits on a tracker and a tracker outage loses nothing. The jobs read what they need,
end their transaction, call the tracker, then record the answer: no database transaction
stays open across a call to the outside world. A refusal is written on the ticket (the
routing page and API show it) and the queue retries with back-off; a permanent one, or the
last attempt, marks the mirror failed. The internal ticket stays the record either way.

A tracker has no idempotency key for creating issues, so each issue carries a marker naming
its ticket and this Tocsin site (`marker`), and filing looks for it before creating: a worker
that dies between the tracker's answer and the commit of the key leaves an issue the retry
finds and adopts, rather than a second one.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert
from tocsin.alerts.routing.models import AlertTicket, RoutingRule
from tocsin.alerts.routing.refs import group_url, ticket_ref
from tocsin.alerts.routing.ticketing import Draft, Filed, TrackerError, for_tracker
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.catalog.models import Service
from tocsin.clock import utcnow
from tocsin.config import Settings, get_settings
from tocsin.jobs import service as jobs

FILE_KIND = "alerts.ticket.file"
RESOLVE_KIND = "alerts.ticket.resolve"
MIRROR = Actor.system("ticket tracker")

PENDING, OPEN, RESOLVED, FAILED = "pending", "open", "resolved", "failed"


def marker(ticket_id: int, settings: Settings) -> str:
    """The label that names a ticket's issue: its reference and a digest of this site's
    address, so two Tocsin sites filing into one project never adopt each other's issues."""
    site = hashlib.sha256(settings.base_url.rstrip("/").encode()).hexdigest()[:8]
    return f"tocsin-{ticket_ref(ticket_id)}-{site}"


def alerts_link(group_id: int | None) -> str:
    if group_id is not None:
        return group_url(group_id)
    return f"{get_settings().base_url.rstrip('/')}/alert-routing"


async def queue_filing(session: AsyncSession, ticket: AlertTicket, rule: RoutingRule) -> None:
    """In the decision's transaction: remember the rule's tracker and queue the filing."""
    if rule.tracker is None or ticket.tracker is not None:
        return
    ticket.tracker = dict(rule.tracker)
    ticket.external_status = PENDING
    await jobs.enqueue(
        session, FILE_KIND, {"ticket_id": ticket.id}, idempotency_key=f"{FILE_KIND}:{ticket.id}"
    )


async def queue_resolution(session: AsyncSession, ticket: AlertTicket) -> None:
    """In the pipeline's transaction, once the ticket's alerts have all resolved."""
    if ticket.tracker is None or ticket.external_status == FAILED:
        return
    await jobs.enqueue(
        session,
        RESOLVE_KIND,
        {"ticket_id": ticket.id},
        idempotency_key=f"{RESOLVE_KIND}:{ticket.id}",
    )


async def file(session: AsyncSession, ticket_id: int, settings: Settings) -> None:
    """File the issue (or adopt the one an earlier attempt filed) and record its key and
    address on the ticket (no commit)."""
    ticket = await session.get(AlertTicket, ticket_id)
    if ticket is None or ticket.tracker is None or ticket.external_key is not None:
        return
    service = await session.scalar(sa.select(Service.slug).where(Service.id == ticket.service_id))
    draft = Draft(
        ref=ticket_ref(ticket.id),
        title=ticket.title,
        summary=ticket.summary,
        severity=ticket.severity,
        service=str(service),
        link=alerts_link(ticket.group_id),
        marker=marker(ticket.id, settings),
        config=dict(ticket.tracker),
    )
    tracker = for_tracker(str(ticket.tracker.get("kind")), settings)
    await session.rollback()  # no transaction stays open while the tracker answers
    filed = await tracker.file(draft)
    await record_filed(session, ticket_id, filed)


async def record_filed(session: AsyncSession, ticket_id: int, filed: Filed) -> None:
    """The ticket's key and address in the tracker, audited as filed or adopted (no commit)."""
    ticket = await session.get(AlertTicket, ticket_id)
    if ticket is None:
        return
    before = snapshot(ticket)
    ticket.external_key, ticket.external_url = filed.key, filed.url
    ticket.external_status, ticket.external_error = OPEN, None
    await session.flush()
    action = "adopt" if filed.adopted else "file"
    audit.record(
        session, MIRROR, action, "ticket", ticket.id, before=before, after=snapshot(ticket)
    )


async def resolve(session: AsyncSession, ticket_id: int, settings: Settings) -> None:
    """Comment that the alerts resolved and, when the rule says so, transition the issue.

    Each step is recorded as it succeeds, so a retry never comments twice."""
    ticket = await session.get(AlertTicket, ticket_id)
    if ticket is None or ticket.tracker is None or ticket.external_status in {RESOLVED, FAILED}:
        return
    if ticket.external_key is None:
        raise TrackerError(f"{ticket_ref(ticket.id)} is not filed yet; trying again later")
    key, config = ticket.external_key, dict(ticket.tracker)
    commented = ticket.external_resolved_at is not None
    members = await _alert_count(session, ticket.group_id)
    link = alerts_link(ticket.group_id)
    tracker = for_tracker(str(config.get("kind")), settings)
    await session.rollback()
    if not commented:
        await tracker.comment(
            key,
            f"All {members} alert(s) of {ticket_ref(ticket_id)} have resolved in Tocsin.",
            link,
        )
        await _mark(session, ticket_id, commented=True)
        await session.commit()
    transition = config.get("resolve_transition")
    if transition:
        await session.rollback()
        await tracker.transition(key, str(transition))
    await _mark(session, ticket_id, status=RESOLVED)


async def _mark(
    session: AsyncSession, ticket_id: int, *, commented: bool = False, status: str | None = None
) -> None:
    ticket = await session.get(AlertTicket, ticket_id)
    if ticket is None:
        return
    if commented and ticket.external_resolved_at is None:
        ticket.external_resolved_at = utcnow()
    if status is not None:
        ticket.external_status = status
    ticket.external_error = None
    await session.flush()


async def record_failure(
    session: AsyncSession, ticket_id: int, error: TrackerError, *, last: bool
) -> None:
    """Write why the tracker refused on the ticket, in a transaction of its own (commits)."""
    await session.rollback()
    ticket = await session.get(AlertTicket, ticket_id)
    if ticket is None:
        return
    ticket.external_error = str(error)[:2000]
    if error.permanent or last:
        ticket.external_status = FAILED
    await session.commit()


async def _alert_count(session: AsyncSession, group_id: int | None) -> int:
    if group_id is None:
        return 0
    found = await session.scalar(
        sa.select(sa.func.count()).select_from(Alert).where(Alert.group_id == group_id)
    )
    return int(found or 0)
