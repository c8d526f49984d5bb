"""Heartbeats (a dead man's switch): an integration that must ping at least every N minutes.

Each ping schedules a durable check at ping + N; the check raises a "heartbeat missed" alert
for the integration, through the same ingestion and pipeline as any alert, when no later ping
came. A ping resolves that alert. Alertmanager's always-firing Watchdog alert counts as a
ping, so a dead Prometheus or Alertmanager is noticed without extra configuration.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert, Integration
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    Severity,
    SourceKind,
    WireFormat,
)
from tocsin.alerts.service.integrations import Sender
from tocsin.clock import utcnow
from tocsin.jobs import service as jobs

CHECK_JOB = "alerts.heartbeat_check"
HEARTBEAT_KEY = "tocsin-heartbeat"
ALERTNAME = "HeartbeatMissed"
WATCHDOG = "Watchdog"


def heartbeat_alert(
    kind: SourceKind, name: str, status: AlertStatus, last_ping: datetime | None, now: datetime
) -> NormalizedAlert:
    since = f"{last_ping:%Y-%m-%d %H:%M} UTC" if last_ping else "it was configured"
    return NormalizedAlert(
        source=kind,
        wire_format=WireFormat.GENERIC_JSON,
        dedup_basis=DedupBasis.FIELD,
        dedup_key=HEARTBEAT_KEY,
        status=status,
        starts_at=now,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        labels={"alertname": ALERTNAME, "integration": name},
        summary=f"Heartbeat missed: no ping from integration {name!r} since {since}",
        severity=Severity.ERROR,
    )


async def schedule_check(session: AsyncSession, row: Integration, pinged_at: datetime) -> None:
    if not row.heartbeat_minutes:
        return
    due = pinged_at + timedelta(minutes=row.heartbeat_minutes)
    await jobs.enqueue(
        session,
        CHECK_JOB,
        {"integration_id": row.id},
        run_at=due,
        idempotency_key=f"{CHECK_JOB}:{row.id}:{pinged_at.isoformat()}",
    )


async def firing_heartbeat(session: AsyncSession, integration_id: int) -> Alert | None:
    return await session.scalar(
        sa.select(Alert).where(
            Alert.integration_id == integration_id,
            Alert.dedup_key == HEARTBEAT_KEY,
            Alert.status == AlertStatus.FIRING.value,
        )
    )


async def record_ping(session: AsyncSession, integration_id: int) -> list[NormalizedAlert]:
    """Note a ping in the caller's transaction; returns the resolution to ingest, if a
    heartbeat alert is firing."""
    row = await session.get(Integration, integration_id)
    if row is None:
        return []
    now = utcnow()
    row.last_ping_at = now
    await schedule_check(session, row, now)
    if await firing_heartbeat(session, integration_id) is None:
        return []
    return [heartbeat_alert(SourceKind(row.kind), row.name, AlertStatus.RESOLVED, now, now)]


async def check(session: AsyncSession, integration_id: int) -> NormalizedAlert | None:
    """The alert to raise when the heartbeat is overdue, else None."""
    row = await session.get(Integration, integration_id)
    if row is None or not row.heartbeat_minutes or not row.enabled:
        return None
    now = utcnow()
    last = row.last_ping_at or row.created_at
    if now < last + timedelta(minutes=row.heartbeat_minutes):
        return None
    if await firing_heartbeat(session, integration_id) is not None:
        return None
    return heartbeat_alert(
        SourceKind(row.kind), row.name, AlertStatus.FIRING, row.last_ping_at, now
    )


def sender_of(row: Integration) -> Sender:
    return Sender(
        integration_id=row.id,
        service_id=row.service_id,
        kind=SourceKind(row.kind),
        enabled=row.enabled,
        rate_limit_per_minute=row.rate_limit_per_minute,
        mapping=row.mapping,
    )
