"""The alerts of one request are decided by one durable job, in the request's order, and
each still gets its own decision and reason; the page they lead to overtakes a backlog.

During a storm an Alertmanager webhook carries several alerts; deciding them in one job is
what keeps the pipeline ahead of 10,000 alerts a minute, so it must not change any decision.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.test_alert_ingest_helpers import SYSTEM, make_integration, make_service
from tests.test_alert_pipeline_helpers import (
    alert_named,
    alerts_named,
    firing,
    page_jobs,
    post_alerts,
    run_pipeline,
)
from tocsin.alerts.normalized import SourceKind
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import DependencyIn, ServiceCreate
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.jobs.models import Job, Priority

pytestmark = pytest.mark.asyncio


async def process_jobs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Job]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                sa.select(Job).where(Job.kind == "alerts.process").order_by(Job.id)
            )
        )


async def test_one_request_is_one_decision_job_and_every_alert_is_decided_with_its_reason(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    await make_service(session, "payments")
    await catalog.create_service(
        session,
        SYSTEM,
        ServiceCreate(
            slug="storefront", name="storefront", dependencies=[DependencyIn(service="payments")]
        ),
    )
    payments = (await make_integration(session, SourceKind.ALERTMANAGER, service="payments")).key
    storefront = (
        await make_integration(session, SourceKind.ALERTMANAGER, service="storefront")
    ).key
    await post_alerts(client, payments, firing("PaymentsDown", severity="critical"))
    await run_pipeline(settings, sessionmaker)

    await post_alerts(
        client,
        storefront,
        *(firing("CheckoutErrors", instance=f"pod-{n}") for n in range(4)),
    )
    [_, job] = await process_jobs(sessionmaker)
    children = await alerts_named(sessionmaker, "CheckoutErrors")
    assert job.payload["alert_ids"] == [c.id for c in children]
    assert job.status == "queued"

    await run_pipeline(settings, sessionmaker)
    upstream = await alert_named(sessionmaker, "PaymentsDown")
    for child in await alerts_named(sessionmaker, "CheckoutErrors"):
        assert child.decision == "inhibited"
        assert child.decision_reason == (
            f"inhibited by critical alert #{upstream.id} on upstream dependency payments"
        )
    assert len(await page_jobs(sessionmaker)) == 1, "only the upstream failure paged"


async def test_a_new_group_in_one_request_pages_once_and_the_page_is_urgent(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    await make_service(session, "checkout")
    key = (await make_integration(session, SourceKind.ALERTMANAGER)).key
    await post_alerts(
        client, key, *(firing("CheckoutDown", severity="critical", pod=f"p{n}") for n in range(3))
    )
    assert len(await process_jobs(sessionmaker)) == 1
    await run_pipeline(settings, sessionmaker)

    [page] = await page_jobs(sessionmaker)
    assert page.priority == Priority.URGENT
    rows = await alerts_named(sessionmaker, "CheckoutDown")
    assert [r.decision for r in rows] == ["paged", "grouped", "grouped"]
    assert len({r.decision_ref for r in rows}) == 1, "one group"
    assert all(r.decision_reason for r in rows)


async def test_a_catalog_change_is_seen_by_the_next_decision(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    """The graph is kept between decisions; a new dependency must still count at once."""
    await make_service(session, "payments")
    await make_service(session, "storefront")
    payments = (await make_integration(session, SourceKind.ALERTMANAGER, service="payments")).key
    storefront = (
        await make_integration(session, SourceKind.ALERTMANAGER, service="storefront")
    ).key
    await post_alerts(client, payments, firing("PaymentsDown", severity="critical"))
    await post_alerts(client, storefront, firing("Before"))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "Before")).decision == "paged"

    await catalog.add_dependency(session, SYSTEM, "storefront", DependencyIn(service="payments"))
    await post_alerts(client, storefront, firing("After"))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "After")).decision == "inhibited"
