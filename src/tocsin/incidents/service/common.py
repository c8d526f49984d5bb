"""What every incident use case shares: who may act, finding a visible incident, and writing
each change to the timeline, the audit trail and (after commit) the event bus.

Writes take `who`: the request's Principal (its permission and the incident's visibility are
checked) or a bare Actor for trusted callers (the command line, timers), which see everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin import events
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.errors import NotFound, ProblemError
from tocsin.incidents import visibility
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.models import (
    Incident,
    IncidentMilestone,
    IncidentParticipant,
    TimelineEvent,
)

Who = Principal | Actor
REF_PREFIX = "INC-"


def ref_of(incident_id: int) -> str:
    return f"{REF_PREFIX}{incident_id}"


def parse_ref(ref: str) -> int | None:
    """`INC-42`, `inc-42` and `42` all name incident 42."""
    text = ref.strip().upper()
    if text.startswith(REF_PREFIX):
        text = text[len(REF_PREFIX) :]
    return int(text) if text.isdigit() and len(text) < 12 else None


def actor_of(who: Who) -> Actor:
    return who.actor if isinstance(who, Principal) else who


def require(who: Who, permission: Permission) -> None:
    if isinstance(who, Principal) and not who.can(permission):
        raise ProblemError(403, "Forbidden", f"this needs the {permission.value} permission")


async def participant_ids(session: AsyncSession, incident_id: int) -> set[int]:
    rows = await session.scalars(
        sa.select(IncidentParticipant.user_id).where(IncidentParticipant.incident_id == incident_id)
    )
    return set(rows.all())


async def load(session: AsyncSession, who: Who, ref: str) -> Incident:
    """The incident `who` may see, or 404 — also when it exists but is private to others."""
    incident_id = parse_ref(ref)
    incident = None if incident_id is None else await session.get(Incident, incident_id)
    if incident is None or not visibility.may_see(
        who, incident.visibility, await participant_ids(session, incident.id)
    ):
        raise NotFound("incident", ref)
    return incident


async def add_participant(session: AsyncSession, incident_id: int, user_id: int) -> bool:
    """True when the user was not a participant yet.

    Two transactions may add the same person at once (an on-call hand-off beside someone
    adding them by hand): the second waits for the first's row and then finds the pair taken.
    The insert runs in a savepoint so that only it is undone and the caller's transaction goes
    on. It stays an ORM insert: the war rooms' flush listener follows new participants."""
    if await visibility.is_participant(session, incident_id, user_id):
        return False
    try:
        async with session.begin_nested():
            session.add(
                IncidentParticipant(incident_id=incident_id, user_id=user_id, added_at=utcnow())
            )
    except IntegrityError:
        if await visibility.is_participant(session, incident_id, user_id):
            return False
        raise  # not the pair taken: a missing incident or user
    return True


async def find_user(session: AsyncSession, email: str, field: str) -> User:
    from tocsin.auth import service as auth
    from tocsin.errors import Invalid

    user = await auth.find_user_by_email(session, email)
    if user is None or not user.is_active:
        raise Invalid(field, f"there is no active user {email!r}")
    return user


async def milestone_times(session: AsyncSession, incident_id: int) -> dict[Milestone, datetime]:
    rows = await session.scalars(
        sa.select(IncidentMilestone).where(IncidentMilestone.incident_id == incident_id)
    )
    return {Milestone(r.name): r.at for r in rows}


def note(
    session: AsyncSession,
    incident: Incident,
    actor: Actor,
    kind: str,
    text: str = "",
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    """Append one event to the incident's timeline."""
    event = TimelineEvent(
        incident_id=incident.id,
        at=utcnow(),
        kind=kind,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        text=text,
        data=data or {},
    )
    session.add(event)
    return event


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    incident: Incident,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    audit.record(
        session, actor, action, "incident", ref_of(incident.id), before=before, after=after
    )


@dataclass(frozen=True)
class Published:
    name: str
    data: dict[str, Any]
    audience: str


async def finish(session: AsyncSession, incident: Incident, event: str, **data: Any) -> None:
    """Commit, then tell live pages and reactions; never before the change is durable."""
    await session.flush()
    published = Published(
        event,
        {"ref": ref_of(incident.id), "id": incident.id, "status": incident.status, **data},
        visibility.audience(incident.id, incident.visibility),
    )
    await session.commit()
    await events.publish(published.name, published.data, audience=published.audience)
