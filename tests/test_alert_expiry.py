"""Alerts that expire: an alert posted through Alertmanager's API v2 that its sender stops
repeating resolves at its `endsAt` (or 5 minutes after receipt without one), as it would in
Alertmanager, on a real database with the real worker and the frozen clock.

What a responder relies on: an alert Prometheus stopped sending does not stay firing (nor its
group, nor the page behind it); one that is still being repeated never resolves; a resolve the
sender posted is not recorded twice; a worker that was down catches up with the right times;
and steady repeats do not fill the job queue.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, make_caller
from tests.test_alert_ingest_helpers import make_integration, make_service
from tests.test_alert_pipeline_helpers import (
    alert_named,
    alerts_named,
    firing,
    page_jobs,
    post_alerts,
    put_rule,
    resolved,
    run_pipeline,
)
from tocsin.alerts.models import Alert, AlertEvent
from tocsin.alerts.normalized import SourceKind
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.events import Event, bus
from tocsin.jobs.models import Job

pytestmark = pytest.mark.asyncio

SWEEP = "alerts.expire"


@pytest.fixture
async def admin(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.ADMIN)


@pytest.fixture
async def key(session: AsyncSession, clock: FrozenClock) -> str:
    await make_service(session, "checkout")
    return (await make_integration(session, SourceKind.ALERTMANAGER)).key


def ending(name: str, at: datetime, **labels: str) -> dict[str, Any]:
    """A firing alert as Prometheus sends it: an `endsAt` a few evaluations ahead."""
    return {**firing(name, **labels), "endsAt": at.isoformat()}


def started(name: str, at: datetime, **labels: str) -> dict[str, Any]:
    return {**firing(name, **labels), "startsAt": at.isoformat()}


STATE_CHANGES = ("created", "resolved", "refired", "acknowledged")


async def history(sessionmaker: async_sessionmaker[AsyncSession], alert_id: int) -> list[str]:
    """The alert's state changes (its decisions are recorded in between)."""
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                sa.select(AlertEvent.kind)
                .where(AlertEvent.alert_id == alert_id, AlertEvent.kind.in_(STATE_CHANGES))
                .order_by(AlertEvent.id)
            )
        )


async def jobs_of(sessionmaker: async_sessionmaker[AsyncSession], kind: str) -> list[Job]:
    async with sessionmaker() as session:
        return list(await session.scalars(sa.select(Job).where(Job.kind == kind).order_by(Job.id)))


async def statuses(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with sessionmaker() as session:
        rows = await session.scalars(sa.select(Alert))
        return {f"{r.labels['alertname']}/{r.labels.get('n', '')}": r.status for r in rows}


def drain(queue: asyncio.Queue[Event]) -> list[Event]:
    found = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


async def test_an_alert_the_sender_stops_repeating_resolves_at_its_ends_at_or_after_5_minutes(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    key: str,
) -> None:
    start = clock.now()
    await post_alerts(
        client, key, ending("DiskFull", start + timedelta(minutes=4)), firing("HighLatency")
    )
    await run_pipeline(settings, sessionmaker)

    clock.advance(timedelta(minutes=3, seconds=50))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "DiskFull")).status == "firing"

    async with bus.stream() as live:
        clock.advance(timedelta(seconds=30))
        await run_pipeline(settings, sessionmaker)
        events = drain(live)
    disk = await alert_named(sessionmaker, "DiskFull")
    assert disk.status == "resolved"
    assert disk.ends_at == start + timedelta(minutes=4)  # its endsAt, not when it was swept
    assert disk.decision == "resolved"
    assert await history(sessionmaker, disk.id) == ["created", "resolved"]
    assert [e.data["id"] for e in events if e.name == "alert.resolved"] == [disk.id]
    assert (await alert_named(sessionmaker, "HighLatency")).status == "firing"

    clock.advance(timedelta(minutes=1))
    await run_pipeline(settings, sessionmaker)
    latency = await alert_named(sessionmaker, "HighLatency")
    assert latency.status == "resolved"
    assert latency.ends_at == start + timedelta(minutes=5)  # Alertmanager's resolve timeout
    assert await history(sessionmaker, latency.id) == ["created", "resolved"]
    assert {job.status for job in await jobs_of(sessionmaker, SWEEP)} == {"succeeded"}


async def test_an_alert_that_is_repeated_never_expires_and_repeats_queue_few_sweeps(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    key: str,
) -> None:
    repeats = 40
    for _ in range(repeats):  # every 30 s for 20 minutes, each time 4 minutes ahead
        await post_alerts(client, key, ending("HighLatency", clock.now() + timedelta(minutes=4)))
        await run_pipeline(settings, sessionmaker)
        clock.advance(timedelta(seconds=30))

    row = await alert_named(sessionmaker, "HighLatency")
    assert row.status == "firing"
    assert row.receive_count == repeats
    assert await history(sessionmaker, row.id) == ["created"]
    # About one sweep per 4-minute horizon over the 20 minutes, not one job per repeat.
    assert len(await jobs_of(sessionmaker, SWEEP)) <= 7

    clock.advance(timedelta(minutes=4))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "HighLatency")).status == "resolved"


async def test_a_group_resolves_when_its_last_member_expires(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(client, admin, service="checkout", group_by=["alertname"])
    await post_alerts(client, key, firing("HighLatency", n="a"), firing("HighLatency", n="b"))
    await run_pipeline(settings, sessionmaker)
    [page] = await page_jobs(sessionmaker)
    group_id = page.payload["alert_group_id"]

    async def group() -> dict[str, Any]:
        found = await client.get(f"/api/v1/alert-groups/{group_id}", headers=admin.headers)
        assert found.status_code == 200
        return dict(found.json())

    clock.advance(timedelta(minutes=3))
    await post_alerts(client, key, firing("HighLatency", n="b"))  # only b is still sent
    clock.advance(timedelta(minutes=2, seconds=30))
    await run_pipeline(settings, sessionmaker)
    assert await statuses(sessionmaker) == {"HighLatency/a": "resolved", "HighLatency/b": "firing"}
    assert (await group())["status"] == "firing"

    clock.advance(timedelta(minutes=3))
    await run_pipeline(settings, sessionmaker)
    one = await group()
    assert one["status"] == "resolved"
    assert {member["decision"] for member in one["members"]} == {"resolved"}
    assert len(await page_jobs(sessionmaker)) == 1


async def test_a_resolve_posted_before_the_expiry_is_recorded_once(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    key: str,
) -> None:
    start = clock.now()
    await post_alerts(client, key, firing("DiskFull"))
    await run_pipeline(settings, sessionmaker)
    clock.advance(timedelta(minutes=2))
    await post_alerts(client, key, resolved("DiskFull", clock.now()))
    clock.advance(timedelta(minutes=10))
    await run_pipeline(settings, sessionmaker)

    row = await alert_named(sessionmaker, "DiskFull")
    assert (row.status, row.ends_at) == ("resolved", start + timedelta(minutes=2))
    assert await history(sessionmaker, row.id) == ["created", "resolved"]
    assert [job.payload["change"] for job in await jobs_of(sessionmaker, "alerts.process")] == [
        "created",
        "resolved",
    ]


async def test_a_new_occurrence_after_the_expiry_fires_again_and_expires_again(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    key: str,
) -> None:
    start = clock.now()
    await post_alerts(client, key, started("DiskFull", start))
    clock.advance(timedelta(minutes=6))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "DiskFull")).status == "resolved"

    again = clock.now()
    await post_alerts(client, key, started("DiskFull", again))
    await run_pipeline(settings, sessionmaker)
    row = await alert_named(sessionmaker, "DiskFull")
    assert (row.status, row.starts_at, row.expires_at) == (
        "firing",
        again,
        again + timedelta(minutes=5),
    )
    assert await history(sessionmaker, row.id) == ["created", "resolved", "refired"]

    clock.advance(timedelta(minutes=6))
    await run_pipeline(settings, sessionmaker)
    row = await alert_named(sessionmaker, "DiskFull")
    assert (row.status, row.ends_at) == ("resolved", again + timedelta(minutes=5))
    assert await history(sessionmaker, row.id) == ["created", "resolved", "refired", "resolved"]


async def test_a_sender_heard_again_after_the_expiry_fires_the_same_occurrence_again(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    key: str,
) -> None:
    """Prometheus cut off from Tocsin for longer than the expiry, then back: it sends the
    occurrence's first start again, and the alert fires again, as in Alertmanager."""
    start = clock.now()
    await post_alerts(client, key, started("DiskFull", start))
    clock.advance(timedelta(minutes=20))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "DiskFull")).status == "resolved"

    await post_alerts(client, key, started("DiskFull", start))
    await run_pipeline(settings, sessionmaker)
    row = await alert_named(sessionmaker, "DiskFull")
    assert (row.status, row.starts_at) == ("firing", start)
    assert row.expires_at == clock.now() + timedelta(minutes=5)
    assert await history(sessionmaker, row.id) == ["created", "resolved", "refired"]


async def test_one_sweep_resolves_many_expired_alerts_in_batches(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    key: str,
) -> None:
    count = 1100  # more than two batches of 500
    start = clock.now()
    await post_alerts(client, key, *(firing("NodeDown", n=str(i)) for i in range(count)))
    clock.advance(timedelta(minutes=6))
    await run_pipeline(settings, sessionmaker)

    rows = await alerts_named(sessionmaker, "NodeDown")
    assert len(rows) == count
    assert {(r.status, r.ends_at, r.decision) for r in rows} == {
        ("resolved", start + timedelta(minutes=5), "resolved")
    }
    decisions = [
        job for job in await jobs_of(sessionmaker, "alerts.process") if job.payload["change"]
    ]
    assert [job.payload["change"] for job in decisions] == ["created"] + ["resolved"] * 3
    assert sorted(len(job.payload["alert_ids"]) for job in decisions[1:]) == [100, 500, 500]
    assert {job.status for job in decisions} == {"succeeded"}
    async with sessionmaker() as session:
        kinds = await session.execute(
            sa.select(AlertEvent.kind, sa.func.count())
            .where(AlertEvent.kind.in_(STATE_CHANGES))
            .group_by(AlertEvent.kind)
        )
        assert dict(kinds.all()) == {"created": count, "resolved": count}
    [sweep] = await jobs_of(sessionmaker, SWEEP)
    assert sweep.status == "succeeded"


async def test_a_worker_that_was_down_catches_up_with_the_times_the_alerts_expired(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    key: str,
) -> None:
    start = clock.now()
    await post_alerts(client, key, firing("HighLatency"))
    clock.advance(timedelta(minutes=1))
    await post_alerts(client, key, ending("DiskFull", start + timedelta(minutes=3)))
    clock.advance(timedelta(minutes=2))
    await post_alerts(client, key, firing("CpuHot"))

    clock.advance(timedelta(hours=2))  # no worker ran meanwhile
    await run_pipeline(settings, sessionmaker)

    ended = {}
    for name in ("HighLatency", "DiskFull", "CpuHot"):
        row = await alert_named(sessionmaker, name)
        assert row.decision == "resolved"
        assert await history(sessionmaker, row.id) == ["created", "resolved"]
        ended[name] = row.ends_at
    assert ended == {
        "HighLatency": start + timedelta(minutes=5),
        "DiskFull": start + timedelta(minutes=3),
        "CpuHot": start + timedelta(minutes=8),
    }
    assert {job.status for job in await jobs_of(sessionmaker, SWEEP)} == {"succeeded"}


async def test_webhook_and_pagerduty_alerts_never_expire(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    session: AsyncSession,
) -> None:
    await make_service(session, "checkout")
    hook = (await make_integration(session, SourceKind.ALERTMANAGER)).key
    duty = (await make_integration(session, SourceKind.PAGERDUTY)).key
    webhook = {
        "version": "4",
        "status": "firing",
        "groupKey": '{}:{alertname="DiskFull"}',
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull"},
                "startsAt": clock.now().isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }
    answer = await client.post(f"/api/v1/ingest/{hook}/alertmanager", json=webhook)
    assert answer.status_code == 200, answer.text
    trigger = {
        "routing_key": duty,
        "event_action": "trigger",
        "dedup_key": "disk-db-1",
        "payload": {"summary": "DiskFull", "source": "db-1", "severity": "critical"},
    }
    answer = await client.post("/v2/enqueue", json=trigger)
    assert answer.status_code == 202, answer.text

    clock.advance(timedelta(hours=3))
    await run_pipeline(settings, sessionmaker)
    async with sessionmaker() as fresh:
        rows = list(await fresh.scalars(sa.select(Alert).order_by(Alert.id)))
    assert [(r.status, r.expires_at) for r in rows] == [("firing", None), ("firing", None)]
    assert await jobs_of(sessionmaker, SWEEP) == []
