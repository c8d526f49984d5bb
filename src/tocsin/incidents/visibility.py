"""Who may see an incident, and the live-update audience its events carry.

A private incident exists only for its participants and admins: everyone else is told it does
not exist (404, never 403, which would confirm that it does). The same rule decides who hears
its live events, so a page never shows what the same person could not load.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tocsin.audit.service import Actor
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.incidents.models import Incident, IncidentParticipant

PRIVATE_PREFIX = "private:"
PUBLIC_AUDIENCE = Permission.INCIDENT_READ.value

Viewer = Principal | Actor


def audience(incident_id: int, visibility: str) -> str:
    """The event audience for an incident: readers of incidents, or its participants only."""
    return f"{PRIVATE_PREFIX}{incident_id}" if visibility == "private" else PUBLIC_AUDIENCE


def sees_everything(viewer: Viewer) -> bool:
    """Admins and trusted internal callers (the command line, timers) see private incidents."""
    if isinstance(viewer, Actor):
        return viewer.kind == "system"
    return viewer.is_admin


def user_id_of(viewer: Viewer) -> int | None:
    return viewer.user_id if isinstance(viewer, Principal) else viewer.id


def may_see(viewer: Viewer, visibility: str, participant_ids: Collection[int]) -> bool:
    if visibility != "private" or sees_everything(viewer):
        return True
    user_id = user_id_of(viewer)
    return user_id is not None and user_id in participant_ids


def visible_clause(viewer: Viewer) -> sa.ColumnElement[bool]:
    """A WHERE condition on incidents that keeps only those `viewer` may see."""
    if sees_everything(viewer):
        return sa.true()
    user_id = user_id_of(viewer)
    if user_id is None:
        return Incident.visibility != "private"
    member = (
        sa.select(IncidentParticipant.id)
        .where(
            IncidentParticipant.incident_id == Incident.id,
            IncidentParticipant.user_id == user_id,
        )
        .exists()
    )
    return sa.or_(Incident.visibility != "private", member)


async def is_participant(session: AsyncSession, incident_id: int, user_id: int) -> bool:
    found = await session.scalar(
        sa.select(IncidentParticipant.id).where(
            IncidentParticipant.incident_id == incident_id,
            IncidentParticipant.user_id == user_id,
        )
    )
    return found is not None


def private_incident_id(audience_name: str) -> int | None:
    if not audience_name.startswith(PRIVATE_PREFIX):
        return None
    number = audience_name[len(PRIVATE_PREFIX) :]
    return int(number) if number.isdigit() else None


async def participant_hears(
    sessionmaker: async_sessionmaker[AsyncSession], principal: Principal, audience_name: str
) -> bool:
    """For the live stream: does a private incident's event reach this (non-admin) person?

    Asked per event rather than remembered, so someone added to the incident a moment ago
    hears its next event, and someone removed stops hearing at once.
    """
    incident_id = private_incident_id(audience_name)
    if incident_id is None or principal.user_id is None:
        return False
    if not principal.can(Permission.INCIDENT_READ):
        return False
    async with sessionmaker() as session:
        return await is_participant(session, incident_id, principal.user_id)
