"""War rooms following their incident: posts, archive on close, re-open, going private, and
reading Matrix rooms for pin reactions. Run by jobs only, never in a request.

Each use case re-reads the room and the incident when it runs, so a job that was queued before
a later change (the room archived, the incident made private) does the right thing for the
state as it is now: a private incident's news never reaches a room still open to others.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.models import User
from tocsin.clock import utcnow
from tocsin.config import Settings
from tocsin.incidents.models import Incident, IncidentRoleAssignment, TimelineEvent
from tocsin.incidents.service.common import finish, milestone_times, note, record, ref_of
from tocsin.incidents.service.views import role_label
from tocsin.incidents.warrooms import announce
from tocsin.incidents.warrooms.adapters.base import AdapterError, ChatAdapter
from tocsin.incidents.warrooms.models import WarRoom, WarRoomMessage
from tocsin.incidents.warrooms.outbox import (
    ARCHIVE_KIND,
    CREATE_KIND,
    FOLLOWED_KINDS,
    POLL_KIND,
    POST_KIND,
    SYNC_KIND,
    UNARCHIVE_KIND,
    reaction,
)
from tocsin.jobs import service as jobs

POSTING_LEASE = timedelta(minutes=2)


async def _room(session: AsyncSession, payload: dict[str, Any]) -> tuple[WarRoom, Incident] | None:
    room = await session.get(WarRoom, int(payload["war_room_id"]))
    if room is None:
        return None
    incident = await session.get(Incident, room.incident_id)
    return None if incident is None else (room, incident)


def _may_hear(room: WarRoom, incident: Incident) -> bool:
    """A private incident speaks only in a private room."""
    return incident.visibility != "private" or room.private


def _topic(incident: Incident) -> str:
    return f"{ref_of(incident.id)}: {incident.title}"


class RoomBusy(Exception):
    """Another worker is posting to the room; the job is retried and finds its event posted."""


async def _lease(session: AsyncSession, room_id: int) -> datetime | None:
    now = utcnow()
    until = now + POSTING_LEASE
    taken = await session.execute(
        sa.update(WarRoom)
        .where(
            WarRoom.id == room_id,
            sa.or_(WarRoom.posting_until.is_(None), WarRoom.posting_until < now),
        )
        .values(posting_until=until)
    )
    await session.commit()
    return until if taken.rowcount == 1 else None  # type: ignore[attr-defined]


FOLLOWED = frozenset({POST_KIND, ARCHIVE_KIND, UNARCHIVE_KIND})


async def _pending(session: AsyncSession, room: WarRoom) -> list[TimelineEvent]:
    rows = await session.scalars(
        sa.select(TimelineEvent)
        .where(
            TimelineEvent.incident_id == room.incident_id,
            TimelineEvent.id > (room.posted_through or 0),
            TimelineEvent.kind.in_(FOLLOWED_KINDS),
        )
        .order_by(TimelineEvent.id)
        .limit(20)
    )
    return [e for e in rows if reaction(e) in FOLLOWED]


async def drain(
    session: AsyncSession, room_id: int, adapter: ChatAdapter, must_cover: int | None = None
) -> int:
    """Give the room, oldest first, every event it has not had yet; returns how many.

    News is posted, a close archives the room after its summary, a re-open brings it back.
    Each job names one event, but whichever runs first handles everything pending while
    holding the room, so retries after an outage or jobs claimed out of order never reorder
    or repeat what the room sees (nor post after the archive). A job that finds the room held
    while its own event (`must_cover`) is still pending raises RoomBusy and is retried.
    """
    until = await _lease(session, room_id)
    if until is None:
        room = await session.get(WarRoom, room_id, populate_existing=True)
        behind = room is not None and (room.posted_through or 0) < (must_cover or 0)
        await session.commit()
        if behind:
            raise RoomBusy(f"war room {room_id} is being posted to")
        return 0
    done = 0
    try:
        while True:
            room = await session.get(WarRoom, room_id, populate_existing=True)
            if room is None or room.external_id is None or room.status not in {"open", "archived"}:
                return done
            pending = await _pending(session, room)
            await session.commit()
            if not pending:
                return done
            for event in pending:
                await _give(session, room_id, event, adapter)
                await session.execute(
                    sa.update(WarRoom).where(WarRoom.id == room_id).values(posted_through=event.id)
                )
                await session.commit()
                done += 1
    finally:
        await session.rollback()
        await session.execute(
            sa.update(WarRoom)
            .where(WarRoom.id == room_id, WarRoom.posting_until == until)
            .values(posting_until=None)
        )
        await session.commit()


async def _give(
    session: AsyncSession, room_id: int, event: TimelineEvent, adapter: ChatAdapter
) -> None:
    """What one event means for the room as it is now."""
    room = await session.get(WarRoom, room_id, populate_existing=True)
    incident = None if room is None else await session.get(Incident, room.incident_id)
    if room is None or incident is None or room.external_id is None:
        return
    await session.refresh(incident)  # made private a moment ago? then this room hears nothing
    kind = reaction(event)
    if kind == POST_KIND and room.status == "open" and _may_hear(room, incident):
        text = announce.event_message(
            ref_of(incident.id), event.kind, event.text, event.data or {}, event.actor_label
        )
        external_id, key = room.external_id, f"tocsin-post-{room.id}-{event.id}"
        await session.commit()  # no database lock held while the platform answers
        await adapter.post(external_id, text, key=key)
    elif kind == ARCHIVE_KIND and room.status == "open":
        await _archive(session, room, incident, event, adapter)
    elif kind == UNARCHIVE_KIND and room.status == "archived":
        await _unarchive(session, room, incident, event, adapter)


async def post_event(session: AsyncSession, payload: dict[str, Any], adapter: ChatAdapter) -> bool:
    """The job of one timeline event (news, close, re-open): drain the room, which covers it."""
    room_id, event_id = int(payload["war_room_id"]), int(payload["event_id"])
    return await drain(session, room_id, adapter, must_cover=event_id) > 0


async def latest_event(session: AsyncSession, incident_id: int) -> int:
    found = await session.scalar(
        sa.select(sa.func.max(TimelineEvent.id)).where(TimelineEvent.incident_id == incident_id)
    )
    return int(found or 0)


async def _current_roles(session: AsyncSession, incident_id: int) -> dict[str, str]:
    rows = await session.execute(
        sa.select(IncidentRoleAssignment.role, User.email)
        .join(User, User.id == IncidentRoleAssignment.user_id)
        .where(
            IncidentRoleAssignment.incident_id == incident_id,
            IncidentRoleAssignment.ended_at.is_(None),
        )
    )
    return {role_label(role): email for role, email in rows.all()}


async def summary(session: AsyncSession, incident: Incident) -> str:
    pinned = await session.scalar(
        sa.select(sa.func.count())
        .select_from(WarRoomMessage)
        .where(WarRoomMessage.incident_id == incident.id, WarRoomMessage.pinned_at.is_not(None))
    )
    return announce.closing_summary(
        ref_of(incident.id),
        incident.title,
        incident.severity,
        {m.value: at for m, at in (await milestone_times(session, incident.id)).items()},
        await _current_roles(session, incident.id),
        int(pinned or 0),
    )


async def _changed(
    session: AsyncSession,
    incident: Incident,
    room: WarRoom,
    before: dict[str, Any],
    adapter: ChatAdapter,
    kind: str,
    text: str,
) -> None:
    actor = Actor.system(f"{adapter.label} war room")
    note(session, incident, actor, kind, text, {"platform": room.platform, "war_room": room.id})
    action = "incident.warroom." + kind.removeprefix("war_room_")
    record(session, actor, action, incident, before, snapshot(room))
    await finish(session, incident, "incident.warroom", platforms=[room.platform])


async def _archive(
    session: AsyncSession,
    room: WarRoom,
    incident: Incident,
    event: TimelineEvent,
    adapter: ChatAdapter,
) -> None:
    """The incident closed: post the closing summary, then archive the room."""
    assert room.external_id is not None
    if _may_hear(room, incident):
        text = await summary(session, incident)
        await adapter.post(room.external_id, text, key=f"tocsin-close-{room.id}-{event.id}")
    await adapter.archive(room.external_id, topic=f"[closed] {_topic(incident)}")
    before = snapshot(room)
    room.status = "archived"
    room.members = sorted(await adapter.members(room.external_id))
    text = f"{adapter.label} war room {room.name} archived"
    await _changed(session, incident, room, before, adapter, "war_room_archived", text)


async def _unarchive(
    session: AsyncSession,
    room: WarRoom,
    incident: Incident,
    event: TimelineEvent,
    adapter: ChatAdapter,
) -> None:
    """The incident was re-opened: bring the room back, say so, and let people in again."""
    assert room.external_id is not None
    await adapter.unarchive(room.external_id, topic=_topic(incident))
    if _may_hear(room, incident):
        text = announce.event_message(
            ref_of(incident.id), event.kind, event.text, event.data or {}, event.actor_label
        )
        await adapter.post(room.external_id, text, key=f"tocsin-reopen-{room.id}-{event.id}")
    before = snapshot(room)
    room.status = "open"
    await jobs.enqueue(session, SYNC_KIND, {"war_room_id": room.id})
    if room.platform == "matrix":
        await schedule_poll(session, room, timedelta(0))
    text = f"{adapter.label} war room {room.name} open again"
    await _changed(session, incident, room, before, adapter, "war_room_unarchived", text)


async def make_private(
    session: AsyncSession, payload: dict[str, Any], adapter: ChatAdapter
) -> bool:
    """The incident became private: close the room to everyone who may not see it.

    Where the platform can turn the room invite-only (Matrix) it does, and the membership sync
    then removes everyone who is not a participant. Where it cannot (Slack bots cannot convert
    a public channel), the public room is archived and a private one replaces it.
    """
    found = await _room(session, payload)
    if found is None:
        return False
    room, incident = found
    if incident.visibility != "private" or room.private:
        return False
    before = snapshot(room)
    if room.external_id is None:  # still being created: it will be created private
        room.private = True
        await session.commit()
        return True
    if await adapter.make_private(room.external_id):
        room.private = True
        await jobs.enqueue(session, SYNC_KIND, {"war_room_id": room.id})
        text = f"{adapter.label} war room {room.name} is now invite-only"
    elif room.status == "archived":
        room.private = True
        text = f"{adapter.label} war room {room.name} stays archived; the incident is private"
    else:
        await adapter.archive(room.external_id, topic=f"[moved] {ref_of(incident.id)}")
        old = room.name
        room.private, room.status = True, "pending"
        room.external_id, room.name, room.url, room.members = None, None, None, []
        await session.flush()
        await jobs.enqueue(
            session, CREATE_KIND, {"incident_id": incident.id, "platform": room.platform}
        )
        text = f"{adapter.label} war room {old} archived; a private room replaces it"
    await _changed(session, incident, room, before, adapter, "war_room_private", text)
    return True


async def schedule_poll(session: AsyncSession, room: WarRoom, after: timedelta) -> None:
    """Plan the next read of the room's reactions (one job per room and due time)."""
    run_at = utcnow() + after
    await jobs.enqueue(
        session,
        POLL_KIND,
        {"war_room_id": room.id},
        run_at=run_at,
        idempotency_key=f"{POLL_KIND}:{room.id}:{run_at.isoformat()}",
    )


async def poll_reactions(
    session: AsyncSession, payload: dict[str, Any], adapter: Any, settings: Settings
) -> int:
    """Pin every message that got the pin reaction since the last read; returns how many.

    The read position is saved only after the pins, so a crash in between reads the same
    reactions again, and pinning is idempotent.
    """
    from tocsin.incidents.warrooms.service import pin_external

    room = await session.get(WarRoom, int(payload["war_room_id"]))
    if room is None or room.status != "open" or room.external_id is None:
        return 0  # the chain ends; re-opening starts it again
    room_id, external_id, since = room.id, room.external_id, room.sync_token
    await session.commit()
    found, token = await adapter.reactions(external_id, since, settings.warroom_matrix_pin_reaction)
    pinned = 0
    for event_id, sender in found:
        pin = {"war_room_id": room_id, "message_id": event_id, "actor": f"{sender} (reaction)"}
        try:
            pinned += bool(await pin_external(session, pin, adapter))
        except AdapterError as exc:
            if not exc.permanent:
                raise
            await session.rollback()  # a reaction to a message the bot cannot read
    room = await session.get(WarRoom, room_id)
    if room is not None:
        room.sync_token = token
        await schedule_poll(session, room, timedelta(seconds=settings.warroom_matrix_poll_seconds))
        await session.commit()
    return pinned
