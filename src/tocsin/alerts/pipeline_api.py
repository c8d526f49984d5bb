"""REST routes of the pipeline: alert groups, silences, maintenance windows, correlation
rules. Thin: `tocsin.alerts.service.settings` validates, audits and
owns the transaction."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.normalized import AlertStatus
from tocsin.alerts.schemas import (
    AlertGroupOut,
    CorrelationRuleIn,
    CorrelationRuleOut,
    MaintenanceCreate,
    MaintenanceOut,
    SilenceCreate,
    SilenceOut,
)
from tocsin.alerts.service import settings as pipeline
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session

router = APIRouter(prefix="/api/v1", tags=["alerts"])

READ = Depends(Requires(Permission.ALERTS_READ))
MANAGE = Depends(Requires(Permission.ALERTS_MANAGE))
DB = Depends(get_session)


@router.get("/alert-groups", response_model=list[AlertGroupOut])
async def list_groups(
    status: AlertStatus | None = None,
    limit: int = Query(100, ge=1, le=500),
    _: Principal = READ,
    session: AsyncSession = DB,
) -> list[AlertGroupOut]:
    return await pipeline.list_groups(session, status=status.value if status else None, limit=limit)


@router.get("/alert-groups/{group_id}", response_model=AlertGroupOut)
async def get_group(
    group_id: int, _: Principal = READ, session: AsyncSession = DB
) -> AlertGroupOut:
    return await pipeline.get_group(session, group_id)


@router.get("/silences", response_model=list[SilenceOut])
async def list_silences(
    include_expired: bool = True, _: Principal = READ, session: AsyncSession = DB
) -> list[SilenceOut]:
    return await pipeline.list_silences(session, include_expired=include_expired)


@router.post("/silences", response_model=SilenceOut, status_code=201)
async def create_silence(
    body: SilenceCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> SilenceOut:
    return await pipeline.create_silence(session, who, body)


@router.get("/silences/{silence_id}", response_model=SilenceOut)
async def get_silence(
    silence_id: int, _: Principal = READ, session: AsyncSession = DB
) -> SilenceOut:
    return await pipeline.get_silence(session, silence_id)


@router.post("/silences/{silence_id}/expire", response_model=SilenceOut)
async def expire_silence(
    silence_id: int, who: Principal = MANAGE, session: AsyncSession = DB
) -> SilenceOut:
    return await pipeline.expire_silence(session, who, silence_id)


@router.get("/maintenance-windows", response_model=list[MaintenanceOut])
async def list_maintenance(_: Principal = READ, session: AsyncSession = DB) -> list[MaintenanceOut]:
    return await pipeline.list_maintenance(session)


@router.post("/maintenance-windows", response_model=MaintenanceOut, status_code=201)
async def create_maintenance(
    body: MaintenanceCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> MaintenanceOut:
    return await pipeline.create_maintenance(session, who, body)


@router.post("/maintenance-windows/{window_id}/end", response_model=MaintenanceOut)
async def end_maintenance(
    window_id: int, who: Principal = MANAGE, session: AsyncSession = DB
) -> MaintenanceOut:
    return await pipeline.end_maintenance(session, who, window_id)


@router.get("/correlation-rules", response_model=list[CorrelationRuleOut])
async def list_rules(_: Principal = READ, session: AsyncSession = DB) -> list[CorrelationRuleOut]:
    return await pipeline.list_rules(session)


@router.put("/correlation-rules", response_model=CorrelationRuleOut)
async def put_rule(
    body: CorrelationRuleIn, who: Principal = MANAGE, session: AsyncSession = DB
) -> CorrelationRuleOut:
    return await pipeline.put_rule(session, who, body)


@router.delete("/correlation-rules/{rule_id}", status_code=204)
async def delete_rule(
    rule_id: int, who: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    await pipeline.delete_rule(session, who, rule_id)
    return Response(status_code=204)
