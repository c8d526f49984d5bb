"""Alerts that expire: Alertmanager's resolve timeout, applied by a durable sweep.

A firing alert posted through Alertmanager's API v2 carries `expires_at` (its `endsAt`, or
the resolve timeout after receipt); Prometheus re-sends it every evaluation cycle, moving that
moment forward. When the sender stops (the condition cleared, or Prometheus died), the alert
resolves once the moment passes, as it would in Alertmanager. The sweep (the job
`alerts.expire`, queued as `expiry_schedule` describes) finds every firing alert whose
moment has passed and resolves it through the merge rule `merge.expire`, recorded exactly as
a resolve the sender posted: a history row, a decision job per integration and batch (so
groups, incidents and pages react as to any resolve), and `alert.resolved` for live screens
after the commit. The resolution time is the alert's `expires_at`, not the sweep's, so a
sweep that runs late records the same times as one on time.

Rows are resolved in batches, each its own transaction, so a sweep after a long outage never
holds the writer for long. On PostgreSQL each batch locks its rows, in the order ingestion
locks them (integration, then id), and reads them again under the lock: a re-send that moved
`expires_at` (or a resolve that got there first) wins, and nothing is resolved twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.merge import Transition, expire
from tocsin.alerts.models import Alert, Integration
from tocsin.alerts.normalized import AlertStatus
from tocsin.alerts.service import expiry_schedule, heartbeats, ingestion
from tocsin.alerts.service.ingestion import Changed, Stored
from tocsin.alerts.service.integrations import Sender
from tocsin.clock import utcnow
from tocsin.db import dialect

BATCH = 500
"""Alerts resolved per transaction."""

_ALERTS = cast(sa.Table, Alert.__table__)
_FIRING = AlertStatus.FIRING.value
_RESOLVED = Transition.RESOLVED.value


async def sweep(session: AsyncSession, *, batch: int = BATCH) -> int:
    """Resolve every firing alert whose `expires_at` is not after now, committing batch by
    batch; then queue the sweep for the earliest expiry still pending. The number resolved."""
    now = utcnow()
    resolved = 0
    while True:
        looked_at, announced = await _expire_batch(session, now, batch)
        await session.commit()
        for sender, stored in announced:
            await ingestion.announce(sender, stored)
        resolved += sum(len(stored) for _, stored in announced)
        if looked_at < batch:
            break
    earliest = await session.scalar(
        sa.select(sa.func.min(_ALERTS.c.expires_at)).where(
            _ALERTS.c.status == _FIRING, _ALERTS.c.expires_at.is_not(None)
        )
    )
    await expiry_schedule.ensure_sweep(session, earliest, now)
    await session.commit()
    return resolved


async def _expire_batch(
    session: AsyncSession, now: datetime, batch: int
) -> tuple[int, list[tuple[Sender, list[Stored]]]]:
    """Resolve up to `batch` overdue alerts in the caller's transaction; how many were
    looked at, and what to announce per integration after the commit."""
    overdue = (_ALERTS.c.status == _FIRING, _ALERTS.c.expires_at <= now)
    ids = list(
        (
            await session.scalars(
                sa.select(_ALERTS.c.id)
                .where(*overdue)
                .order_by(_ALERTS.c.expires_at, _ALERTS.c.id)
                .limit(batch)
            )
        ).all()
    )
    if not ids:
        return 0, []
    locked = (
        sa.select(_ALERTS)
        .where(_ALERTS.c.id.in_(ids), *overdue)
        .order_by(_ALERTS.c.integration_id, _ALERTS.c.id)
    )
    if dialect.is_postgres(session):
        locked = locked.with_for_update()
    changed: dict[int, list[Changed]] = {}
    stored: dict[int, list[Stored]] = {}
    updates = []
    for row in await session.execute(locked):
        merged = expire(ingestion.stored_alert(row), now)
        if merged.transition is not Transition.RESOLVED:
            continue
        alert = merged.alert
        updates.append(
            {
                "row_id": row.id,
                "status": alert.status.value,
                "ends_at": alert.ends_at,
                "expires_at": alert.expires_at,
            }
        )
        changed.setdefault(row.integration_id, []).append(
            Changed(row.id, row.service_id, alert, _RESOLVED)
        )
        stored.setdefault(row.integration_id, []).append(
            Stored(row.id, row.dedup_key, row.fingerprint, alert.status, _RESOLVED)
        )
    if not updates:
        return len(ids), []
    await session.execute(sa.update(_ALERTS).where(_ALERTS.c.id == sa.bindparam("row_id")), updates)
    await ingestion.record(session, list(changed.values()), now)
    senders = await session.scalars(sa.select(Integration).where(Integration.id.in_(stored)))
    return len(ids), [(heartbeats.sender_of(row), stored[row.id]) for row in senders]
