"""The war-room jobs that incident changes imply, added to the same transaction.

Declaring an incident and changing who takes part happen in several use cases; rather than
each of them remembering war rooms, a flush listener notices the rows that matter (a new
incident, a participant, a role assignment) and adds the job in the very transaction that
made the change. So a room is opened, and its membership follows, exactly when the change
commits — even if the process dies right after, which an after-commit reaction would miss.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from tocsin.clock import utcnow
from tocsin.config import Settings, get_settings
from tocsin.incidents.models import Incident, IncidentParticipant, IncidentRoleAssignment
from tocsin.incidents.warrooms.models import WarRoom
from tocsin.jobs.models import Job, JobStatus

CREATE_KIND = "incident.warroom.create"
SYNC_KIND = "incident.warroom.sync_members"
PIN_KIND = "incident.warroom.pin"
_PENDING_SYNC = "tocsin.warroom.synced"


def chat_platforms(settings: Settings) -> list[str]:
    return [p for p in settings.warroom_platforms if p != "web"]


def job(kind: str, payload: dict[str, Any], settings: Settings) -> Job:
    now = utcnow()
    return Job(
        kind=kind,
        payload=payload,
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


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    new_incidents = [row for row in session.new if isinstance(row, Incident)]
    touched = _touched_incidents(session)
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
