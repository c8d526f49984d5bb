"""War-room use cases, and the jobs that talk to chat platforms.

Requests only ever change the database: opening a room stores it as `pending` and enqueues
the job that creates it, so a Slack or Matrix outage never blocks declaring or running an
incident (the job retries with back-off). Web-room messages are stored and published after
commit to the incident's live audience, so a private incident's chat reaches only its
participants. Pinning puts a message on the incident timeline.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.config import Settings, get_settings
from tocsin.errors import Invalid, NotFound
from tocsin.incidents.models import (
    Incident,
    IncidentLink,
    IncidentParticipant,
    IncidentRoleAssignment,
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
from tocsin.incidents.warrooms import naming
from tocsin.incidents.warrooms.adapters.base import ChatAdapter, NameTaken
from tocsin.incidents.warrooms.models import WarRoom, WarRoomMessage
from tocsin.incidents.warrooms.outbox import (
    CREATE_KIND,
    PIN_KIND,
    SYNC_KIND,
    chat_platforms,
)
from tocsin.incidents.warrooms.schemas import (
    MessageIn,
    MessageOut,
    OpenIn,
    PinIn,
    WarRoomOut,
    WarRoomsOut,
)
from tocsin.jobs import service as jobs

MAX_NAME_ATTEMPTS = 20
LINK_KIND = "war_room"


def room_out(row: WarRoom) -> WarRoomOut:
    return WarRoomOut(
        id=row.id,
        platform=row.platform,
        status=row.status,
        private=row.private,
        name=row.name,
        url=row.url,
        last_error=row.last_error,
        members=len(row.members or []),
    )


def message_out(row: WarRoomMessage) -> MessageOut:
    return MessageOut(
        id=row.id,
        platform=row.platform,
        author=row.author_label,
        body=row.body,
        posted_at=row.posted_at,
        permalink=row.permalink,
        pinned_at=row.pinned_at,
        pinned_by=row.pinned_by,
    )


async def _rooms(session: AsyncSession, incident_id: int) -> list[WarRoom]:
    rows = await session.scalars(
        sa.select(WarRoom).where(WarRoom.incident_id == incident_id).order_by(WarRoom.id)
    )
    return list(rows)


async def overview(
    session: AsyncSession, who: Who, ref: str, settings: Settings | None = None
) -> WarRoomsOut:
    incident = await load(session, who, ref)
    messages = await session.scalars(
        sa.select(WarRoomMessage)
        .where(WarRoomMessage.incident_id == incident.id)
        .order_by(WarRoomMessage.posted_at, WarRoomMessage.id)
    )
    return WarRoomsOut(
        platforms=list((settings or get_settings()).warroom_platforms),
        rooms=[room_out(r) for r in await _rooms(session, incident.id)],
        messages=[message_out(m) for m in messages],
    )


async def open_rooms(
    session: AsyncSession, who: Who, ref: str, body: OpenIn, settings: Settings | None = None
) -> list[WarRoomOut]:
    """Ask for the incident's chat rooms; asking again for a room that exists changes nothing,
    and asking again for one whose creation failed tries anew."""
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    enabled = chat_platforms(settings or get_settings())
    if body.platform is not None and body.platform not in enabled:
        raise Invalid("platform", f"{body.platform} war rooms are not enabled here")
    wanted = [body.platform] if body.platform else enabled
    if not wanted:
        raise Invalid("platform", "no chat platform is enabled for war rooms")
    existing = {r.platform: r for r in await _rooms(session, incident.id)}
    actor = actor_of(who)
    changed = []
    for platform in wanted:
        row = existing.get(platform)
        if row is not None and row.status != "failed":
            continue
        before = None if row is None else snapshot(row)
        if row is None:
            row = WarRoom(
                incident_id=incident.id,
                platform=platform,
                private=incident.visibility == "private",
                members=[],
                opened_by=actor.label,
            )
            session.add(row)
        row.status, row.last_error = "pending", None
        await session.flush()
        await jobs.enqueue(session, CREATE_KIND, {"incident_id": incident.id, "platform": platform})
        record(session, actor, "incident.warroom.open", incident, before, snapshot(row))
        changed.append(platform)
    out = [room_out(r) for r in await _rooms(session, incident.id)]
    if changed:
        await finish(session, incident, "incident.warroom", platforms=changed)
    return out


async def post_message(session: AsyncSession, who: Who, ref: str, body: MessageIn) -> MessageOut:
    require(who, Permission.INCIDENT_NOTE)
    incident = await load(session, who, ref)
    actor = actor_of(who)
    row = WarRoomMessage(
        incident_id=incident.id,
        platform="web",
        author_user_id=who.user_id if isinstance(who, Principal) else None,
        author_label=(who.name or who.email) if isinstance(who, Principal) else actor.label,
        body=body.body,
        posted_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    record(session, actor, "incident.warroom.message", incident, None, snapshot(row))
    out = message_out(row)
    await finish(session, incident, "incident.warroom.message", message=out.model_dump(mode="json"))
    return out


async def pin_message(session: AsyncSession, who: Who, ref: str, message_id: int) -> MessageOut:
    require(who, Permission.INCIDENT_NOTE)
    incident = await load(session, who, ref)
    row = await session.get(WarRoomMessage, message_id)
    if row is None or row.incident_id != incident.id:
        raise NotFound("war-room message", str(message_id))
    actor = actor_of(who)
    if row.pinned_at is None:
        await _pin(session, incident, row, actor)
    out = message_out(row)
    await finish(session, incident, "incident.warroom.pinned", message=row.id)
    return out


async def _pin(
    session: AsyncSession, incident: Incident, row: WarRoomMessage, actor: Actor
) -> None:
    before = snapshot(row)
    row.pinned_at, row.pinned_by = utcnow(), actor.label
    await session.flush()
    data: dict[str, Any] = {"message": row.id, "platform": row.platform, "author": row.author_label}
    if row.permalink:
        data["permalink"] = row.permalink
    note(session, incident, actor, "message_pinned", f"{row.author_label}: {row.body}", data)
    record(session, actor, "incident.warroom.pin", incident, before, snapshot(row))


async def request_pin(session: AsyncSession, who: Who, ref: str, body: PinIn) -> int:
    """Queue the pinning of a Slack or Matrix message; the job fetches it from the platform."""
    require(who, Permission.INCIDENT_NOTE)
    incident = await load(session, who, ref)
    room = await session.scalar(
        sa.select(WarRoom).where(
            WarRoom.incident_id == incident.id, WarRoom.platform == body.platform
        )
    )
    if room is None or room.status != "open" or room.external_id is None:
        raise Invalid("platform", f"this incident has no open {body.platform} war room")
    if (body.message_id is None) == (body.permalink is None):
        raise Invalid("message_id", "give either message_id or permalink")
    actor = actor_of(who)
    payload = {
        "war_room_id": room.id,
        "message_id": body.message_id,
        "permalink": body.permalink,
        "actor": actor.label,
    }
    job = await jobs.enqueue(session, PIN_KIND, payload)
    record(session, actor, "incident.warroom.pin_requested", incident, None, payload)
    await session.commit()
    return job.id


# --- the jobs ------------------------------------------------------------------------------


async def desired_emails(session: AsyncSession, incident_id: int) -> set[str]:
    """The incident's participants and current role holders who still have an account."""
    participants = sa.select(IncidentParticipant.user_id).where(
        IncidentParticipant.incident_id == incident_id
    )
    holders = sa.select(IncidentRoleAssignment.user_id).where(
        IncidentRoleAssignment.incident_id == incident_id,
        IncidentRoleAssignment.ended_at.is_(None),
    )
    rows = await session.scalars(
        sa.select(User.email).where(
            User.is_active.is_(True), User.id.in_(participants.union(holders))
        )
    )
    return set(rows)


def room_name(incident: Incident, template: str) -> str:
    return naming.render(
        template,
        declared=incident.created_at.date(),
        severity=incident.severity,
        title=incident.title,
        incident_id=incident.id,
    )


async def create_room(
    session: AsyncSession, incident_id: int, platform: str, adapter: ChatAdapter, template: str
) -> bool:
    """Create the room on the platform and link it; True when this run created it.

    A room already created (the job ran twice) is left alone; a taken name gets the next
    numbered suffix.
    """
    row = await session.scalar(
        sa.select(WarRoom).where(WarRoom.incident_id == incident_id, WarRoom.platform == platform)
    )
    incident = await session.get(Incident, incident_id)
    if row is None or incident is None or row.external_id is not None:
        return False
    rules = await adapter.rules()
    attempt = naming.candidates(room_name(incident, template), rules)
    topic = f"{ref_of(incident.id)}: {incident.title}"
    for n in range(MAX_NAME_ATTEMPTS):
        try:
            room = await adapter.create_room(attempt(n), private=row.private, topic=topic)
            break
        except NameTaken:
            continue
    else:
        raise NameTaken(f"{MAX_NAME_ATTEMPTS} names in a row were taken")
    before = snapshot(row)
    row.status, row.name, row.external_id, row.url = "open", room.name, room.external_id, room.url
    if row.posted_through is None:  # news from here on (a replacement room keeps its place)
        from tocsin.incidents.warrooms.follow import latest_event

        row.posted_through = await latest_event(session, incident.id)
    row.last_error = None
    session.add(
        IncidentLink(
            incident_id=incident.id,
            kind=LINK_KIND,
            url=room.url,
            title=f"{adapter.label} war room {room.name}",
        )
    )
    await session.flush()
    actor = Actor.system(f"{adapter.label} war room")
    note(
        session,
        incident,
        actor,
        "war_room_opened",
        f"War room opened on {adapter.label}: {room.name}",
        {"platform": platform, "url": room.url, "war_room": row.id},
    )
    record(session, actor, "incident.warroom.created", incident, before, snapshot(row))
    await jobs.enqueue(session, SYNC_KIND, {"war_room_id": row.id})
    if platform == "matrix":  # Matrix pins come by reading the room (Slack pushes events)
        from tocsin.incidents.warrooms.follow import schedule_poll

        await schedule_poll(session, row, timedelta(0))
    await finish(session, incident, "incident.warroom", platforms=[platform])
    return True


async def sync_members(session: AsyncSession, war_room_id: int, adapter: ChatAdapter) -> None:
    """Make the room's members follow the incident: invite every participant the platform
    knows; in a private room also remove everyone else, so it holds exactly them."""
    row = await session.get(WarRoom, war_room_id)
    if row is None or row.external_id is None:
        return
    wanted = set(
        (
            await adapter.resolve_users(sorted(await desired_emails(session, row.incident_id)))
        ).values()
    )
    present = await adapter.members(row.external_id)
    await adapter.invite(row.external_id, wanted - present)
    kept = present | wanted
    if row.private:
        await adapter.remove(row.external_id, present - wanted)
        kept = wanted
    row.members = sorted(kept)
    await session.flush()


async def pin_external(
    session: AsyncSession, payload: dict[str, Any], adapter: ChatAdapter
) -> bool:
    """Fetch a Slack or Matrix message and pin it to the timeline (once, however often run)."""
    room = await session.get(WarRoom, int(payload["war_room_id"]))
    if room is None or room.external_id is None:
        return False
    incident = await session.get(Incident, room.incident_id)
    if incident is None:
        return False
    message_id = payload.get("message_id")
    if not message_id:
        parsed = adapter.parse_permalink(str(payload.get("permalink") or ""))
        if parsed is None:
            from tocsin.incidents.warrooms.adapters.base import AdapterError

            raise AdapterError("not a permalink of this platform", permanent=True)
        message_id = parsed[1]
    fetched = await adapter.fetch_message(room.external_id, str(message_id))
    existing = await session.scalar(
        sa.select(WarRoomMessage).where(
            WarRoomMessage.incident_id == incident.id,
            WarRoomMessage.platform == room.platform,
            WarRoomMessage.external_id == fetched.external_id,
        )
    )
    if existing is not None and existing.pinned_at is not None:
        return False
    row = existing or WarRoomMessage(
        incident_id=incident.id,
        platform=room.platform,
        external_id=fetched.external_id,
        permalink=fetched.permalink,
        author_label=fetched.author,
        body=fetched.text,
        posted_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    pin = getattr(adapter, "pin", None)
    if pin is not None:
        await pin(room.external_id, fetched.external_id)
    await _pin(session, incident, row, Actor.system(str(payload.get("actor") or "war room")))
    await finish(session, incident, "incident.warroom.pinned", message=row.id)
    return True
