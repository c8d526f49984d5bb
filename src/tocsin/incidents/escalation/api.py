"""REST route of escalation figures: /api/v1/incidents/{ref}/escalations."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.incidents.escalation import handlers as _handlers  # noqa: F401  (the timer's handler)
from tocsin.incidents.escalation import service
from tocsin.incidents.escalation.schemas import EscalationsOut

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

READ = Depends(Requires(Permission.INCIDENT_READ))
DB = Depends(get_session)


@router.get("/{ref}/escalations", response_model=EscalationsOut)
async def get_escalations(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> EscalationsOut:
    """Thresholds crossed now, escalations sent, the next crossing, whether a post-mortem is
    required and whether the Incident Commander is missing."""
    return await service.get_escalations(session, who, ref)
