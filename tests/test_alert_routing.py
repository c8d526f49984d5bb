"""Routing rules end to end on a real database: alerts posted as Prometheus posts them,
decided by the durable pipeline jobs, read back through the API.

What a responder relies on: a matching `incident` rule declares one incident per group with
the mapped severity and links the alerts; later alerts attach instead of paging again; a
`ticket` rule wakes nobody; with no rule the service's on-call is paged as before; when the
group's alerts resolve the incident says so (and stays open) and an unacknowledged page stops.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, browser_login, make_caller, make_user
from tests.test_alert_ingest_helpers import count, make_integration, make_service
from tests.test_alert_pipeline_helpers import (
    PIPELINE_KINDS,
    alerts_named,
    firing,
    page_jobs,
    post_alerts,
    resolved,
)
from tocsin.alerts.normalized import SourceKind
from tocsin.alerts.routing.models import AlertTicket, RoutingRule
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.incidents.models import Incident, IncidentAffected, IncidentLink, TimelineEvent
from tocsin.jobs.registry import HandlerSpec, Registry
from tocsin.jobs.worker import Worker
from tocsin.manifest.apply import SourceFile, apply_files
from tocsin.manifest.export import export_yaml
from tocsin.manifest.plan import Action as ManifestAction
from tocsin.oncall import handlers as oncall_handlers
from tocsin.oncall.models import OncallPage
from tocsin.policy import service as policy

pytestmark = pytest.mark.asyncio
RULES = "/api/v1/routing-rules"


def registry() -> Registry:
    """The pipeline and the opening of pages; escalation timers are not needed here."""
    found = Registry()
    for kind, handler in {**PIPELINE_KINDS, "oncall.page": oncall_handlers.page}.items():
        found.register(HandlerSpec(kind, handler))
    return found


async def run_jobs(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    worker = Worker(settings, sessionmaker, registry=registry(), worker_id="routing")
    for _ in range(20):
        if not await worker.run_once():
            return


@pytest.fixture
async def admin(session: AsyncSession, clock: FrozenClock) -> Caller:
    await policy.ensure_default_policies(session)
    return await make_caller(session, Role.ADMIN)


@pytest.fixture
async def key(session: AsyncSession, admin: Caller) -> str:
    await make_service(session, "checkout")
    key = (await make_integration(session, SourceKind.ALERTMANAGER)).key
    await session.commit()
    return key


async def put_rule(client: AsyncClient, caller: Caller, **rule: Any) -> dict[str, Any]:
    response = await client.put(RULES, json=rule, headers=caller.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def incidents(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Incident]:
    async with sessionmaker() as session:
        return list(await session.scalars(sa.select(Incident).order_by(Incident.id)))


async def timeline(sessionmaker: async_sessionmaker[AsyncSession], incident_id: int) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            sa.select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(TimelineEvent.id)
        )
        return [row.kind for row in rows]


async def test_an_incident_rule_opens_one_incident_per_group_with_the_mapped_severity(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(
        client,
        admin,
        slug="checkout-critical",
        service="checkout",
        matchers=[{"name": "severity", "op": "=~", "value": "critical|page"}],
        action="incident",
        severity_map={"critical": "sev1", "page": "sev2"},
    )
    await post_alerts(client, key, firing("CheckoutDown", instance="a", severity="critical"))
    await run_jobs(settings, sessionmaker)
    await post_alerts(client, key, firing("CheckoutDown", instance="b", severity="critical"))
    await run_jobs(settings, sessionmaker)

    [incident] = await incidents(sessionmaker)
    assert incident.severity == "sev1"
    assert incident.title == "[checkout] CheckoutDown fires"
    async with sessionmaker() as session:
        affected = await session.scalars(
            sa.select(IncidentAffected.slug).where(IncidentAffected.incident_id == incident.id)
        )
        assert list(affected) == ["checkout"]
        [link] = await session.scalars(
            sa.select(IncidentLink).where(IncidentLink.incident_id == incident.id)
        )
    first, second = await alerts_named(sessionmaker, "CheckoutDown")
    assert link.kind == "alert" and link.url.endswith(f"#group-{first.group_id}")
    assert first.decision == "incident"
    assert first.decision_reason.startswith(f"opened incident INC-{incident.id} (sev1 from label")
    assert second.decision == "attached" and f"incident #{incident.id}" in second.decision_reason
    assert second.group_id == first.group_id, "a later alert joins the incident's group"
    # One page, tied to the incident, not one per alert.
    [page] = await page_jobs(sessionmaker)
    assert page.payload["incident_id"] == incident.id
    assert (await timeline(sessionmaker, incident.id)).count("alert.attached") == 1

    await post_alerts(
        client, key, resolved("CheckoutDown", clock.now(), instance="a", severity="critical")
    )
    await run_jobs(settings, sessionmaker)
    assert "alerts.resolved" not in await timeline(sessionmaker, incident.id)
    await post_alerts(
        client, key, resolved("CheckoutDown", clock.now(), instance="b", severity="critical")
    )
    await run_jobs(settings, sessionmaker)
    kinds = await timeline(sessionmaker, incident.id)
    assert kinds.count("alerts.resolved") == 1
    [incident] = await incidents(sessionmaker)
    assert incident.status == "declared", "the incident is left for its commander to close"
    async with sessionmaker() as session:
        [opened] = await session.scalars(sa.select(OncallPage))
    assert opened.status == "resolved", "nobody acknowledged: the page stops escalating"


async def test_severity_falls_back_to_the_event_severity_then_the_default(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    admin: Caller,
    key: str,
) -> None:
    # Two services: an open incident on one service takes in its later alerts.
    await make_service(session, "search")
    other = (await make_integration(session, SourceKind.ALERTMANAGER, service="search")).key
    await session.commit()
    for service in ("checkout", "search"):
        await put_rule(
            client,
            admin,
            slug=f"{service}-all",
            service=service,
            action="incident",
            severity_label="level",
            severity_map={"warning": "sev3"},
            default_severity="sev4",
            page=False,
        )
    await post_alerts(client, key, firing("DiskFilling", severity="warning"))
    await post_alerts(client, other, firing("Odd", level="unknown"))
    await run_jobs(settings, sessionmaker)
    found = {i.title: i.severity for i in await incidents(sessionmaker)}
    assert found == {"[checkout] DiskFilling fires": "sev3", "[search] Odd fires": "sev4"}
    [disk] = await alerts_named(sessionmaker, "DiskFilling")
    assert "sev3 from event severity warning" in disk.decision_reason
    assert await page_jobs(sessionmaker) == [], "page=false: the incident alone"


async def test_a_ticket_rule_wakes_nobody_and_unmatched_alerts_page_as_before(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(
        client,
        admin,
        slug="checkout-tickets",
        service="checkout",
        matchers=[{"name": "severity", "value": "info"}],
        action="ticket",
    )
    await post_alerts(client, key, firing("CertExpiring", instance="a", severity="info"))
    await run_jobs(settings, sessionmaker)
    await post_alerts(client, key, firing("CertExpiring", instance="b", severity="info"))
    await run_jobs(settings, sessionmaker)
    assert await page_jobs(sessionmaker) == []
    assert await incidents(sessionmaker) == []
    listed = (await client.get("/api/v1/alert-tickets", headers=admin.headers)).json()
    [ticket] = listed
    assert ticket["ref"] == f"T-{ticket['id']}" and ticket["status"] == "open"
    assert ticket["rule"] == "checkout-tickets" and ticket["service"] == "checkout"
    first, second = await alerts_named(sessionmaker, "CertExpiring")
    assert first.decision == "ticket" and f"ticket T-{ticket['id']}" in first.decision_reason
    assert second.decision == "grouped" and f"T-{ticket['id']}" in second.decision_reason

    for instance in ("a", "b"):
        await post_alerts(
            client, key, resolved("CertExpiring", clock.now(), instance=instance, severity="info")
        )
    await run_jobs(settings, sessionmaker)
    [ticket] = (await client.get("/api/v1/alert-tickets", headers=admin.headers)).json()
    assert ticket["alerts_resolved_at"] is not None and ticket["status"] == "open"
    closed = await client.post(f"/api/v1/alert-tickets/{ticket['id']}/close", headers=admin.headers)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = await client.post(f"/api/v1/alert-tickets/{ticket['id']}/close", headers=admin.headers)
    assert again.status_code == 409

    # No rule matches a critical alert: the default is today's behaviour, a page only.
    await post_alerts(client, key, firing("CheckoutDown", severity="critical"))
    await run_jobs(settings, sessionmaker)
    [page] = await page_jobs(sessionmaker)
    assert page.payload["incident_id"] is None
    [row] = await alerts_named(sessionmaker, "CheckoutDown")
    assert row.decision == "paged"
    assert await incidents(sessionmaker) == []


async def test_a_team_rule_applies_to_the_teams_services_after_the_services_own_rules(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    admin: Caller,
) -> None:
    created = await client.post(
        "/api/v1/teams", json={"slug": "payments", "name": "Payments"}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    await make_service(session, "billing", owner_team="payments")
    key = (await make_integration(session, SourceKind.ALERTMANAGER, service="billing")).key
    await session.commit()
    await put_rule(client, admin, slug="payments-all", team="payments", action="ticket")
    await put_rule(
        client,
        admin,
        slug="billing-critical",
        service="billing",
        matchers=[{"name": "severity", "value": "critical"}],
        action="incident",
    )
    await post_alerts(client, key, firing("Slow", severity="warning"))
    await run_jobs(settings, sessionmaker)
    await post_alerts(client, key, firing("Down", severity="critical"))
    await run_jobs(settings, sessionmaker)
    [slow] = await alerts_named(sessionmaker, "Slow")
    [down] = await alerts_named(sessionmaker, "Down")
    assert (slow.decision, down.decision) == ("ticket", "incident")
    rules = (await client.get(RULES, headers=admin.headers)).json()
    assert {r["slug"]: r["action"] for r in rules} == {
        "payments-all": "ticket",
        "billing-critical": "incident",
    }
    assert (await client.delete(f"{RULES}/payments-all", headers=admin.headers)).status_code == 204
    assert (await client.delete(f"{RULES}/payments-all", headers=admin.headers)).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"service": None}, "service"),
        ({"team": "payments"}, "service"),
        ({"service": "nowhere"}, "service"),
        ({"matchers": [{"name": "severity", "op": "=~", "value": "("}]}, "matchers"),
        ({"matchers": [{"name": "bad-name", "value": "x"}]}, "matchers"),
        ({"severity_map": {"critical": "sev9"}}, "severity_map.critical"),
        ({"default_severity": "sev0"}, "default_severity"),
        ({"action": "shout"}, "action"),
        ({"action": "ticket", "visibility": "private"}, "visibility"),
        ({"visibility": "secret"}, "visibility"),
        ({"tracker": {"kind": "jira", "project": "OPS"}}, "tracker"),
        ({"action": "ticket", "tracker": {"kind": "jira", "project": "OPS"}}, "tracker.kind"),
        ({"action": "ticket", "tracker": {"kind": "jira", "project": "ops"}}, "tracker.project"),
        ({"action": "ticket", "tracker": {"kind": "github", "project": "OPS"}}, "tracker.kind"),
    ],
)
async def test_a_bad_rule_is_refused_naming_the_field_and_changes_nothing(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: Caller,
    key: str,
    change: dict[str, Any],
    field: str,
) -> None:
    body = {"slug": "r", "service": "checkout", "action": "incident", **change}
    response = await client.put(RULES, json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text
    assert await count(sessionmaker, RoutingRule) == 0


async def test_only_managers_change_rules_and_changes_are_audited(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: Caller,
    key: str,
) -> None:
    viewer = await make_caller(session, Role.VIEWER)
    await session.commit()
    body = {"slug": "r", "service": "checkout", "action": "ticket"}
    assert (await client.put(RULES, json=body, headers=viewer.headers)).status_code == 403
    assert (await client.get(RULES, headers=viewer.headers)).status_code == 200
    await put_rule(client, admin, **body)
    await put_rule(client, admin, **{**body, "action": "incident"})
    async with sessionmaker() as fresh:
        actions = list(
            await fresh.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.object_type == "routing-rule")
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["create", "update"]
    assert await count(sessionmaker, AlertTicket) == 0


FILE = """
apiVersion: tocsin/v1
kind: Service
metadata: {slug: shop}
spec: {name: Shop}
---
apiVersion: tocsin/v1
kind: AlertRoutingRule
metadata: {slug: shop-critical}
spec:
  service: shop
  matchers: [{name: severity, value: critical}]
  action: incident
  severity_map: {critical: sev1}
"""


async def test_rules_are_configuration_as_code(session: AsyncSession, clock: FrozenClock) -> None:
    await policy.ensure_default_policies(session)
    actor = Actor.system("test")
    summary = await apply_files(session, actor, [SourceFile("routing.yaml", FILE)])
    assert ("AlertRoutingRule", "shop-critical") in {(c.kind, c.slug) for c in summary.changes}
    again = await apply_files(session, actor, [SourceFile("routing.yaml", FILE)])
    assert {c.action for c in again.changes if c.kind == "AlertRoutingRule"} == {
        ManifestAction.UNCHANGED
    }
    exported = [d for d in yaml.safe_load_all(await export_yaml(session)) if d]
    [rule] = [d for d in exported if d["kind"] == "AlertRoutingRule"]
    assert rule["metadata"]["slug"] == "shop-critical"
    assert rule["spec"]["action"] == "incident" and rule["spec"]["service"] == "shop"


async def test_the_routing_page_lists_rules_and_tickets_and_closes_a_ticket(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(client, admin, slug="checkout-tickets", service="checkout", action="ticket")
    await post_alerts(client, key, firing("CertExpiring"))
    await run_jobs(settings, sessionmaker)
    responder = await make_user(session, Role.RESPONDER)
    await session.commit()
    csrf = await browser_login(client, responder.email)
    shown = await client.get("/alert-routing")
    assert shown.status_code == 200
    assert "checkout-tickets" in shown.text and "every alert" in shown.text
    [ticket] = (await client.get("/api/v1/alert-tickets", headers=admin.headers)).json()
    assert ticket["ref"] in shown.text and f"Close {ticket['ref']}" in shown.text
    closed = await client.post(
        f"/alert-tickets/{ticket['id']}/close", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert closed.status_code == 303
    [ticket] = (await client.get("/api/v1/alert-tickets", headers=admin.headers)).json()
    assert ticket["status"] == "closed" and ticket["closed_by"] == responder.email
    assert f"Close {ticket['ref']}" not in (await client.get("/alert-routing")).text
