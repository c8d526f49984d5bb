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
finds and adopts, rather than a second one. The tracker's search lags its writes, so the
start of every create call is committed before the call (`external_attempted_at`): a retry
that does not find the issue while an earlier attempt's issue could still be missing from
the search does not create; it marks the ticket `waiting` and is retried once the search
must show it (`AwaitingSearch`), then adopts what it finds or files.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

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

PENDING, WAITING, OPEN, RESOLVED, FAILED = "pending", "waiting", "open", "resolved", "failed"


class AwaitingSearch(Exception):
    """Filing is put off until `until`: an earlier attempt may have created the issue, and the
    tracker's search may not show it before then. Not a refusal: nothing is wrong yet."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


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
    """Adopt the issue an earlier attempt filed, or file one, and record its key and address
    on the ticket (no commit); raise AwaitingSearch instead of filing while an earlier
    attempt's issue may exist unseen (the ticket then says it waits, committed)."""
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
    attempted = ticket.external_attempted_at
    await session.rollback()  # no transaction stays open while the tracker answers
    found = await tracker.find(draft)
    if found is not None:
        await record_filed(session, ticket_id, found)
        return
    now = utcnow()
    if attempted is None or now >= attempted + tracker.visible_within:
        if await _start_attempt(session, ticket_id, attempted, now):
            try:
                filed = await tracker.create(draft)
            except TrackerError as exc:
                if exc.created_nothing:  # no issue can be missing from the search
                    await _forget_attempt(session, ticket_id, now, attempted)
                raise
            await record_filed(session, ticket_id, filed)
            return
        # Another run of this job started an attempt since we looked: its issue may exist.
        ticket = await session.get(AlertTicket, ticket_id)
        if ticket is None or ticket.external_key is not None:
            return
        attempted = ticket.external_attempted_at
    assert attempted is not None
    until = attempted + tracker.visible_within
    if not await _wait(session, ticket_id, until):
        return
    raise AwaitingSearch(
        f"{draft.ref}: not filing before {until:%Y-%m-%d %H:%M:%S} UTC: the attempt of "
        f"{attempted:%H:%M:%S} may have filed an issue {tracker.label}'s search does not show yet",
        until,
    )


async def _start_attempt(
    session: AsyncSession, ticket_id: int, previous: datetime | None, now: datetime
) -> bool:
    """Commit that a create call starts now, unless another attempt started since
    `previous` was read (or the issue was recorded meanwhile): then False."""
    since = (
        AlertTicket.external_attempted_at.is_(None)
        if previous is None
        else AlertTicket.external_attempted_at == previous
    )
    result = await session.execute(
        sa.update(AlertTicket)
        .where(AlertTicket.id == ticket_id, AlertTicket.external_key.is_(None), since)
        .values(
            external_attempted_at=now,
            external_status=PENDING,
            external_waiting_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    session.expire_all()
    return bool(getattr(result, "rowcount", 0) == 1)


async def _forget_attempt(
    session: AsyncSession, ticket_id: int, started: datetime, previous: datetime | None
) -> None:
    """Take back the attempt that started at `started`: the tracker refused it or never got
    it, so the next attempt need not wait for its issue to show (commits)."""
    await session.rollback()
    await session.execute(
        sa.update(AlertTicket)
        .where(AlertTicket.id == ticket_id, AlertTicket.external_attempted_at == started)
        .values(external_attempted_at=previous)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def _wait(session: AsyncSession, ticket_id: int, until: datetime) -> bool:
    """Say on the ticket, and in its audit trail, that filing waits for the search (commits);
    False when there is nothing to wait for (the issue was recorded meanwhile)."""
    await session.rollback()
    # Locked: a run recording the issue right now commits first, and its key is seen here.
    ticket = await session.get(AlertTicket, ticket_id, with_for_update=True)
    if ticket is None or ticket.external_key is not None:
        return False
    before = snapshot(ticket)
    ticket.external_status, ticket.external_waiting_until = WAITING, until
    await session.flush()
    after = snapshot(ticket)
    audit.record(session, MIRROR, "wait", "ticket", ticket.id, before=before, after=after)
    await session.commit()
    return True


async def record_filed(session: AsyncSession, ticket_id: int, filed: Filed) -> None:
    """The ticket's key and address in the tracker, audited as filed or adopted (no commit)."""
    ticket = await session.get(AlertTicket, ticket_id)
    if ticket is None:
        return
    before = snapshot(ticket)
    ticket.external_key, ticket.external_url = filed.key, filed.url
    ticket.external_status, ticket.external_error = OPEN, None
    ticket.external_waiting_until = None
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
        ticket.external_status, ticket.external_waiting_until = FAILED, None
    await session.commit()


async def _alert_count(session: AsyncSession, group_id: int | None) -> int:
    if group_id is None:
        return 0
    found = await session.scalar(
        sa.select(sa.func.count()).select_from(Alert).where(Alert.group_id == group_id)
    )
    return int(found or 0)
