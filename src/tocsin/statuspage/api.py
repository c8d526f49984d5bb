"""Management API of status pages (/api/v1/status-pages): reading for everyone signed in,
changes for communicators and admins, overriding the resolution guard for admins."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.statuspage import handlers as _handlers  # noqa: F401  (fan-out and deliveries)
from tocsin.statuspage import service
from tocsin.statuspage.schemas import (
    ComponentCreate,
    ComponentOut,
    ComponentUpdate,
    GroupCreate,
    GroupOut,
    GuardOut,
    IncidentCreate,
    IncidentOut,
    MaintenanceCreate,
    PageCreate,
    PageOut,
    SubscriberCounts,
    UpdateCreate,
)

router = APIRouter(prefix="/api/v1/status-pages", tags=["status pages"])

READ = Depends(Requires(Permission.STATUSPAGE_READ))
MANAGE = Depends(Requires(Permission.STATUSPAGE_MANAGE))
DB = Depends(get_session)


@router.get("", response_model=list[PageOut])
async def list_pages(who: Principal = READ, session: AsyncSession = DB) -> list[PageOut]:
    return await service.list_pages(session)


@router.post("", response_model=PageOut, status_code=201)
async def create_page(
    body: PageCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> PageOut:
    """The first page becomes the default one, served at /status and /api/v2/…"""
    return await service.create_page(session, who, body)


@router.get("/{slug}", response_model=PageOut)
async def get_page(slug: str, who: Principal = READ, session: AsyncSession = DB) -> PageOut:
    return await service.get_page(session, slug)


@router.get("/{slug}/groups", response_model=list[GroupOut])
async def list_groups(
    slug: str, who: Principal = READ, session: AsyncSession = DB
) -> list[GroupOut]:
    return await service.list_groups(session, slug)


@router.post("/{slug}/groups", response_model=GroupOut, status_code=201)
async def create_group(
    slug: str, body: GroupCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> GroupOut:
    return await service.create_group(session, who, slug, body)


@router.get("/{slug}/components", response_model=list[ComponentOut])
async def list_components(
    slug: str, who: Principal = READ, session: AsyncSession = DB
) -> list[ComponentOut]:
    return await service.list_components(session, slug)


@router.post("/{slug}/components", response_model=ComponentOut, status_code=201)
async def create_component(
    slug: str, body: ComponentCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> ComponentOut:
    return await service.create_component(session, who, slug, body)


@router.patch("/{slug}/components/{component_id}", response_model=ComponentOut)
async def update_component(
    slug: str,
    component_id: int,
    body: ComponentUpdate,
    who: Principal = MANAGE,
    session: AsyncSession = DB,
) -> ComponentOut:
    """Setting `status` records the change for the 90-day uptime history."""
    return await service.update_component(session, who, slug, component_id, body)


@router.get("/{slug}/incidents", response_model=list[IncidentOut])
async def list_incidents(
    slug: str, who: Principal = READ, session: AsyncSession = DB
) -> list[IncidentOut]:
    """Incidents and maintenances, newest first."""
    return await service.list_incidents(session, who, slug)


@router.post("/{slug}/incidents", response_model=IncidentOut, status_code=201)
async def create_incident(
    slug: str, body: IncidentCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> IncidentOut:
    return await service.create_incident(session, who, slug, body)


@router.post("/{slug}/maintenances", response_model=IncidentOut, status_code=201)
async def create_maintenance(
    slug: str, body: MaintenanceCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> IncidentOut:
    return await service.create_maintenance(session, who, slug, body)


@router.get("/{slug}/incidents/{incident_id}", response_model=IncidentOut)
async def get_incident(
    slug: str, incident_id: int, who: Principal = READ, session: AsyncSession = DB
) -> IncidentOut:
    return await service.get_incident(session, who, slug, incident_id)


@router.get("/{slug}/incidents/{incident_id}/guard", response_model=GuardOut)
async def guard(
    slug: str, incident_id: int, who: Principal = READ, session: AsyncSession = DB
) -> GuardOut:
    """What the premature-resolution guard would say if the incident were resolved now."""
    return await service.guard_status(session, slug, incident_id)


@router.post("/{slug}/incidents/{incident_id}/updates", response_model=IncidentOut, status_code=201)
async def post_update(
    slug: str,
    incident_id: int,
    body: UpdateCreate,
    who: Principal = MANAGE,
    session: AsyncSession = DB,
) -> IncidentOut:
    """Post an update; resolving an incident linked to a Tocsin incident passes the guard
    (409 naming each failed condition) unless an admin overrides it with a justification."""
    return await service.post_update(session, who, slug, incident_id, body)


@router.get("/{slug}/subscribers", response_model=SubscriberCounts)
async def subscribers(
    slug: str, who: Principal = READ, session: AsyncSession = DB
) -> SubscriberCounts:
    """Counts only: subscribers' addresses are not shown to staff who do not need them."""
    return await service.subscriber_counts(session, slug)
