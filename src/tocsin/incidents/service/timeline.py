"""The incident timeline: read it, add notes, decisions and updates, star what matters."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.permissions import Permission
from tocsin.errors import NotFound
from tocsin.incidents.models import TimelineEvent
from tocsin.incidents.schemas import NoteIn, StarIn, TimelineEventOut
from tocsin.incidents.service.common import Who, actor_of, finish, load, note, record, require


def event_out(event: TimelineEvent) -> TimelineEventOut:
    return TimelineEventOut(
        id=event.id,
        at=event.at,
        kind=event.kind,
        actor=event.actor_label,
        actor_kind=event.actor_kind,
        text=event.text,
        data=event.data,
        starred=event.starred,
    )


async def get_timeline(
    session: AsyncSession, who: Who, ref: str, *, starred_only: bool = False
) -> list[TimelineEventOut]:
    """Oldest first, the order a post-mortem reads it in."""
    incident = await load(session, who, ref)
    stmt = (
        sa.select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident.id)
        .order_by(TimelineEvent.at, TimelineEvent.id)
    )
    if starred_only:
        stmt = stmt.where(TimelineEvent.starred.is_(True))
    return [event_out(e) for e in await session.scalars(stmt)]


async def add_note(session: AsyncSession, who: Who, ref: str, body: NoteIn) -> TimelineEventOut:
    require(who, Permission.INCIDENT_NOTE)
    incident = await load(session, who, ref)
    actor = actor_of(who)
    event = note(session, incident, actor, body.kind, body.text)
    await session.flush()
    record(
        session,
        actor,
        f"incident.{body.kind}_added",
        incident,
        None,
        {"timeline_id": event.id, "text": body.text},
    )
    out = event_out(event)
    await finish(session, incident, "incident.timeline", timeline_id=event.id)
    return out


async def star(
    session: AsyncSession, who: Who, ref: str, event_id: int, body: StarIn
) -> TimelineEventOut:
    require(who, Permission.INCIDENT_NOTE)
    incident = await load(session, who, ref)
    event = await session.get(TimelineEvent, event_id)
    if event is None or event.incident_id != incident.id:
        raise NotFound("timeline event", event_id)
    if event.starred == body.starred:
        return event_out(event)
    actor = actor_of(who)
    event.starred = body.starred
    verb = "starred" if body.starred else "unstarred"
    note(
        session,
        incident,
        actor,
        f"event_{verb}",
        f"{verb.capitalize()}: {event.text[:200]}",
        {"timeline_id": event.id},
    )
    record(
        session,
        actor,
        f"incident.timeline_{verb}",
        incident,
        {"timeline_id": event.id, "starred": not body.starred},
        {"timeline_id": event.id, "starred": body.starred},
    )
    out = event_out(event)
    await finish(session, incident, "incident.timeline", timeline_id=event.id)
    return out
