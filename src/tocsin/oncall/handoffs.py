"""Hand-offs during a page of a private incident: whoever comes on call for it may open it.

A page makes the people a step reaches participants of a private incident before notifying
them (`service.admit`). Between steps, and for as long as the page stays acknowledged, the
schedules of its current level keep handing over, and the person who comes on call is now
responsible for an incident they could not see. So, while a page of a private, active
incident is unresolved, one durable job waits for the next moment at which a schedule of the
page's current level may put someone else on call (hand-offs, restrictions and overrides
alike), lets whoever is on call then in without paging them, and queues itself for the
following change. Jobs are keyed by page and moment, so the chains that escalations and
edits start merge instead of multiplying, and a retried run queues nothing twice.

A chain is planned from the schedules as they are; an override or layer added afterwards
could bring a change sooner. Saving a schedule, an override or a policy therefore catches up
every affected page at once (in the same transaction: someone on call from now on is let in
now) and queues the next change computed from the new schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.clock import ensure_utc, utcnow
from tocsin.incidents.lifecycle import ACTIVE
from tocsin.incidents.models import Incident
from tocsin.jobs import service as jobs
from tocsin.oncall import service
from tocsin.oncall.models import EscalationPolicy, OncallPage, OncallSchedule

HANDOFF_KIND = "oncall.handoff"
ACTOR = Actor.system("on-call hand-off")


@dataclass(frozen=True)
class Watch:
    """What a page's chain follows: the schedules its current level targets, in order."""

    page: OncallPage
    schedules: list[OncallSchedule]


async def _watch(session: AsyncSession, page: OncallPage) -> Watch | None:
    """None when nobody can come on call for the page and need to be let in: it is resolved
    or handed to one person, its incident is gone, public or no longer active, or its
    current level targets no schedule."""
    if page.status == service.RESOLVED or page.assigned_user_id is not None:
        return None
    incident = None if page.incident_id is None else await session.get(Incident, page.incident_id)
    if incident is None or incident.visibility != "private" or incident.status not in ACTIVE:
        return None
    policy = None if page.policy_id is None else await session.get(EscalationPolicy, page.policy_id)
    if policy is None or not 0 <= page.level < len(policy.levels):
        return None
    ids = list(
        dict.fromkeys(
            int(target["id"])
            for target in policy.levels[page.level]["targets"]
            if target["type"] == "schedule"
        )
    )
    rows = await session.scalars(sa.select(OncallSchedule).where(OncallSchedule.id.in_(ids)))
    found = {row.id: row for row in rows}
    schedules = [found[i] for i in ids if i in found]
    return Watch(page, schedules) if schedules else None


async def _next_change(session: AsyncSession, schedules: list[OncallSchedule]) -> datetime:
    """The soonest moment a schedule may put someone else on call; with no change within the
    horizon, the horizon itself, where the chain looks again (a change beyond it, or an
    edit, may come)."""
    now = utcnow()
    soonest = now + service.HORIZON
    for row in schedules:
        found = await service.on_call_changes(session, row.id, now, soonest)
        if found:
            soonest = min(soonest, found[0])
    return ensure_utc(soonest)


async def _queue(session: AsyncSession, watch: Watch) -> None:
    at = await _next_change(session, watch.schedules)
    await jobs.enqueue(
        session,
        HANDOFF_KIND,
        {"page_id": watch.page.id},
        run_at=at,
        idempotency_key=f"{HANDOFF_KIND}:{watch.page.id}:{at.isoformat()}",
    )


async def _let_in(session: AsyncSession, watch: Watch) -> list[int]:
    """Make whoever each schedule puts on call now a participant, saying which schedule put
    them there; nobody is notified (an acknowledged page wakes no one)."""
    added: list[int] = []
    now = utcnow()
    page = watch.page
    for row in watch.schedules:
        people = await service.on_call_user_ids(session, row.id, now)
        labels = await service.user_labels(session, set(people))
        added += await service.admit(
            session,
            page,
            people,
            labels,
            ACTOR,
            why=f"on call in {row.name} for page #{page.id}, let in without being paged",
            details={"schedule": row.slug, "reason": "on call"},
        )
    return added


async def _renew(session: AsyncSession, watch: Watch) -> list[int]:
    """Let in whoever is on call now and queue the next change; who was let in."""
    added = await _let_in(session, watch)
    await _queue(session, watch)
    return added


async def follow(session: AsyncSession, page: OncallPage) -> None:
    """Queue the page's next hand-off check, if it has anything to follow; called by every
    step of a page (opening, escalation, reassignment to a policy)."""
    watch = await _watch(session, page)
    if watch is not None:
        await _queue(session, watch)


async def hand_off(session: AsyncSession, page_id: int) -> list[int]:
    """Run a chain's job: let in whoever is on call now and queue the next change, or stop
    (queue nothing) when the page no longer needs following. Returns who was let in."""
    page = await session.scalar(
        sa.select(OncallPage).where(OncallPage.id == page_id).with_for_update()
    )
    watch = None if page is None else await _watch(session, page)
    if watch is None:
        return []
    return await _renew(session, watch)


async def catch_up(
    session: AsyncSession, *, schedule_id: int | None = None, policy_id: int | None = None
) -> None:
    """After a schedule, an override or a policy changed, in the same transaction: every
    unresolved page of a private, active incident whose current level targets that schedule
    (or that runs on that policy) lets in whoever is on call now and queues its next change
    from the schedules as they are now."""
    stmt = (
        sa.select(OncallPage)
        .join(Incident, Incident.id == OncallPage.incident_id)
        .where(
            OncallPage.status != service.RESOLVED,
            Incident.visibility == "private",
            Incident.status.in_([status.value for status in ACTIVE]),
        )
        .order_by(OncallPage.id)
        .with_for_update(of=OncallPage)
    )
    if policy_id is not None:
        stmt = stmt.where(OncallPage.policy_id == policy_id)
    for page in list(await session.scalars(stmt)):
        watch = await _watch(session, page)
        if watch is None:
            continue
        if schedule_id is not None and schedule_id not in {row.id for row in watch.schedules}:
            continue
        await _renew(session, watch)


async def follow_incident(session: AsyncSession, incident_id: int) -> None:
    """After an incident became private or was re-opened, in the same transaction: each of
    its unresolved pages lets in the people it has paged (responders keep the access they
    had while it was public) and whoever is on call for it now, then follows its hand-offs
    again. Pages of a public or inactive incident are left alone (`_watch`)."""
    pages = await session.scalars(
        sa.select(OncallPage)
        .where(OncallPage.incident_id == incident_id, OncallPage.status != service.RESOLVED)
        .order_by(OncallPage.id)
        .with_for_update()
    )
    for page in list(pages):
        paged = [int(user_id) for user_id in page.notified or []]
        if paged:
            labels = await service.user_labels(session, set(paged))
            await service.admit(session, page, paged, labels, ACTOR)
        watch = await _watch(session, page)
        if watch is not None:
            await _renew(session, watch)
