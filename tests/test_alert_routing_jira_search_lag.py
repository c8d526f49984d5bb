"""Filing in Jira while Jira's search lags its writes, against the local Jira-shaped server
(tests/ticketing/jira.py) told to lag, with the real durable jobs on a real database.

What a Jira admin relies on: a ticket is one issue, even when the answer of the call that
created it was lost and the retry comes before Jira's search shows that issue; a filing that
never reached Jira is filed once the search must have caught up; and when nothing went wrong
nothing waits. With the default settings an issue must show in search 90 s after the call
that created it started (`TOCSIN_JIRA_TIMEOUT_SECONDS` 30 plus `TOCSIN_JIRA_SEARCH_LAG_SECONDS`
60).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import test_alert_routing as routing
from tests import test_alert_routing_jira as jira_tests
from tests.conftest import Configure
from tests.factories import Caller
from tests.test_alert_pipeline_helpers import firing, post_alerts
from tests.ticketing.jira import FakeJira
from tocsin.alerts.routing import external
from tocsin.alerts.routing.external import FILE_KIND
from tocsin.audit.models import AuditEntry
from tocsin.clock import FrozenClock
from tocsin.config import Settings

pytestmark = pytest.mark.asyncio
# The Jira tests' fixtures: the server, its settings, and a worker that dies before storing.
admin = routing.admin
key = routing.key
jira = jira_tests.jira
jira_env = jira_tests.jira_env
settings = jira_tests.settings
crash_before_storing = jira_tests.crash_before_storing
run_jobs = jira_tests.run_jobs
ticket = jira_tests.ticket
jobs_of = jira_tests.jobs_of
disk_filling_ticket = jira_tests.disk_filling_ticket

VISIBLE_WITHIN = timedelta(seconds=30 + 60)
CREATE = "POST /rest/api/3/issue"
SEARCH = "POST /rest/api/3/search/jql"


async def mirror_actions(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    """What the audit trail says the tracker mirror did to tickets, in order."""
    async with sessionmaker() as session:
        actions = await session.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.object_type == "ticket", AuditEntry.actor_label == "ticket tracker")
            .order_by(AuditEntry.id)
        )
        return list(actions)


async def test_a_retry_before_the_search_shows_the_lost_issue_waits_and_then_adopts_it(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
    crash_before_storing: list[str],
) -> None:
    fake, _ = jira
    fake.search_lag = timedelta(seconds=20)
    await disk_filling_ticket(client, admin, key)
    started = clock.now()
    await run_jobs(settings, sessionmaker)
    assert crash_before_storing == ["OPS-1"], "Jira filed the issue; Tocsin never stored it"

    clock.advance(timedelta(seconds=10))  # past the retry's back-off, before Jira indexes it
    await run_jobs(settings, sessionmaker)

    assert list(fake.issues) == ["OPS-1"] and fake.calls.count(CREATE) == 1, "no second issue"
    assert fake.calls.count(SEARCH) == 2, "the retry looked and did not find it"
    waiting = await ticket(client, admin)
    assert waiting["external_status"] == "waiting" and waiting["external_key"] is None
    until = started + VISIBLE_WITHIN
    assert datetime.fromisoformat(waiting["waiting_until"]) == until
    shown = await client.get("/alert-routing", headers=admin.headers)
    assert "waiting" in shown.text, "the routing page says the filing waits"
    assert f"until {until:%Y-%m-%d %H:%M:%S} UTC" in shown.text, "and until when"
    [job] = await jobs_of(sessionmaker, FILE_KIND)
    assert job.status == "queued" and job.run_at == started + VISIBLE_WITHIN
    assert "search does not show yet" in str(job.last_error)
    assert await mirror_actions(sessionmaker) == ["wait"]

    clock.advance(timedelta(seconds=30))  # still within the window: nothing runs
    await run_jobs(settings, sessionmaker)
    assert fake.calls.count(SEARCH) == 2

    clock.set(started + VISIBLE_WITHIN)
    await run_jobs(settings, sessionmaker)

    assert list(fake.issues) == ["OPS-1"], "Jira holds exactly one issue"
    assert fake.calls.count(CREATE) == 1
    filed = await ticket(client, admin)
    assert filed["external_key"] == "OPS-1" and filed["external_status"] == "open"
    assert filed["waiting_until"] is None
    [job] = await jobs_of(sessionmaker, FILE_KIND)
    assert job.status == "succeeded" and job.attempts == 3
    assert await mirror_actions(sessionmaker) == ["wait", "adopt"]


async def test_a_create_that_never_reached_jira_is_filed_once_after_the_window(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
) -> None:
    fake, _ = jira
    fake.refuse_creates = 1  # the gateway answers 503; Jira behind it created nothing
    fake.search_lag = timedelta(seconds=20)
    await disk_filling_ticket(client, admin, key)
    started = clock.now()
    await run_jobs(settings, sessionmaker)
    refused = await ticket(client, admin)
    assert "Jira answered 503" in refused["external_error"]

    clock.advance(timedelta(seconds=10))
    await run_jobs(settings, sessionmaker)
    # Tocsin cannot tell a 503 that created nothing from an issue the search does not show yet.
    assert fake.issues == {} and fake.calls.count(CREATE) == 1
    waiting = await ticket(client, admin)
    assert waiting["external_status"] == "waiting"
    assert "Jira answered 503" in waiting["external_error"], "the refusal still shows why"

    clock.set(started + VISIBLE_WITHIN - timedelta(seconds=1))
    await run_jobs(settings, sessionmaker)
    assert fake.calls.count(CREATE) == 1, "not before the window has passed"

    clock.set(started + VISIBLE_WITHIN)
    await run_jobs(settings, sessionmaker)

    assert list(fake.issues) == ["OPS-1"] and fake.calls.count(CREATE) == 2
    filed = await ticket(client, admin)
    assert filed["external_key"] == "OPS-1" and filed["external_status"] == "open"
    assert filed["external_error"] is None
    [job] = await jobs_of(sessionmaker, FILE_KIND)
    assert job.status == "succeeded" and job.attempts == 3
    assert await mirror_actions(sessionmaker) == ["wait", "file"]


async def test_a_create_jira_refused_is_retried_without_waiting_for_the_search(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
) -> None:
    fake, _ = jira
    fake.refuse_creates, fake.refuse_status = 1, 429  # Jira's own refusal: nothing created
    fake.search_lag = timedelta(seconds=20)
    await disk_filling_ticket(client, admin, key)
    await run_jobs(settings, sessionmaker)
    assert "Jira answered 429" in (await ticket(client, admin))["external_error"]

    clock.advance(timedelta(seconds=10))  # the job's back-off, far inside the search window
    await run_jobs(settings, sessionmaker)

    assert list(fake.issues) == ["OPS-1"] and fake.calls.count(CREATE) == 2
    filed = await ticket(client, admin)
    assert filed["external_key"] == "OPS-1" and filed["external_status"] == "open"
    assert await mirror_actions(sessionmaker) == ["file"], "it did not wait"


async def test_filing_without_an_earlier_attempt_does_not_wait_for_the_search(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
) -> None:
    fake, base = jira
    fake.search_lag, fake.unseen_searches = timedelta(minutes=5), 3  # a badly lagging search
    await disk_filling_ticket(client, admin, key)
    await post_alerts(client, key, firing("CertExpiring"))
    await run_jobs(settings, sessionmaker)

    assert sorted(fake.issues) == ["OPS-1", "OPS-2"], "both filed at once"
    assert fake.calls.count(SEARCH) == 2 and fake.calls.count(CREATE) == 2
    tickets: list[dict[str, Any]] = (
        await client.get(jira_tests.TICKETS, headers=admin.headers)
    ).json()
    assert {t["external_status"] for t in tickets} == {"open"}
    assert {t["external_url"] for t in tickets} == {f"{base}/browse/OPS-1", f"{base}/browse/OPS-2"}
    jobs = await jobs_of(sessionmaker, FILE_KIND)
    assert [(j.status, j.attempts) for j in jobs] == [("succeeded", 1), ("succeeded", 1)]
    assert await mirror_actions(sessionmaker) == ["file", "file"], "no wait recorded"


async def test_a_wait_on_the_last_attempt_marks_the_filing_failed_and_a_retry_looks_again(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
    crash_before_storing: list[str],
    configure: Configure,
) -> None:
    fake, _ = jira
    configure({"TOCSIN_JOB_MAX_ATTEMPTS": "2"})
    fake.unseen_searches = 1  # the first search after the create misses the issue
    await disk_filling_ticket(client, admin, key)
    await run_jobs(settings, sessionmaker)
    clock.advance(timedelta(seconds=10))
    await run_jobs(settings, sessionmaker)

    failed = await ticket(client, admin)
    assert failed["external_status"] == "failed" and failed["external_key"] is None
    assert "search does not show yet" in failed["external_error"]
    assert "retrying the job looks again" in failed["external_error"]
    [job] = await jobs_of(sessionmaker, FILE_KIND)
    assert job.status == "dead" and job.attempts == 2
    assert list(fake.issues) == ["OPS-1"], "giving up filed nothing more"

    retried = await client.post(f"/api/v1/jobs/{job.id}/retry", headers=admin.headers)
    assert retried.status_code == 200, retried.text
    await run_jobs(settings, sessionmaker)

    filed = await ticket(client, admin)
    assert filed["external_key"] == "OPS-1" and filed["external_status"] == "open"
    assert filed["external_error"] is None
    assert list(fake.issues) == ["OPS-1"] and fake.calls.count(CREATE) == 1


async def test_two_runs_of_one_filing_at_once_file_one_issue(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
) -> None:
    """A job runs twice when its lease runs out while it is still working: both runs may
    search before either creates, and the search cannot tell them apart."""
    fake, _ = jira
    fake.down = 1  # the first filing waits for its retry
    await disk_filling_ticket(client, admin, key)
    await run_jobs(settings, sessionmaker)
    ticket_id = (await ticket(client, admin))["id"]
    fake.search_together = asyncio.Barrier(2)

    async def run() -> None:
        async with sessionmaker() as session:
            with contextlib.suppress(external.AwaitingSearch):
                await external.file(session, ticket_id, settings)
            await session.commit()

    await asyncio.gather(run(), run())

    # The run that lost either waits for the search or finds the winner's key recorded.
    assert list(fake.issues) == ["OPS-1"] and fake.calls.count(CREATE) == 1
    filed = await ticket(client, admin)
    assert filed["external_key"] == "OPS-1" and filed["external_status"] == "open"
