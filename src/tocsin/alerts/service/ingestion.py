"""Storing what senders post: merge each alert into its stored identity, durably.

One request is one transaction: every alert of the body is merged (`tocsin.alerts.merge`)
into the row with the same dedup key, each state change appends an `alert_events` row and
an "alerts.process" job (the outbox of the next pipeline stage), and only after the commit
does the endpoint answer 2xx and the domain events go out. A failure anywhere stores
nothing, and the sender's retry finds the same state.

Two requests that create the same new alert at the same moment collide on the unique
(integration, dedup key) constraint; the loser starts its transaction again and then finds
the row, so concurrent re-sends still give one alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.merge import Transition, merge
from tocsin.alerts.models import Alert, AlertEvent, Integration
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    Severity,
    SourceKind,
    WireFormat,
)
from tocsin.alerts.service import heartbeats
from tocsin.alerts.service.integrations import Sender
from tocsin.auth.permissions import Permission
from tocsin.clock import utcnow
from tocsin.db import dialect
from tocsin.events import publish
from tocsin.jobs import service as jobs

PROCESS_JOB = "alerts.process"
MAX_ATTEMPTS = 3
LAST_RECEIVED_PRECISION = timedelta(minutes=1)

CREATED = "created"
"""Event kind of an alert seen for the first time (the merge rules name the others)."""
UNKNOWN = "unknown"
"""A content-less reference (acknowledge, resolve, close) to an alert Tocsin never held."""

_STATE_CHANGES = {
    Transition.RESOLVED.value,
    Transition.REFIRED.value,
    Transition.ACKNOWLEDGED.value,
    CREATED,
}


@dataclass(frozen=True, slots=True)
class Stored:
    alert_id: int | None
    dedup_key: str
    fingerprint: str
    status: AlertStatus
    change: str
    """created, refreshed, resolved, refired, acknowledged, unchanged or unknown."""


def _stored_alert(row: Alert) -> NormalizedAlert:
    return NormalizedAlert(
        source=SourceKind(row.source),
        wire_format=WireFormat(row.wire_format),
        dedup_basis=DedupBasis(row.dedup_basis),
        dedup_key=row.dedup_key,
        status=AlertStatus(row.status),
        starts_at=row.starts_at,
        labels=dict(row.labels),
        annotations=dict(row.annotations),
        summary=row.summary,
        severity=Severity(row.severity) if row.severity else None,
        ends_at=row.ends_at,
        expires_at=row.expires_at,
        acknowledged=row.acknowledged,
        generator_url=row.generator_url,
        group_key=row.group_key,
        group_labels=dict(row.group_labels),
        sender_fingerprint=row.sender_fingerprint,
        details=dict(row.details),
    )


def _columns(alert: NormalizedAlert) -> dict[str, Any]:
    return {
        "dedup_key": alert.dedup_key,
        "dedup_basis": alert.dedup_basis.value,
        "fingerprint": alert.fingerprint,
        "source": alert.source.value,
        "wire_format": alert.wire_format.value,
        "status": alert.status.value,
        "acknowledged": alert.acknowledged,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "details": alert.details,
        "summary": alert.summary,
        "severity": alert.severity.value if alert.severity else None,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "expires_at": alert.expires_at,
        "generator_url": alert.generator_url,
        "group_key": alert.group_key,
        "group_labels": alert.group_labels,
        "sender_fingerprint": alert.sender_fingerprint,
    }


def fold_batch(alerts: Sequence[NormalizedAlert]) -> dict[str, NormalizedAlert]:
    """One post per dedup key: a body that names the same alert twice (a webhook group
    with a firing and a resolved copy) is merged in body order before it meets the store."""
    folded: dict[str, NormalizedAlert] = {}
    for alert in alerts:
        earlier = folded.get(alert.dedup_key)
        if earlier is None or earlier.partial:
            # A reference carries no content to keep: the later post says more.
            folded[alert.dedup_key] = alert
            continue
        folded[alert.dedup_key] = merge(earlier, alert).alert
    return folded


async def _locked_rows(
    session: AsyncSession, integration_id: int, keys: list[str]
) -> dict[str, Alert]:
    stmt = sa.select(Alert).where(Alert.integration_id == integration_id, Alert.dedup_key.in_(keys))
    if dialect.is_postgres(session):
        stmt = stmt.with_for_update()
    return {row.dedup_key: row for row in await session.scalars(stmt)}


async def _store_once(
    session: AsyncSession, sender: Sender, posts: dict[str, NormalizedAlert], now: datetime
) -> list[tuple[Stored, Alert | None]]:
    existing = await _locked_rows(session, sender.integration_id, sorted(posts))
    results: list[tuple[Stored, Alert | None]] = []
    for key, post in posts.items():
        row = existing.get(key)
        if row is None:
            if post.partial:
                results.append((Stored(None, key, post.fingerprint, post.status, UNKNOWN), None))
                continue
            row = Alert(
                integration_id=sender.integration_id,
                service_id=sender.service_id,
                first_received_at=now,
                last_received_at=now,
                receive_count=1,
                **_columns(post),
            )
            session.add(row)
            change = CREATED
        else:
            merged = merge(_stored_alert(row), post)
            change = merged.transition.value
            for name, value in _columns(merged.alert).items():
                setattr(row, name, value)
            row.last_received_at = now
            row.receive_count = row.receive_count + 1
        results.append((Stored(None, key, post.fingerprint, AlertStatus(row.status), change), row))
    await session.flush()
    return results


async def _record_changes(
    session: AsyncSession, results: list[tuple[Stored, Alert | None]], now: datetime
) -> list[Stored]:
    out: list[Stored] = []
    changed: list[tuple[Alert, AlertEvent, str]] = []
    for stored, row in results:
        if row is None:
            out.append(stored)
            continue
        if stored.change in _STATE_CHANGES:
            event = AlertEvent(
                alert_id=row.id,
                kind=stored.change,
                status=row.status,
                at=now,
                data={"starts_at": row.starts_at.isoformat(), "severity": row.severity},
            )
            session.add(event)
            changed.append((row, event, stored.change))
        out.append(replace(stored, alert_id=row.id))
    if changed:
        await session.flush()
        await jobs.enqueue_many(
            session,
            [
                jobs.NewJob(
                    PROCESS_JOB,
                    {"alert_id": row.id, "alert_event_id": event.id, "change": change},
                    idempotency_key=f"{PROCESS_JOB}:{event.id}",
                )
                for row, event, change in changed
            ],
        )
    return out


def _is_watchdog(alert: NormalizedAlert) -> bool:
    return alert.firing and alert.labels.get("alertname") == heartbeats.WATCHDOG


async def write(
    session: AsyncSession,
    sender: Sender,
    alerts: Sequence[NormalizedAlert],
    now: datetime,
    *,
    ping: bool = False,
) -> list[Stored]:
    """Merge a parsed body into the store inside the caller's transaction, without committing:
    the caller decides when it is durable (a request commits at once; a check result commits
    with the check's new state).
    A heartbeat ping (or Alertmanager's Watchdog alert) also counts as a sign of life."""
    batch = fold_batch(alerts)
    if ping or any(_is_watchdog(alert) for alert in alerts):
        pinged = await heartbeats.record_ping(session, sender.integration_id)
        batch = {**batch, **fold_batch(pinged)}
    results = await _store_once(session, sender, batch, now)
    stored = await _record_changes(session, results, now)
    await _mark_received(session, sender.integration_id, now)
    return stored


async def ingest(
    session: AsyncSession,
    sender: Sender,
    alerts: Sequence[NormalizedAlert],
    *,
    ping: bool = False,
) -> list[Stored]:
    """Store a parsed body and commit; the caller answers the sender only after this."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            stored = await write(session, sender, alerts, utcnow(), ping=ping)
            await session.commit()
        except IntegrityError:
            await session.rollback()
            if attempt == MAX_ATTEMPTS:
                raise
            continue
        await announce(sender, stored)
        return stored
    raise AssertionError("unreachable")  # pragma: no cover


async def _mark_received(session: AsyncSession, integration_id: int, now: datetime) -> None:
    """At most once a minute: every request writing the integration row would make all
    requests of one integration wait for each other on its row lock."""
    await session.execute(
        sa.update(Integration)
        .where(
            Integration.id == integration_id,
            sa.or_(
                Integration.last_received_at.is_(None),
                Integration.last_received_at < now - LAST_RECEIVED_PRECISION,
            ),
        )
        .values(last_received_at=now)
    )


async def announce(sender: Sender, stored: list[Stored]) -> None:
    """Tell live screens, after the commit, what changed."""
    audience = Permission.ALERTS_READ.value
    for item in stored:
        if item.alert_id is None or item.change not in _STATE_CHANGES:
            continue
        name = "alert.resolved" if item.status is AlertStatus.RESOLVED else "alert.received"
        if item.change == Transition.ACKNOWLEDGED.value:
            name = "alert.acknowledged"
        await publish(
            name,
            {
                "id": item.alert_id,
                "integration_id": sender.integration_id,
                "dedup_key": item.dedup_key,
                "status": item.status.value,
                "change": item.change,
            },
            audience,
        )
