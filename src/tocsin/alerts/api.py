"""REST routes to manage integrations and read received alerts. Thin: the service layer
applies team scoping, validation, audit and the transaction."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts import service as alerts
from tocsin.alerts.normalized import AlertStatus
from tocsin.alerts.schemas import (
    AlertEventOut,
    AlertOut,
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    IntegrationWithKey,
)
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session

router = APIRouter(prefix="/api/v1", tags=["alerts"])

READ = Depends(Requires(Permission.ALERTS_READ))
MANAGE = Depends(Requires(Permission.INTEGRATIONS_MANAGE))
DB = Depends(get_session)


@router.get("/integrations", response_model=list[IntegrationOut])
async def list_integrations(
    service: str | None = None, _: Principal = READ, session: AsyncSession = DB
) -> list[IntegrationOut]:
    return await alerts.list_integrations(session, service=service)


@router.post("/integrations", response_model=IntegrationWithKey, status_code=201)
async def create_integration(
    body: IntegrationCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> IntegrationWithKey:
    return await alerts.create_integration(session, who, body)


@router.get("/integrations/{integration_id}", response_model=IntegrationOut)
async def get_integration(
    integration_id: int, _: Principal = READ, session: AsyncSession = DB
) -> IntegrationOut:
    return await alerts.get_integration(session, integration_id)


@router.patch("/integrations/{integration_id}", response_model=IntegrationOut)
async def update_integration(
    integration_id: int,
    body: IntegrationUpdate,
    who: Principal = MANAGE,
    session: AsyncSession = DB,
) -> IntegrationOut:
    return await alerts.update_integration(session, who, integration_id, body)


@router.post("/integrations/{integration_id}/rotate", response_model=IntegrationWithKey)
async def rotate_key(
    integration_id: int, who: Principal = MANAGE, session: AsyncSession = DB
) -> IntegrationWithKey:
    return await alerts.rotate_key(session, who, integration_id)


@router.get("/alerts", response_model=list[AlertOut])
async def list_alerts(
    status: AlertStatus | None = None,
    service: str | None = None,
    integration: int | None = None,
    limit: int = Query(100, ge=1, le=500),
    _: Principal = READ,
    session: AsyncSession = DB,
) -> list[AlertOut]:
    return await alerts.list_alerts(
        session, status=status, service=service, integration=integration, limit=limit
    )


@router.get("/alerts/{alert_id}", response_model=AlertOut)
async def get_alert(alert_id: int, _: Principal = READ, session: AsyncSession = DB) -> AlertOut:
    return await alerts.get_alert(session, alert_id)


@router.get("/alerts/{alert_id}/events", response_model=list[AlertEventOut])
async def alert_events(
    alert_id: int, _: Principal = READ, session: AsyncSession = DB
) -> list[AlertEventOut]:
    return await alerts.alert_events(session, alert_id)
