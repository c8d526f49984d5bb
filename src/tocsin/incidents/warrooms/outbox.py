"""The war-room jobs that incident changes imply, added to the same transaction.

Declaring an incident and changing who takes part happen in several use cases; rather than
each of them remembering war rooms, a flush listener notices the rows that matter (a new
incident, a participant, a role assignment) and adds the job in the very transaction that
made the change. So a room is opened, and its membership follows, exactly when the change
commits — even if the process dies right after, which an after-commit reaction would miss.

The same listener follows the timeline, which every use case already writes: an update, a
status, severity or role change, an attached alert becomes a post to each open room (keyed by
the timeline event, so it lands once); closing archives the rooms, re-opening brings them back,
and making the incident private closes its rooms to everyone else.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from tocsin.clock import utcnow
from tocsin.config import Settings, get_settings
from tocsin.incidents.models import (
    Incident,
    IncidentParticipant,
    IncidentRoleAssignment,
    TimelineEvent,
)
from tocsin.incidents.warrooms.models import WarRoom
from tocsin.jobs.models import Job, JobStatus

CREATE_KIND = "incident.warroom.create"
SYNC_KIND = "incident.warroom.sync_members"
PIN_KIND = "incident.warroom.pin"
POST_KIND = "incident.warroom.post"
ARCHIVE_KIND = "incident.warroom.archive"
UNARCHIVE_KIND = "incident.warroom.unarchive"
PRIVATE_KIND = "incident.warroom.make_private"
POLL_KIND = "incident.warroom.poll_reactions"
POSTED = frozenset(
    {
        "update",
        "status_changed",
        "reopened",
        "severity_changed",
        "role_assigned",
        "role_handed_over",
        "alert.attached",
    }
)
"""timeline events the war rooms hear about"""
FOLLOWED_KINDS = POSTED | {"status_changed", "reopened"}
"""timeline event kinds that may be news, a close or a re-open for the rooms"""
_PENDING_SYNC = "tocsin.warroom.synced"


def chat_platforms(settings: Settings) -> list[str]:
    return [p for p in settings.warroom_platforms if p != "web"]


def job(kind: str, payload: dict[str, Any], settings: Settings, key: str | None = None) -> Job:
    now = utcnow()
    return Job(
        kind=kind,
        payload=payload,
        idempotency_key=key,
        status=JobStatus.QUEUED.value,
        run_at=now,
        attempts=0,
        max_attempts=settings.job_max_attempts,
        created_at=now,
        updated_at=now,
    )


def _touched_incidents(session: Session) -> set[int]:
    ids = set()
    for row in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(row, IncidentParticipant | IncidentRoleAssignment) and row.incident_id:
            ids.add(row.incident_id)
    return ids


def reaction(event: TimelineEvent) -> str | None:
    """The job kind a timeline event asks of the incident's rooms, if any."""
    data = event.data or {}
    if event.kind == "status_changed" and data.get("to") == "closed":
        return ARCHIVE_KIND
    if event.kind == "reopened" and data.get("from") == "closed":
        return UNARCHIVE_KIND
    if event.kind == "updated" and "visibility" in (data.get("fields") or []):
        return PRIVATE_KIND
    if event.kind in POSTED:
        return POST_KIND
    return None


_ROOMS_FOR = {
    # The job only wakes the room's ordered drain, which decides by the room's state then.
    POST_KIND: ("open", "archived"),
    ARCHIVE_KIND: ("open", "archived"),
    UNARCHIVE_KIND: ("open", "archived"),
    PRIVATE_KIND: ("open", "archived", "pending"),
}


def _follow_timeline(session: Session, settings: Settings) -> None:
    wanted = [
        (row, kind)
        for row in session.new
        if isinstance(row, TimelineEvent) and (kind := reaction(row)) is not None
    ]
    if not wanted:
        return
    table = WarRoom.__table__.c
    rooms = session.connection().execute(
        sa.select(table.id, table.incident_id, table.status).where(
            table.incident_id.in_(sorted({row.incident_id for row, _ in wanted}))
        )
    )
    by_incident: dict[int, list[tuple[int, str]]] = {}
    for room_id, incident_id, status in rooms:
        by_incident.setdefault(incident_id, []).append((room_id, status))
    for row, kind in sorted(wanted, key=lambda pair: pair[0].id):
        for room_id, status in by_incident.get(row.incident_id, []):
            if status in _ROOMS_FOR[kind]:
                payload = {"war_room_id": room_id, "event_id": row.id}
                session.add(job(kind, payload, settings, f"{kind}:{room_id}:{row.id}"))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    new_incidents = [row for row in session.new if isinstance(row, Incident)]
    touched = _touched_incidents(session)
    if any(isinstance(row, TimelineEvent) for row in session.new):
        _follow_timeline(session, get_settings())
    if not new_incidents and not touched:
        return
    settings = get_settings()
    platforms = chat_platforms(settings)
    if settings.warroom_auto_open:
        for incident in new_incidents:
            for platform in platforms:
                session.add(
                    WarRoom(
                        incident_id=incident.id,
                        platform=platform,
                        status="pending",
                        private=incident.visibility == "private",
                        members=[],
                        opened_by="declaration",
                    )
                )
                session.add(
                    job(CREATE_KIND, {"incident_id": incident.id, "platform": platform}, settings)
                )
    touched -= {incident.id for incident in new_incidents}
    if not touched:
        return
    already: set[int] = session.info.setdefault(_PENDING_SYNC, set())
    rooms = session.connection().execute(
        sa.select(WarRoom.__table__.c.id).where(
            WarRoom.__table__.c.incident_id.in_(sorted(touched)),
            WarRoom.__table__.c.status == "open",
        )
    )
    for (room_id,) in rooms:
        if room_id not in already:
            already.add(room_id)
            session.add(job(SYNC_KIND, {"war_room_id": room_id}, settings))


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING_SYNC, None)
