"""Who may see an incident that a routing rule opens as private.

The members of the team that owns the service, because the problem is theirs, and everyone
the service's escalation policy reaches at the moment it is declared, at every level, because
whoever is paged about an incident must be able to open it. Admins see it anyway. Whoever
the page reaches later (on call since, a later level) is let in by the page's own step
(`tocsin.oncall.service`) before being notified; anyone else (a responder pulled in) is added
by someone who can already see it. Adding is idempotent, so a retried decision adds nobody
twice.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team
from tocsin.incidents.models import Incident
from tocsin.incidents.service.common import add_participant, note


async def members_of(session: AsyncSession, service: Service, now: datetime) -> list[int]:
    """The owning team's members, then whoever the escalation policy reaches; no repeats."""
    from tocsin.oncall import service as oncall

    ids: list[int] = []
    if service.owner_team_id is not None:
        slug = await session.scalar(sa.select(Team.slug).where(Team.id == service.owner_team_id))
        if slug is not None:
            ids += [m.user_id for m in (await catalog.get_team(session, slug)).members]
    for level in (await oncall.who_is_on_call(session, service.slug, now)).levels:
        ids += level.user_ids
    return list(dict.fromkeys(ids))


async def admit(
    session: AsyncSession, incident: Incident, service: Service, actor: Actor, now: datetime
) -> list[int]:
    """Make the members participants of the private incident; the ids newly added."""
    added = [
        user_id
        for user_id in await members_of(session, service, now)
        if await add_participant(session, incident.id, user_id)
    ]
    if added:
        note(
            session,
            incident,
            actor,
            "participants_added",
            f"{len(added)} member(s) of {service.slug}'s team and on-call can see this "
            "private incident",
            {"users": added},
        )
    return added
