"""A routed incident is paged exactly once, even when the worker dies half-way.

Declaring an incident commits (its timers, events and live pages need it durable), so the
decision job of an `incident` rule spans two transactions. Here the worker "crashes" right
after the declaration is committed and before the job finishes: a real job run, with the
failure injected after the commit point, then the job retried by the real worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import test_alert_routing as routing
from tests.factories import Caller
from tests.test_alert_pipeline_helpers import alerts_named, firing, page_jobs, post_alerts
from tocsin.alerts.models import AlertEvent
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.incidents.service import incidents as incident_service
from tocsin.jobs.models import Job
from tocsin.oncall.models import OncallPage

pytestmark = pytest.mark.asyncio
# The routing tests' own fixtures: an admin caller and the checkout service's key.
admin = routing.admin
key = routing.key


async def decisions(sessionmaker: async_sessionmaker[AsyncSession], alert_id: int) -> list[str]:
    """The alert's decision history, oldest first."""
    async with sessionmaker() as session:
        rows = await session.scalars(
            sa.select(AlertEvent)
            .where(AlertEvent.alert_id == alert_id, AlertEvent.kind == "decision")
            .order_by(AlertEvent.id)
        )
        return [str(event.data["decision"]) for event in rows]


class WorkerCrash(Exception):
    """Stands for the process dying: nothing after this point of the job runs."""


@pytest.fixture
def crash_after_declaring(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The first declaration commits, then the job dies; later ones run normally."""
    real = incident_service.declare
    crashed: list[int] = []

    async def declare_then_crash(*args: Any, **kwargs: Any) -> Any:
        out = await real(*args, **kwargs)
        if not crashed:
            crashed.append(out.id)
            raise WorkerCrash(f"worker died after committing {out.ref}")
        return out

    monkeypatch.setattr(incident_service, "declare", declare_then_crash)
    return crashed


async def test_a_crash_after_declaring_still_pages_exactly_once_on_retry(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    crash_after_declaring: list[int],
) -> None:
    await routing.put_rule(
        client, admin, slug="checkout-incidents", service="checkout", action="incident"
    )
    await post_alerts(client, key, firing("CheckoutDown", severity="critical"))
    await routing.run_jobs(settings, sessionmaker)

    [declared] = crash_after_declaring
    async with sessionmaker() as session:
        [job] = await session.scalars(sa.select(Job).where(Job.kind == "alerts.process"))
    assert job.status == "queued" and job.attempts == 1, "the crashed decision is retried"
    assert [i.id for i in await routing.incidents(sessionmaker)] == [declared]
    assert await page_jobs(sessionmaker) == [], "the crash came before anything was paged"

    clock.advance(timedelta(minutes=5))  # past the retry's back-off
    await post_alerts(client, key, firing("CheckoutDown", severity="critical"))  # still firing
    await routing.run_jobs(settings, sessionmaker)

    assert [i.id for i in await routing.incidents(sessionmaker)] == [declared], (
        "never declared twice"
    )
    [page_job] = await page_jobs(sessionmaker)
    assert page_job.payload["incident_id"] == declared
    async with sessionmaker() as session:
        [page] = await session.scalars(sa.select(OncallPage))
    assert page.incident_id == declared
    [row] = await alerts_named(sessionmaker, "CheckoutDown")
    assert row.decision_ref == f"incident:{declared}", "the alert points at its incident"
    # It reads as the first attempt would have: it opened the incident and paged, rather
    # than "attached" to the incident its own decision opened.
    assert row.decision == "incident"
    assert row.decision_reason == (
        f"opened incident INC-{declared} (sev1 from label severity=critical; "
        "routing rule checkout-incidents)"
    )
    assert await decisions(sessionmaker, row.id) == ["incident"], "never recorded as attached"

    # A later alert of the same group attaches; the one page stays the only one.
    await post_alerts(client, key, firing("CheckoutDown", severity="critical", instance="b"))
    await routing.run_jobs(settings, sessionmaker)
    assert len(await page_jobs(sessionmaker)) == 1
    assert len(await routing.incidents(sessionmaker)) == 1
