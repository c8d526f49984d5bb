"""REST routes for incidents under /api/v1/incidents, named by reference (INC-42)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.incidents import service as incidents
from tocsin.incidents.escalation.schemas import SlasOut
from tocsin.incidents.lifecycle import Status
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.schemas import (
    ChecklistItemSet,
    ChecklistsOut,
    IncidentDeclare,
    IncidentOut,
    IncidentPatch,
    IncidentSummary,
    KpiOut,
    MilestoneSet,
    NoteIn,
    ParticipantAdd,
    RoleAssign,
    RolesOut,
    StarIn,
    StatusChange,
    TimelineEventOut,
)
from tocsin.incidents.service import figures

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

READ = Depends(Requires(Permission.INCIDENT_READ))
DECLARE = Depends(Requires(Permission.INCIDENT_DECLARE))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
NOTE = Depends(Requires(Permission.INCIDENT_NOTE))
DB = Depends(get_session)


@router.post("", response_model=IncidentOut, status_code=201)
async def declare(
    body: IncidentDeclare, who: Principal = DECLARE, session: AsyncSession = DB
) -> IncidentOut:
    """Declare an incident; the declarer becomes its first participant."""
    return await incidents.declare(session, who, body)


@router.get("", response_model=list[IncidentSummary])
async def list_incidents(
    status: Annotated[list[Status] | None, Query()] = None,
    severity: str | None = None,
    service: str | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    who: Principal = READ,
    session: AsyncSession = DB,
) -> list[IncidentSummary]:
    """Newest first. Private incidents appear only to their participants and admins."""
    query = incidents.IncidentFilter(
        status=status or (), severity=severity, service=service, active=active, limit=limit
    )
    return await incidents.list_incidents(session, who, query)


@router.get("/{ref}", response_model=IncidentOut)
async def get_incident(ref: str, who: Principal = READ, session: AsyncSession = DB) -> IncidentOut:
    return await incidents.get_incident(session, who, ref)


@router.patch("/{ref}", response_model=IncidentOut)
async def update_incident(
    ref: str, body: IncidentPatch, who: Principal = WRITE, session: AsyncSession = DB
) -> IncidentOut:
    return await incidents.update_incident(session, who, ref, body)


@router.post("/{ref}/status", response_model=IncidentOut)
async def change_status(
    ref: str, body: StatusChange, who: Principal = WRITE, session: AsyncSession = DB
) -> IncidentOut:
    """Move through the lifecycle; resolving needs its checklist done or waived."""
    return await incidents.change_status(session, who, ref, body)


@router.put("/{ref}/milestones/{name}", response_model=IncidentOut)
async def set_milestone(
    ref: str,
    name: Milestone,
    body: MilestoneSet,
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> IncidentOut:
    """Set a milestone, or correct it (with a reason); out-of-order times are refused."""
    return await incidents.set_milestone(session, who, ref, name, body)


@router.get("/{ref}/timeline", response_model=list[TimelineEventOut])
async def get_timeline(
    ref: str, starred: bool = False, who: Principal = READ, session: AsyncSession = DB
) -> list[TimelineEventOut]:
    return await incidents.get_timeline(session, who, ref, starred_only=starred)


@router.post("/{ref}/timeline", response_model=TimelineEventOut, status_code=201)
async def add_note(
    ref: str, body: NoteIn, who: Principal = NOTE, session: AsyncSession = DB
) -> TimelineEventOut:
    return await incidents.add_note(session, who, ref, body)


@router.post("/{ref}/timeline/{event_id}/star", response_model=TimelineEventOut)
async def star(
    ref: str,
    event_id: int,
    body: StarIn | None = None,
    who: Principal = NOTE,
    session: AsyncSession = DB,
) -> TimelineEventOut:
    """Star (or, with `{"starred": false}`, unstar) a timeline event."""
    return await incidents.star(session, who, ref, event_id, body or StarIn())


@router.get("/{ref}/kpis", response_model=list[KpiOut])
async def get_kpis(ref: str, who: Principal = READ, session: AsyncSession = DB) -> list[KpiOut]:
    """Time to detect, acknowledge, mitigate and resolve, measured from impact start,
    against the severity's targets: met, breached, or running with the time left."""
    return await incidents.get_kpis(session, who, ref)


@router.get("/{ref}/slas", response_model=SlasOut)
async def get_slas(ref: str, who: Principal = READ, session: AsyncSession = DB) -> SlasOut:
    """Per affected customer tier and business unit: response and resolution clocks (met, on
    track, at risk or breached, with the time left), availability budget consumed, credits."""
    return await figures.get_slas(session, who, ref)


@router.get("/{ref}/roles", response_model=RolesOut)
async def get_roles(ref: str, who: Principal = READ, session: AsyncSession = DB) -> RolesOut:
    return await incidents.get_roles(session, who, ref)


@router.put("/{ref}/roles", response_model=RolesOut)
async def assign_role(
    ref: str, body: RoleAssign, who: Principal = WRITE, session: AsyncSession = DB
) -> RolesOut:
    """Assign a role, or hand it over from its current holder."""
    return await incidents.assign_role(session, who, ref, body)


@router.post("/{ref}/participants", response_model=IncidentOut)
async def add_participant(
    ref: str, body: ParticipantAdd, who: Principal = WRITE, session: AsyncSession = DB
) -> IncidentOut:
    return await incidents.add_participant_by_email(session, who, ref, body)


@router.get("/{ref}/checklists", response_model=ChecklistsOut)
async def get_checklists(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> ChecklistsOut:
    return await incidents.get_checklists(session, who, ref)


@router.put("/{ref}/checklists", response_model=ChecklistsOut)
async def set_checklist_item(
    ref: str, body: ChecklistItemSet, who: Principal = WRITE, session: AsyncSession = DB
) -> ChecklistsOut:
    """Mark one item done, waived (with a reason) or open."""
    return await incidents.set_item(session, who, ref, body)
