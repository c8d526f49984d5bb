"""Response roles: assignment and hand-over, with the whole history kept.

Whoever takes a role becomes a participant, so a private incident's commander can always see
the incident they command.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.clock import utcnow
from tocsin.incidents.models import IncidentRoleAssignment
from tocsin.incidents.schemas import RoleAssign, RolesOut
from tocsin.incidents.service import views
from tocsin.incidents.service.common import (
    Who,
    actor_of,
    add_participant,
    find_user,
    finish,
    load,
    note,
    record,
    require,
)


async def get_roles(session: AsyncSession, who: Who, ref: str) -> RolesOut:
    incident = await load(session, who, ref)
    everything = await views.roles(session, incident.id, current_only=False)
    return RolesOut(
        current=[r for r in everything if r.ended_at is None],
        history=everything,
    )


async def assign_role(session: AsyncSession, who: Who, ref: str, body: RoleAssign) -> RolesOut:
    """Give a role to someone; a current holder hands over (their stretch ends now)."""
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    user = await find_user(session, body.user, "user")
    current = await session.scalar(
        sa.select(IncidentRoleAssignment).where(
            IncidentRoleAssignment.incident_id == incident.id,
            IncidentRoleAssignment.role == body.role,
            IncidentRoleAssignment.ended_at.is_(None),
        )
    )
    if current is not None and current.user_id == user.id:
        return await get_roles(session, who, ref)
    actor = actor_of(who)
    now = utcnow()
    previous: User | None = None
    if current is not None:
        current.ended_at = now
        previous = await session.get(User, current.user_id)
    session.add(
        IncidentRoleAssignment(
            incident_id=incident.id,
            role=body.role,
            user_id=user.id,
            assigned_at=now,
            assigned_by=actor.label,
        )
    )
    await add_participant(session, incident.id, user.id)
    label = views.role_label(body.role)
    if previous is not None:
        kind, text = "role_handed_over", f"{label}: {previous.email} → {user.email}"
    else:
        kind, text = "role_assigned", f"{label}: {user.email}"
    if body.reason:
        text += f" ({body.reason})"
    data = {
        "role": body.role,
        "from": previous.email if previous else None,
        "to": user.email,
        "reason": body.reason,
    }
    note(session, incident, actor, kind, text, data)
    record(
        session,
        actor,
        f"incident.{kind}",
        incident,
        {"role": body.role, "user": previous.email} if previous else None,
        {"role": body.role, "user": user.email},
    )
    # Severity, impact, milestones and roles decide escalation: re-evaluate after this change.
    from tocsin.incidents.escalation.service import replan

    await replan(session, incident.id)
    await finish(session, incident, "incident.roles_changed", role=body.role)
    return await get_roles(session, who, ref)
