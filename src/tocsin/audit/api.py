"""Admins query the audit trail; nobody can change it."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service
from tocsin.audit.schemas import AuditEntryOut
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=list[AuditEntryOut])
async def list_audit(
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = Query(default=None, description="Page backwards from this id."),
    limit: int = Query(default=100, ge=1, le=1000),
    _: Principal = Depends(Requires(Permission.AUDIT_READ)),
    session: AsyncSession = Depends(get_session),
) -> list[AuditEntryOut]:
    entries = await service.search(
        session,
        service.AuditQuery(object_type, object_id, action, actor, since, until, before_id, limit),
    )
    return [AuditEntryOut.model_validate(e) for e in entries]
