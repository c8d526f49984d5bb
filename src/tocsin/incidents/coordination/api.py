"""REST routes of incident coordination: /api/v1/incidents/{ref}/workstreams, /tasks,
/decisions and /conflicts. Reading needs incident:read; everything that directs the response
needs incident:write (see service.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.incidents.coordination import service
from tocsin.incidents.coordination.schemas import (
    ConflictOut,
    ConflictRaise,
    DecisionCreate,
    DecisionOut,
    Priority,
    TaskCreate,
    TaskOut,
    TaskPatch,
    TaskStatus,
    WorkstreamCreate,
    WorkstreamOut,
    WorkstreamPatch,
)

router = APIRouter(prefix="/api/v1/incidents", tags=["incident coordination"])

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
DB = Depends(get_session)


@router.get("/{ref}/workstreams", response_model=list[WorkstreamOut])
async def list_workstreams(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> list[WorkstreamOut]:
    return await service.list_workstreams(session, who, ref)


@router.post("/{ref}/workstreams", response_model=WorkstreamOut, status_code=201)
async def create_workstream(
    ref: str, body: WorkstreamCreate, who: Principal = WRITE, session: AsyncSession = DB
) -> WorkstreamOut:
    return await service.create_workstream(session, who, ref, body)


@router.patch("/{ref}/workstreams/{stream_id}", response_model=WorkstreamOut)
async def update_workstream(
    ref: str,
    stream_id: int,
    body: WorkstreamPatch,
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> WorkstreamOut:
    return await service.update_workstream(session, who, ref, stream_id, body)


@router.get("/{ref}/tasks", response_model=list[TaskOut])
async def list_tasks(
    ref: str,
    status: TaskStatus | None = None,
    team: str | None = None,
    owner: str | None = None,
    priority: Priority | None = None,
    workstream_id: int | None = None,
    who: Principal = READ,
    session: AsyncSession = DB,
) -> list[TaskOut]:
    """Most urgent first (priority, then due time)."""
    return await service.list_tasks(
        session,
        who,
        ref,
        status=status,
        team=team,
        owner=owner,
        priority=priority,
        workstream_id=workstream_id,
    )


@router.post("/{ref}/tasks", response_model=TaskOut, status_code=201)
async def create_task(
    ref: str, body: TaskCreate, who: Principal = WRITE, session: AsyncSession = DB
) -> TaskOut:
    return await service.create_task(session, who, ref, body)


@router.patch("/{ref}/tasks/{task_id}", response_model=TaskOut)
async def update_task(
    ref: str, task_id: int, body: TaskPatch, who: Principal = WRITE, session: AsyncSession = DB
) -> TaskOut:
    return await service.update_task(session, who, ref, task_id, body)


@router.post("/{ref}/tasks/{task_id}/conflicts", response_model=ConflictOut, status_code=201)
async def raise_conflict(
    ref: str,
    task_id: int,
    body: ConflictRaise,
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> ConflictOut:
    """Mark this task as conflicting with another; it waits for the commander's decision."""
    return await service.raise_conflict(session, who, ref, task_id, body)


@router.get("/{ref}/conflicts", response_model=list[ConflictOut])
async def list_conflicts(
    ref: str, all: bool = False, who: Principal = READ, session: AsyncSession = DB
) -> list[ConflictOut]:
    """Open conflicts; `?all=true` includes settled ones."""
    return await service.list_conflicts(session, who, ref, open_only=not all)


@router.post("/{ref}/conflicts/{conflict_id}/resolve", response_model=DecisionOut, status_code=201)
async def resolve_conflict(
    ref: str,
    conflict_id: int,
    body: DecisionCreate,
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> DecisionOut:
    return await service.resolve_conflict(session, who, ref, conflict_id, body)


@router.get("/{ref}/decisions", response_model=list[DecisionOut])
async def list_decisions(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> list[DecisionOut]:
    return await service.list_decisions(session, who, ref)


@router.post("/{ref}/decisions", response_model=DecisionOut, status_code=201)
async def create_decision(
    ref: str, body: DecisionCreate, who: Principal = WRITE, session: AsyncSession = DB
) -> DecisionOut:
    return await service.create_decision(session, who, ref, body)
