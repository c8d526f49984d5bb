"""Reading stored alerts: the live list and one alert with its history."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert, AlertEvent
from tocsin.alerts.normalized import AlertStatus
from tocsin.alerts.schemas import AlertEventOut, AlertOut
from tocsin.alerts.service.integrations import service_slugs
from tocsin.catalog import service as catalog
from tocsin.errors import NotFound

MAX_LIMIT = 500


def _out(row: Alert, service: str) -> AlertOut:
    return AlertOut.model_validate({**row.__dict__, "service": service})


async def list_alerts(
    session: AsyncSession,
    *,
    status: AlertStatus | None = None,
    service: str | None = None,
    integration: int | None = None,
    limit: int = 100,
) -> list[AlertOut]:
    """Most recently received first, the order a person watching a storm wants."""
    stmt = sa.select(Alert).order_by(Alert.last_received_at.desc(), Alert.id.desc())
    if status is not None:
        stmt = stmt.where(Alert.status == status.value)
    if service is not None:
        stmt = stmt.where(Alert.service_id == await catalog.service_id(session, service))
    if integration is not None:
        stmt = stmt.where(Alert.integration_id == integration)
    rows = list(await session.scalars(stmt.limit(min(max(limit, 1), MAX_LIMIT))))
    slugs = await service_slugs(session, {row.service_id for row in rows})
    return [_out(row, slugs[row.service_id]) for row in rows]


async def get_alert(session: AsyncSession, alert_id: int) -> AlertOut:
    row = await session.get(Alert, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    slugs = await service_slugs(session, {row.service_id})
    return _out(row, slugs[row.service_id])


async def alert_events(session: AsyncSession, alert_id: int) -> list[AlertEventOut]:
    await get_alert(session, alert_id)
    rows = await session.scalars(
        sa.select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    )
    return [AlertEventOut.model_validate(row) for row in rows]
