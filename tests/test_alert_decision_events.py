"""The history rows of decisions, written together at the next flush or commit: in the order
decided, visible to a read in the same transaction, and undone with the transaction or the
savepoint they were decided in, exactly as rows added one by one would be."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.test_alert_ingest_helpers import make_integration, make_service
from tocsin.alerts.models import Alert, AlertEvent
from tocsin.alerts.normalized import SourceKind
from tocsin.alerts.service.decisions import decide
from tocsin.catalog import service as catalog
from tocsin.clock import utcnow

pytestmark = pytest.mark.asyncio


async def two_alerts(session: AsyncSession) -> list[int]:
    await make_service(session)
    integration = await make_integration(session, SourceKind.GENERIC)
    service_id = await catalog.service_id(session, "checkout")
    rows = [
        Alert(
            integration_id=integration.id,
            service_id=service_id,
            dedup_key=f"d{n}",
            dedup_basis="key",
            fingerprint="f",
            source="generic",
            wire_format="generic",
            status="firing",
            summary=f"alert {n}",
            starts_at=utcnow() - timedelta(minutes=1),
        )
        for n in range(2)
    ]
    session.add_all(rows)
    await session.commit()
    return [row.id for row in rows]


async def history(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[int, str]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            sa.select(AlertEvent.alert_id, AlertEvent.data)
            .where(AlertEvent.kind == "decision")
            .order_by(AlertEvent.id)
        )
        return [(alert_id, str(data["reason"])) for alert_id, data in rows]


async def decide_on(
    session: AsyncSession, alert_id: int, decision: str, reason: str, now: datetime
) -> None:
    row = await session.get(Alert, alert_id)
    assert row is not None
    decide(session, row, decision, reason, None, now)


async def test_rows_are_written_in_the_order_decided_and_seen_before_the_commit(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first, second = await two_alerts(session)
    now = utcnow()
    for alert_id, reason in [(second, "b"), (first, "a"), (second, "c")]:
        await decide_on(session, alert_id, "grouped", reason, now)
    await decide_on(session, first, "grouped", "a", now)  # unchanged: no new row
    seen = await session.scalar(
        sa.select(sa.func.count()).select_from(AlertEvent).where(AlertEvent.kind == "decision")
    )
    assert seen == 3, "a read in the same transaction sees them (autoflush)"
    await session.commit()
    assert await history(sessionmaker) == [(second, "b"), (first, "a"), (second, "c")]


async def test_a_rollback_drops_them(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first, _ = await two_alerts(session)
    await decide_on(session, first, "grouped", "undone", utcnow())
    await session.rollback()
    await decide_on(session, first, "paged", "kept", utcnow())
    await session.commit()
    assert await history(sessionmaker) == [(first, "kept")]


async def test_a_session_closed_without_commit_drops_them(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first, _ = await two_alerts(session)
    async with sessionmaker() as other:
        await decide_on(other, first, "grouped", "never", utcnow())
    await decide_on(session, first, "paged", "kept", utcnow())
    await session.commit()
    assert await history(sessionmaker) == [(first, "kept")]


async def test_a_rolled_back_savepoint_drops_only_its_own(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first, second = await two_alerts(session)
    now = utcnow()
    row = await session.get(Alert, first)
    other = await session.get(Alert, second)
    assert row is not None and other is not None
    decide(session, row, "grouped", "before", None, now)
    savepoint = await session.begin_nested()
    decide(session, other, "grouped", "inside, undone", None, now)
    await savepoint.rollback()
    await session.refresh(other)  # the rollback expired what it changed
    async with session.begin_nested():
        decide(session, other, "paged", "inside, released", None, now)
    decide(session, row, "paged", "after", None, now)
    await session.commit()
    assert await history(sessionmaker) == [
        (first, "before"),
        (second, "inside, released"),
        (first, "after"),
    ]
