"""Decision jobs ordered by slack: during a storm of alerts that wait for a group wait, an
alert that could page at once is decided first, through the real job queue and worker.

What a responder relies on: the unrelated failure's page is not held up behind thousands of
decisions that could not page yet anyway; the waiting alerts are still decided, and their
group still pages when its wait ends; a changed rule changes the order at once in this
process, and within seconds in any other.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, make_caller
from tests.test_alert_ingest_helpers import make_integration, make_service
from tests.test_alert_pipeline_helpers import (
    PIPELINE_KINDS,
    alerts_named,
    firing,
    page_jobs,
    post_alerts,
    put_rule,
    run_pipeline,
)
from tocsin.alerts.correlation import SLACK_RANKS, slack_rank
from tocsin.alerts.models import Alert, CorrelationRule
from tocsin.alerts.normalized import SourceKind
from tocsin.alerts.service import decision_priority
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.jobs.models import Job, Priority
from tocsin.jobs.registry import HandlerSpec, JobContext, Registry
from tocsin.jobs.worker import Worker

PROCESS = "alerts.process"


@pytest.fixture
async def admin(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.ADMIN)


async def decision_jobs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Job]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(sa.select(Job).where(Job.kind == PROCESS).order_by(Job.id))
        )


async def names_of(sessionmaker: async_sessionmaker[AsyncSession], ids: list[int]) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(sa.select(Alert).where(Alert.id.in_(ids)))
        return sorted(str(row.labels["alertname"]) for row in rows)


async def test_an_alert_that_can_page_now_is_decided_before_a_backlog_that_must_wait(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
) -> None:
    await make_service(session, "storm")
    await make_service(session, "checkout")
    storm = (await make_integration(session, SourceKind.ALERTMANAGER, service="storm")).key
    probe = (await make_integration(session, SourceKind.ALERTMANAGER, service="checkout")).key
    await put_rule(client, admin, service="storm", group_by=["alertname"], group_wait_seconds=30)

    for n in range(6):
        await post_alerts(client, storm, firing("QueueBacklog", instance=f"i{n}"))
    await post_alerts(client, probe, firing("CheckoutDown"))
    jobs = await decision_jobs(sessionmaker)
    assert [job.priority for job in jobs] == [
        Priority.NORMAL + slack_rank(timedelta(seconds=30))
    ] * 6 + [Priority.NORMAL]

    decided: list[list[str]] = []
    registry = Registry()

    async def watched(context: JobContext, payload: dict[str, Any]) -> None:
        decided.append(await names_of(sessionmaker, [int(i) for i in payload["alert_ids"]]))
        await PIPELINE_KINDS[PROCESS](context, payload)

    registry.register(HandlerSpec(PROCESS, watched))
    one_at_a_time = {"worker_concurrency": 1, "worker_batch_size": 1}
    worker = Worker(settings.model_copy(update=one_at_a_time), sessionmaker, registry=registry)
    await worker.run_once()
    assert decided[0] == ["CheckoutDown"]
    assert decided[1:] == [["QueueBacklog"]] * 6
    assert len(await page_jobs(sessionmaker)) == 1

    # The backlog was decided, later: it waits for its group, and pages when the wait ends.
    waiting = await alerts_named(sessionmaker, "QueueBacklog")
    assert {row.decision for row in waiting} == {"grouped"}
    clock.advance(timedelta(seconds=31))
    await run_pipeline(settings, sessionmaker)
    assert len(await page_jobs(sessionmaker)) == 2


async def test_a_changed_rule_changes_the_priority_of_the_next_request(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    admin: Caller,
) -> None:
    await make_service(session, "checkout")
    key = (await make_integration(session, SourceKind.ALERTMANAGER, service="checkout")).key
    thirty_seconds = Priority.NORMAL + slack_rank(timedelta(seconds=30))

    await post_alerts(client, key, firing("A"))
    await put_rule(client, admin, service="checkout", group_wait_seconds=30)
    await post_alerts(client, key, firing("B"))
    assert [job.priority for job in await decision_jobs(sessionmaker)] == [
        Priority.NORMAL,
        thirty_seconds,
    ]

    # Another process's change bypasses this one's session: the cached wait holds for the
    # cache's lifetime, then the new rule applies.
    async with sessionmaker() as other:
        connection = await other.connection()
        await connection.execute(
            sa.update(cast(sa.Table, CorrelationRule.__table__)).values(group_wait_seconds=0)
        )
        await other.commit()
    await post_alerts(client, key, firing("C"))
    clock.advance(timedelta(seconds=decision_priority.RULE_CACHE_SECONDS + 1))
    await post_alerts(client, key, firing("D"))
    assert [job.priority for job in await decision_jobs(sessionmaker)] == [
        Priority.NORMAL,
        thirty_seconds,
        thirty_seconds,
        Priority.NORMAL,
    ]


async def test_a_team_rule_sets_the_priority_of_its_services(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    admin: Caller,
) -> None:
    response = await client.post(
        "/api/v1/teams", json={"slug": "payments", "name": "Payments"}, headers=admin.headers
    )
    assert response.status_code in (200, 201), response.text
    await make_service(session, "checkout", owner_team="payments")
    key = (await make_integration(session, SourceKind.ALERTMANAGER, service="checkout")).key
    await put_rule(client, admin, team="payments", group_wait_seconds=300)
    await post_alerts(client, key, firing("A"))
    [job] = await decision_jobs(sessionmaker)
    assert job.priority == Priority.NORMAL + SLACK_RANKS


@given(st.integers(min_value=0, max_value=3600), st.integers(min_value=0, max_value=3600))
def test_more_slack_never_makes_a_decision_more_urgent(a: int, b: int) -> None:
    shorter, longer = sorted((a, b))
    assert slack_rank(timedelta(seconds=shorter)) <= slack_rank(timedelta(seconds=longer))


@given(st.integers(min_value=0, max_value=86400))
def test_only_an_alert_without_a_wait_is_decided_at_normal_priority_and_none_yields_to_background(
    seconds: int,
) -> None:
    rank = slack_rank(timedelta(seconds=seconds))
    assert (rank == 0) == (seconds == 0)
    assert Priority.URGENT < Priority.NORMAL + rank < Priority.BACKGROUND
