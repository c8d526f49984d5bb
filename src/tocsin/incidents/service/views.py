"""Reading incidents into their API shapes, a few queries per page rather than per row."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.models import User
from tocsin.incidents.models import (
    Incident,
    IncidentAffected,
    IncidentLink,
    IncidentMilestone,
    IncidentParticipant,
    IncidentRoleAssignment,
)
from tocsin.incidents.schemas import (
    ROLE_LABELS,
    IncidentOut,
    IncidentSummary,
    LinkOut,
    MilestoneOut,
    PersonOut,
    RoleOut,
)
from tocsin.incidents.service.common import ref_of

AFFECTED_KINDS = ("service", "customer", "customer_tier", "business_unit")


async def affected(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, list[str]]]:
    found: dict[int, dict[str, list[str]]] = defaultdict(lambda: {k: [] for k in AFFECTED_KINDS})
    if ids:
        rows = await session.execute(
            sa.select(IncidentAffected.incident_id, IncidentAffected.kind, IncidentAffected.slug)
            .where(IncidentAffected.incident_id.in_(ids))
            .order_by(IncidentAffected.slug)
        )
        for incident_id, kind, slug in rows:
            found[incident_id][kind].append(slug)
    return found


def person(user: User) -> PersonOut:
    return PersonOut(id=user.id, email=user.email, name=user.name)


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role.replace("-", " ").capitalize())


async def roles(session: AsyncSession, incident_id: int, current_only: bool) -> list[RoleOut]:
    stmt = (
        sa.select(IncidentRoleAssignment, User)
        .join(User, User.id == IncidentRoleAssignment.user_id)
        .where(IncidentRoleAssignment.incident_id == incident_id)
        .order_by(IncidentRoleAssignment.assigned_at, IncidentRoleAssignment.id)
    )
    if current_only:
        stmt = stmt.where(IncidentRoleAssignment.ended_at.is_(None))
    return [
        RoleOut(
            role=a.role,
            label=role_label(a.role),
            user=person(user),
            assigned_at=a.assigned_at,
            assigned_by=a.assigned_by,
            ended_at=a.ended_at,
        )
        for a, user in await session.execute(stmt)
    ]


def summary(incident: Incident, services: list[str]) -> IncidentSummary:
    return IncidentSummary(
        id=incident.id,
        ref=ref_of(incident.id),
        title=incident.title,
        severity=incident.severity,
        type=incident.type,
        visibility=incident.visibility,
        status=incident.status,
        services=services,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
    )


async def summaries(session: AsyncSession, incidents: list[Incident]) -> list[IncidentSummary]:
    sets = await affected(session, [i.id for i in incidents])
    return [summary(i, sets[i.id]["service"]) for i in incidents]


async def full(session: AsyncSession, incident: Incident) -> IncidentOut:
    sets = (await affected(session, [incident.id]))[incident.id]
    links = await session.scalars(
        sa.select(IncidentLink)
        .where(IncidentLink.incident_id == incident.id)
        .order_by(IncidentLink.id)
    )
    people = await session.scalars(
        sa.select(User)
        .join(IncidentParticipant, IncidentParticipant.user_id == User.id)
        .where(IncidentParticipant.incident_id == incident.id)
        .order_by(IncidentParticipant.added_at, IncidentParticipant.id)
    )
    marks = await session.scalars(
        sa.select(IncidentMilestone).where(IncidentMilestone.incident_id == incident.id)
    )
    creator = await session.get(User, incident.created_by_id) if incident.created_by_id else None
    base = summary(incident, sets["service"]).model_dump()
    return IncidentOut(
        **base,
        summary=incident.summary,
        customers=sets["customer"],
        customer_tiers=sets["customer_tier"],
        business_units=sets["business_unit"],
        customers_affected=incident.customers_affected,
        revenue_per_hour=incident.revenue_per_hour,
        regulatory=incident.regulatory,
        reputational=incident.reputational,
        links=[LinkOut(kind=link.kind, url=link.url, title=link.title) for link in links],
        participants=[person(u) for u in people],
        roles=await roles(session, incident.id, current_only=True),
        milestones={
            m.name: MilestoneOut(
                name=m.name,
                at=m.at,
                set_by_kind=m.set_by_kind,
                set_by=m.set_by_label,
                evidence=m.evidence,
                evidence_url=m.evidence_url,
            )
            for m in marks
        },
        created_by=creator.email if creator else None,
    )
