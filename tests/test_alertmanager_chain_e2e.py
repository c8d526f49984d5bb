"""The whole chain, with real parts: Prometheus Alertmanager → Tocsin → on-call e-mail.

Alertmanager (Debian's `prometheus-alertmanager`) runs as a child process with a webhook
receiver pointing at a real Tocsin server; an `incident` routing rule turns the alerts into
an incident; the durable job worker pages the on-call person through a real SMTP server
(aiosmtpd); acknowledging through the signed link in that e-mail stops the escalation (no
second-level e-mail once the level's timeout has passed on Tocsin's clock); Alertmanager's
resolved notification resolves the alerts and is recorded on the incident, which stays open.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.browser.server import running_server
from tests.conftest import Configure
from tests.factories import make_caller, make_user
from tests.mail import Mailbox, smtp_server
from tests.test_alert_ingest_helpers import make_integration, stored_alerts
from tests.test_alertmanager_e2e import (
    alertmanager_binary,  # noqa: F401  (the fixture)
    eventually,
    rfc3339,
    running_alertmanager,
)
from tocsin.alerts.normalized import SourceKind
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import MemberIn, ServiceCreate, TeamCreate
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.jobs.models import Job
from tocsin.jobs.registry import load_domain_handlers
from tocsin.jobs.worker import Worker
from tocsin.oncall.models import OncallPage, OncallPageLog
from tocsin.policy import service as policy

ACK = re.compile(r"/oncall/ack/[A-Za-z0-9_.\-]+")


@pytest.fixture
def mailbox(configure: Configure) -> Iterator[Mailbox]:
    with smtp_server() as (box, port):
        configure(
            {
                "TOCSIN_SMTP_HOST": "127.0.0.1",
                "TOCSIN_SMTP_PORT": str(port),
                "TOCSIN_SMTP_STARTTLS": "false",
                "TOCSIN_SMTP_FROM": "Tocsin <pager@tocsin.example>",
            }
        )
        yield box


async def test_alertmanager_alerts_open_an_incident_page_by_email_and_resolve(
    alertmanager_binary: str,  # noqa: F811
    settings: Settings,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    mailbox: Mailbox,
    configure: Configure,
    tmp_path: Path,
) -> None:
    clock.set(datetime.now(UTC))
    await policy.ensure_default_policies(session)
    admin = await make_caller(session, Role.ADMIN)
    ada = await make_user(session, email="ada@example.test")
    bob = await make_user(session, email="bob@example.test")
    system = Actor.system("test")
    await catalog.create_team(
        session,
        system,
        TeamCreate(
            slug="payments",
            name="Payments",
            members=[MemberIn(email=ada.email), MemberIn(email=bob.email)],
        ),
    )
    await catalog.create_service(
        session, system, ServiceCreate(slug="checkout", name="Checkout", owner_team="payments")
    )
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    await session.commit()
    load_domain_handlers()  # every domain's jobs, as `tocsin worker` runs them
    worker = Worker(settings, sessionmaker, worker_id="chain")

    async def run_due() -> None:
        while await worker.run_once():
            pass

    async with running_server(settings) as tocsin, httpx.AsyncClient(base_url=tocsin) as api:
        configure({"TOCSIN_BASE_URL": tocsin})
        headers = admin.headers
        oncall = "/api/v1/oncall"
        levels = [
            {"timeout_minutes": 5, "targets": [{"type": "user", "id": ada.id}]},
            {"timeout_minutes": 5, "targets": [{"type": "user", "id": bob.id}]},
        ]
        created = await api.post(
            f"{oncall}/policies",
            json={"slug": "payments", "name": "Payments", "team": "payments", "levels": levels},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        attached = await api.put(
            f"{oncall}/services/checkout/policy", json={"policy": "payments"}, headers=headers
        )
        assert attached.status_code == 200, attached.text
        rule = {
            "slug": "checkout-critical",
            "service": "checkout",
            "matchers": [{"name": "severity", "value": "critical"}],
            "action": "incident",
            "severity_map": {"critical": "sev1"},
        }
        assert (await api.put("/api/v1/routing-rules", json=rule, headers=headers)).is_success

        webhook = f"{tocsin}/api/v1/ingest/{integration.key}/alertmanager"
        async with running_alertmanager(alertmanager_binary, webhook, tmp_path) as am:
            started = datetime.now(UTC) - timedelta(minutes=1)
            firing = [
                {
                    "labels": {
                        "alertname": "CheckoutErrors",
                        "instance": instance,
                        "severity": "critical",
                    },
                    "annotations": {"summary": "checkout errors above 5%"},
                    "startsAt": rfc3339(started),
                }
                for instance in ("c-1", "c-2")
            ]
            posted = await api.post(f"{am}/api/v2/alerts", json=firing)
            assert posted.status_code == 200, posted.text

            async def paged() -> str | None:
                await run_due()
                found = mailbox.text_to(ada.email)
                return found[0] if found else None

            body = await eventually(paged, "the on-call e-mail to ada")
            async with sessionmaker() as fresh:
                [incident] = await fresh.scalars(sa.select(Incident))
                [page] = await fresh.scalars(sa.select(OncallPage))
            assert incident.severity == "sev1" and incident.status == "declared"
            assert page.incident_id == incident.id and page.status == "open"
            assert "checkout errors above 5%" in body

            async def both_decided() -> bool | None:
                await run_due()
                rows = await stored_alerts(sessionmaker)
                decided = sorted(r.decision or "" for r in rows)
                return True if decided == ["attached", "incident"] else None

            await eventually(both_decided, "both alerts to be routed to the incident")

            # The signed link: a confirm page (so a mail scanner does not acknowledge), then
            # the form posts the acknowledgement.
            match = ACK.search(body)
            assert match is not None, body
            assert (await api.get(match.group())).status_code == 200
            done = await api.post(match.group())
            assert done.status_code == 200 and "acknowledged" in done.text

            # The first level's timeout passes on Tocsin's clock: its timer runs, finds the
            # page acknowledged, and nobody at the second level is woken.
            clock.advance(timedelta(minutes=6))
            await run_due()
            assert mailbox.text_to(bob.email) == []
            async with sessionmaker() as fresh:
                timers = list(
                    await fresh.scalars(sa.select(Job).where(Job.kind == "oncall.escalate"))
                )
                log = list(
                    await fresh.scalars(
                        sa.select(OncallPageLog.kind).where(OncallPageLog.page_id == page.id)
                    )
                )
            assert timers and all(t.status == "succeeded" for t in timers)
            assert "escalated" not in log and "acknowledged" in log

            ended = rfc3339(datetime.now(UTC) - timedelta(seconds=1))
            resolved = [{**alert, "endsAt": ended} for alert in firing]
            assert (await api.post(f"{am}/api/v2/alerts", json=resolved)).status_code == 200

            async def recorded() -> list[str] | None:
                await run_due()
                async with sessionmaker() as fresh:
                    kinds = list(
                        await fresh.scalars(
                            sa.select(TimelineEvent.kind)
                            .where(TimelineEvent.incident_id == incident.id)
                            .order_by(TimelineEvent.id)
                        )
                    )
                return kinds if "alerts.resolved" in kinds else None

            kinds = await eventually(recorded, "the resolution on the incident timeline")
            assert kinds.index("declared") < kinds.index("alerts.resolved")
            assert {r.status for r in await stored_alerts(sessionmaker)} == {"resolved"}
            async with sessionmaker() as fresh:
                incident_now = await fresh.get(Incident, incident.id)
                page_now = await fresh.get(OncallPage, page.id)
            assert incident_now is not None and incident_now.status == "declared"
            assert page_now is not None and page_now.status == "acknowledged"
            assert mailbox.text_to(bob.email) == []
