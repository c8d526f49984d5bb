"""REST routes of vendor engagements under /api/v1/incidents/{ref}/vendors."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.incidents.vendors import handlers as _handlers  # noqa: F401  (the deadline timer)
from tocsin.incidents.vendors import service
from tocsin.incidents.vendors.schemas import EngageIn, EngagementOut, EngagementPatch

router = APIRouter(prefix="/api/v1/incidents", tags=["incident vendors"])

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
DB = Depends(get_session)


@router.get("/{ref}/vendors", response_model=list[EngagementOut])
async def list_engagements(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> list[EngagementOut]:
    """Engagements with each vendor's contact protocol and response clock."""
    return await service.list_engagements(session, who, ref)


@router.post("/{ref}/vendors", response_model=EngagementOut, status_code=201)
async def engage(
    ref: str, body: EngageIn, who: Principal = WRITE, session: AsyncSession = DB
) -> EngagementOut:
    return await service.engage(session, who, ref, body)


@router.patch("/{ref}/vendors/{engagement_id}", response_model=EngagementOut)
async def update_engagement(
    ref: str,
    engagement_id: int,
    body: EngagementPatch,
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> EngagementOut:
    return await service.update_engagement(session, who, ref, engagement_id, body)
