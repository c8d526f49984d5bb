"""REST routes of the bridge: /api/v1/incidents/{ref}/bridge and …/updates."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.incidents.bridge import handlers as _handlers  # noqa: F401  (the timer's handler)
from tocsin.incidents.bridge import service as bridge
from tocsin.incidents.bridge.schemas import BridgeOut, LinkIn, UpdateIn, UpdateOut

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
NOTE = Depends(Requires(Permission.INCIDENT_NOTE))
DB = Depends(get_session)


@router.get("/{ref}/bridge", response_model=BridgeOut)
async def get_bridge(ref: str, who: Principal = READ, session: AsyncSession = DB) -> BridgeOut:
    """The conference link, the cadence, the next update due (and whether it is overdue) and
    how well the incident has kept its cadence so far."""
    return await bridge.get_bridge(session, who, ref)


@router.put("/{ref}/bridge", response_model=BridgeOut)
async def set_link(
    ref: str, body: LinkIn, who: Principal = WRITE, session: AsyncSession = DB
) -> BridgeOut:
    """Set the conference link by hand (an empty url returns to the generated one)."""
    return await bridge.set_link(session, who, ref, body)


@router.get("/{ref}/updates", response_model=list[UpdateOut])
async def list_updates(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> list[UpdateOut]:
    return await bridge.list_updates(session, who, ref)


@router.post("/{ref}/updates", response_model=UpdateOut, status_code=201)
async def post_update(
    ref: str, body: UpdateIn, who: Principal = NOTE, session: AsyncSession = DB
) -> UpdateOut:
    """Post a structured update; the check of the next one is planned with it."""
    return await bridge.post_update(session, who, ref, body)
