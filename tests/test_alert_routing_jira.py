"""Routing tickets mirrored to Jira Cloud, against a local server speaking the documented
request and response shapes of Jira's REST API v3 (tests/ticketing/jira.py): alerts posted
as Prometheus posts them, decided and filed by the real durable jobs on a real database.

What people rely on: a `ticket` rule with a tracker files one issue per ticket in the named
project and the ticket shows its key and address, even when the worker dies after Jira filed
it; when the alerts resolve the issue gets a comment and, when configured, moves to Done; an
outage is retried and then forgotten; a refusal is written on the ticket and nobody is woken
either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import test_alert_routing as routing
from tests.chat.serving import serving
from tests.factories import Caller
from tests.test_alert_pipeline_helpers import PIPELINE_KINDS, firing, page_jobs, post_alerts
from tests.test_alert_pipeline_helpers import resolved as resolved_alert
from tests.ticketing.jira import EMAIL, TOKEN, FakeJira
from tocsin.alerts.routing import external
from tocsin.alerts.routing import handlers as routing_handlers
from tocsin.alerts.routing.external import FILE_KIND, RESOLVE_KIND, marker
from tocsin.alerts.routing.ticketing import Draft, Filed, adf, for_tracker
from tocsin.audit.models import AuditEntry
from tocsin.clock import FrozenClock
from tocsin.config import Settings, get_settings, load_settings
from tocsin.jobs.models import Job
from tocsin.jobs.registry import HandlerSpec, Registry
from tocsin.jobs.worker import Worker

pytestmark = pytest.mark.asyncio
# The routing tests' own fixtures: an admin caller and the checkout service's key.
admin = routing.admin
key = routing.key
TICKETS = "/api/v1/alert-tickets"
TRACKER = {"kind": "jira", "project": "OPS", "labels": ["tocsin", "checkout"]}


@pytest.fixture
async def jira() -> AsyncIterator[tuple[FakeJira, str]]:
    fake = FakeJira()
    async with serving(fake.app()) as base:
        yield fake, base


@pytest.fixture
def jira_env(jira: tuple[FakeJira, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TOCSIN_JIRA_BASE_URL", jira[1])
    monkeypatch.setenv("TOCSIN_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("TOCSIN_JIRA_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def settings(database_url: str, jira_env: None) -> Settings:
    return load_settings(database_url=database_url, log_level="warning")


def registry() -> Registry:
    """The pipeline and routing's tracker jobs; pages are looked at, not opened."""
    found = Registry()
    kinds = {
        **PIPELINE_KINDS,
        FILE_KIND: routing_handlers.file_ticket,
        RESOLVE_KIND: routing_handlers.resolve_ticket,
    }
    for kind, handler in kinds.items():
        found.register(HandlerSpec(kind, handler))
    return found


async def run_jobs(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    worker = Worker(settings, sessionmaker, registry=registry(), worker_id="jira")
    for _ in range(20):
        if not await worker.run_once():
            return


async def ticket(client: AsyncClient, caller: Caller) -> dict[str, Any]:
    [only] = (await client.get(TICKETS, headers=caller.headers)).json()
    return dict(only)


async def disk_filling_ticket(client: AsyncClient, admin: Caller, key: str) -> None:
    """A rule filing checkout's alerts as tickets in Jira, and one alert it files one for."""
    await routing.put_rule(
        client, admin, slug="t", service="checkout", action="ticket", tracker=TRACKER
    )
    await post_alerts(client, key, firing("DiskFilling"))


async def jobs_of(sessionmaker: async_sessionmaker[AsyncSession], kind: str) -> list[Job]:
    async with sessionmaker() as session:
        return list(await session.scalars(sa.select(Job).where(Job.kind == kind)))


async def test_a_ticket_is_filed_in_jira_and_told_when_its_alerts_resolve(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
) -> None:
    fake, base = jira
    await routing.put_rule(
        client,
        admin,
        slug="checkout-tickets",
        service="checkout",
        action="ticket",
        tracker={**TRACKER, "resolve_transition": "31"},
    )
    await post_alerts(client, key, firing("CertExpiring", instance="a", severity="info"))
    await post_alerts(client, key, firing("CertExpiring", instance="b", severity="info"))
    await run_jobs(settings, sessionmaker)

    [issue] = fake.issues.values()
    found = await ticket(client, admin)
    assert found["tracker"] == "jira" and found["external_status"] == "open"
    assert found["external_key"] == issue.key == "OPS-1"
    assert found["external_url"] == f"{base}/browse/OPS-1"
    assert issue.fields["summary"] == "[checkout] CertExpiring fires"
    assert issue.fields["issuetype"] == {"name": "Task"}
    assert issue.fields["labels"] == ["tocsin", "checkout", marker(found["id"], settings)], (
        "the rule's labels, then the marker a retry looks for"
    )
    description = adf.plain_text(issue.fields["description"])
    assert found["ref"] in description and "Service: checkout" in description
    assert "/alert-groups#group-" in str(issue.fields["description"])
    assert await page_jobs(sessionmaker) == [], "a ticket wakes nobody"

    for instance in ("a", "b"):
        await post_alerts(
            client,
            key,
            resolved_alert("CertExpiring", clock.now(), instance=instance, severity="info"),
        )
    await run_jobs(settings, sessionmaker)
    [comment] = issue.comments
    assert "All 2 alert(s)" in adf.plain_text(comment) and found["ref"] in adf.plain_text(comment)
    assert issue.transitions == ["31"]
    found = await ticket(client, admin)
    assert found["external_status"] == "resolved" and found["status"] == "open"
    assert len(fake.issues) == 1, "one issue per ticket, however many alerts"


async def test_an_outage_is_retried_and_the_error_shows_until_it_passes(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
) -> None:
    fake, _ = jira
    fake.down = 1
    await disk_filling_ticket(client, admin, key)
    await run_jobs(settings, sessionmaker)

    waiting = await ticket(client, admin)
    assert waiting["external_status"] == "pending" and waiting["external_key"] is None
    assert "Jira answered 503" in waiting["external_error"]
    assert fake.issues == {}
    shown = await client.get("/alert-routing", headers=admin.headers)
    assert "Jira answered 503" in shown.text, "the routing page says why it is not filed"

    clock.advance(timedelta(minutes=5))
    await run_jobs(settings, sessionmaker)
    filed = await ticket(client, admin)
    assert filed["external_key"] == "OPS-1" and filed["external_error"] is None
    [job] = await jobs_of(sessionmaker, FILE_KIND)
    assert job.status == "succeeded" and job.attempts == 2


async def test_a_refusal_is_recorded_on_the_ticket_and_not_retried(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
) -> None:
    fake, _ = jira
    await routing.put_rule(
        client,
        admin,
        slug="t",
        service="checkout",
        action="ticket",
        tracker={"kind": "jira", "project": "GONE"},
    )
    await post_alerts(client, key, firing("DiskFilling"))
    await run_jobs(settings, sessionmaker)

    failed = await ticket(client, admin)
    assert failed["external_status"] == "failed" and failed["external_key"] is None
    assert "Jira answered 400" in failed["external_error"]
    assert "project: Specify a valid project ID or key" in failed["external_error"]
    assert failed["status"] == "open", "the internal ticket is still the record"
    [job] = await jobs_of(sessionmaker, FILE_KIND)
    assert job.status == "dead" and job.attempts == 1

    # Its alerts resolving does not call Jira about an issue that does not exist.
    calls = len(fake.calls)
    await post_alerts(client, key, resolved_alert("DiskFilling", clock.now()))
    await run_jobs(settings, sessionmaker)
    assert len(fake.calls) == calls
    assert await jobs_of(sessionmaker, RESOLVE_KIND) == []


class WorkerCrash(Exception):
    """Stands for the process dying: nothing after this point of the job runs."""


@pytest.fixture
def crash_before_storing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first time Jira's answer is to be stored the job dies; later ones store it."""
    real = external.record_filed
    lost: list[str] = []

    async def crash_then_store(session: AsyncSession, ticket_id: int, filed: Filed) -> None:
        if not lost:
            lost.append(filed.key)
            raise WorkerCrash(f"worker died before storing {filed.key}")
        await real(session, ticket_id, filed)

    monkeypatch.setattr(external, "record_filed", crash_then_store)
    return lost


async def test_a_retry_after_a_lost_answer_adopts_the_issue_instead_of_filing_another(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
    crash_before_storing: list[str],
) -> None:
    fake, base = jira
    await disk_filling_ticket(client, admin, key)
    await run_jobs(settings, sessionmaker)

    assert crash_before_storing == ["OPS-1"], "Jira filed the issue; Tocsin never stored it"
    waiting = await ticket(client, admin)
    assert waiting["external_status"] == "pending" and waiting["external_key"] is None
    [job] = await jobs_of(sessionmaker, FILE_KIND)
    assert job.status == "queued" and job.attempts == 1, "the crashed filing is retried"

    clock.advance(timedelta(minutes=5))  # past the retry's back-off
    await post_alerts(client, key, firing("DiskFilling"))  # Prometheus still sends it
    await run_jobs(settings, sessionmaker)

    assert list(fake.issues) == ["OPS-1"], "Jira holds exactly one issue"
    assert fake.calls.count("POST /rest/api/3/issue") == 1
    assert fake.calls.count("POST /rest/api/3/search/jql") == 2, "each attempt looked first"
    filed = await ticket(client, admin)
    assert filed["external_key"] == "OPS-1" and filed["external_status"] == "open"
    assert filed["external_url"] == f"{base}/browse/OPS-1"
    [job] = await jobs_of(sessionmaker, FILE_KIND)
    assert job.status == "succeeded" and job.attempts == 2
    async with sessionmaker() as session:
        actions = await session.scalars(
            sa.select(AuditEntry.action).where(
                AuditEntry.object_type == "ticket", AuditEntry.actor_label == "ticket tracker"
            )
        )
        assert list(actions) == ["adopt"], "the audit trail says the issue was found, not filed"

    # The adopted issue is the one told when the alerts resolve.
    await post_alerts(client, key, resolved_alert("DiskFilling", clock.now()))
    await run_jobs(settings, sessionmaker)
    [comment] = fake.issues["OPS-1"].comments
    assert filed["ref"] in adf.plain_text(comment)


async def test_another_sites_issue_with_the_same_ticket_number_is_not_adopted(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
    jira: tuple[FakeJira, str],
) -> None:
    fake, _ = jira
    await routing.put_rule(
        client, admin, slug="t", service="checkout", action="ticket", tracker=TRACKER
    )
    fake.down = 1  # the first filing waits for its retry
    await post_alerts(client, key, firing("DiskFilling"))
    await run_jobs(settings, sessionmaker)
    [open_ticket] = (await client.get(TICKETS, headers=admin.headers)).json()
    staging = settings.model_copy(update={"base_url": "https://staging.tocsin.example"})
    ours, theirs = marker(open_ticket["id"], settings), marker(open_ticket["id"], staging)
    assert ours != theirs
    # Another Tocsin site already filed its own ticket of the same number in the project.
    other = await for_tracker("jira", settings).create(
        Draft(
            ref=open_ticket["ref"],
            title="[checkout] elsewhere",
            summary="",
            severity=None,
            service="checkout",
            link="https://staging.tocsin.example/alert-routing",
            marker=theirs,
            config=TRACKER,
        )
    )
    assert other.key == "OPS-1" and not other.adopted

    clock.advance(timedelta(minutes=5))
    await run_jobs(settings, sessionmaker)

    found = await ticket(client, admin)
    assert found["external_key"] == "OPS-2", "its own issue, not the other site's"
    assert ours in fake.issues["OPS-2"].fields["labels"]
    assert fake.issues["OPS-1"].comments == [], "the other site's issue is left alone"
