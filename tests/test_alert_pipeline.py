"""The alert pipeline end to end on a real database: alerts posted as Prometheus posts them,
decided by the durable pipeline jobs, read back through the API.

What a responder relies on: one page per group and never one per alert; a page only when the
rule's corroboration is met; a flapping alert pages once; an alert explained by a failing
upstream dependency or an open incident does not page separately; silences and maintenance
suppress without dropping, and what they suppressed is decided again when they end; a silent
sender is noticed through its heartbeat. Every alert says what was decided and why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, make_caller
from tests.test_alert_ingest_helpers import SYSTEM, count, make_integration, make_service
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
from tocsin.alerts.models import Alert, CorrelationRule, MaintenanceWindow, Silence
from tocsin.alerts.normalized import SourceKind
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import DependencyIn, ServiceCreate
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.incidents.models import TimelineEvent
from tocsin.policy import service as policy

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def admin(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.ADMIN)


@pytest.fixture
async def key(session: AsyncSession, clock: FrozenClock) -> str:
    await make_service(session, "checkout")
    return (await make_integration(session, SourceKind.ALERTMANAGER)).key


async def test_a_group_pages_once_and_resolves_when_all_members_resolve(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(client, admin, service="checkout", group_by=["alertname"])
    await post_alerts(client, key, firing("HighLatency", instance="a"))
    await run_pipeline(settings, sessionmaker)
    await post_alerts(client, key, firing("HighLatency", instance="b"))
    await run_pipeline(settings, sessionmaker)

    [page] = await page_jobs(sessionmaker)
    groups = (await client.get("/api/v1/alert-groups", headers=admin.headers)).json()
    [group] = groups
    assert page.payload == {
        "service_id": page.payload["service_id"],
        "title": "[checkout] HighLatency fires",
        "summary": "HighLatency fires",
        "dedup_key": f"alert-group:{group['id']}",
        "incident_id": None,
        "alert_group_id": group["id"],
    }
    assert page.idempotency_key == f"oncall.page:alert-group:{group['id']}"
    assert [m["decision"] for m in group["members"]] == ["paged", "grouped"]
    assert "already paged" in group["members"][1]["decision_reason"]
    assert group["labels"] == {"alertname": "HighLatency"}

    await post_alerts(client, key, resolved("HighLatency", clock.now(), instance="a"))
    await run_pipeline(settings, sessionmaker)
    one = (await client.get(f"/api/v1/alert-groups/{group['id']}", headers=admin.headers)).json()
    assert one["status"] == "firing"
    await post_alerts(client, key, resolved("HighLatency", clock.now(), instance="b"))
    await run_pipeline(settings, sessionmaker)
    one = (await client.get(f"/api/v1/alert-groups/{group['id']}", headers=admin.headers)).json()
    assert one["status"] == "resolved"
    assert {m["decision"] for m in one["members"]} == {"resolved"}

    # A new firing alert after resolution opens a new group and pages again.
    await post_alerts(client, key, firing("HighLatency", instance="c"))
    await run_pipeline(settings, sessionmaker)
    assert len(await page_jobs(sessionmaker)) == 2


async def test_group_wait_holds_the_page_until_the_window_ends(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(client, admin, service="checkout", group_by=["alertname"], group_wait_seconds=30)
    await post_alerts(client, key, firing("DiskFull", instance="a"))
    await run_pipeline(settings, sessionmaker)
    first = await alert_named(sessionmaker, "DiskFull")
    assert first.decision == "grouped"
    assert "group wait" in first.decision_reason
    assert await page_jobs(sessionmaker) == []

    clock.advance(timedelta(seconds=31))
    await run_pipeline(settings, sessionmaker)
    assert len(await page_jobs(sessionmaker)) == 1
    assert (await alert_named(sessionmaker, "DiskFull")).decision == "paged"


async def test_pages_only_when_corroborated(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(client, admin, service="checkout", min_sources=2, window_seconds=300)
    await post_alerts(client, key, firing("ErrorRate"))
    await run_pipeline(settings, sessionmaker)
    alert = await alert_named(sessionmaker, "ErrorRate")
    assert alert.decision == "awaiting_corroboration"
    assert "2 distinct sources" in alert.decision_reason
    assert await page_jobs(sessionmaker) == []

    # More alerts from the same source do not corroborate; a second source does.
    await post_alerts(client, key, firing("ErrorRate", instance="x"))
    await run_pipeline(settings, sessionmaker)
    assert await page_jobs(sessionmaker) == []
    other = (await make_integration(session, SourceKind.ALERTMANAGER, name="second")).key
    await post_alerts(client, other, firing("ErrorRate", instance="y"))
    await run_pipeline(settings, sessionmaker)
    assert len(await page_jobs(sessionmaker)) == 1
    decided = [a.decision for a in await alerts_named(sessionmaker, "ErrorRate")]
    assert sorted(decided) == ["grouped", "grouped", "paged"]


async def test_a_failing_synthetic_check_corroborates_alone(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(client, admin, service="checkout", min_alerts=3)
    await post_alerts(client, key, firing("CheckoutProbe", source="synthetic"))
    await run_pipeline(settings, sessionmaker)
    alert = await alert_named(sessionmaker, "CheckoutProbe")
    assert alert.decision == "paged"
    assert "synthetic check" in alert.decision_reason


async def test_a_flapping_alert_pages_once(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await put_rule(client, admin, service="checkout", flap_changes=4, flap_window_seconds=600)

    async def flap() -> None:
        await post_alerts(client, key, firing("Flappy"))
        await run_pipeline(settings, sessionmaker)
        clock.advance(timedelta(seconds=20))
        await post_alerts(client, key, resolved("Flappy", clock.now()))
        await run_pipeline(settings, sessionmaker)
        clock.advance(timedelta(seconds=20))

    await flap()
    await flap()
    await post_alerts(client, key, firing("Flappy"))
    await run_pipeline(settings, sessionmaker)
    alert = await alert_named(sessionmaker, "Flappy")
    assert alert.flapping
    assert alert.decision == "flapping"
    assert "paged once" in alert.decision_reason
    pages = len(await page_jobs(sessionmaker))
    clock.advance(timedelta(seconds=20))
    await post_alerts(client, key, resolved("Flappy", clock.now()))
    await run_pipeline(settings, sessionmaker)
    for _ in range(3):
        await flap()
    await post_alerts(client, key, firing("Flappy"))
    await run_pipeline(settings, sessionmaker)
    alert = await alert_named(sessionmaker, "Flappy")
    assert alert.decision == "flapping"
    assert "already paged once" in alert.decision_reason
    assert len(await page_jobs(sessionmaker)) == pages
    keys = [job.idempotency_key for job in await page_jobs(sessionmaker)]
    assert keys.count(f"oncall.page:alert-flapping:{alert.id}") == 1


async def test_an_alert_behind_a_failing_upstream_is_inhibited_then_pages_when_it_clears(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await catalog.create_service(session, SYSTEM, ServiceCreate(slug="payments", name="payments"))
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
    await post_alerts(client, storefront, firing("CheckoutErrors"))
    await run_pipeline(settings, sessionmaker)
    upstream = await alert_named(sessionmaker, "PaymentsDown")
    child = await alert_named(sessionmaker, "CheckoutErrors")
    assert upstream.decision == "paged"
    assert child.decision == "inhibited"
    assert child.decision_reason == (
        f"inhibited by critical alert #{upstream.id} on upstream dependency payments"
    )
    assert len(await page_jobs(sessionmaker)) == 1

    await post_alerts(client, payments, resolved("PaymentsDown", clock.now(), severity="critical"))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "CheckoutErrors")).decision == "paged"
    assert len(await page_jobs(sessionmaker)) == 2


async def test_an_alert_during_an_open_incident_upstream_attaches_to_it(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    admin: Caller,
    key: str,
) -> None:
    await policy.ensure_default_policies(session)
    await catalog.create_service(
        session,
        SYSTEM,
        ServiceCreate(slug="web", name="web", dependencies=[DependencyIn(service="checkout")]),
    )
    declared = await client.post(
        "/api/v1/incidents",
        json={"title": "Checkout down", "severity": "sev1", "services": ["checkout"]},
        headers=admin.headers,
    )
    assert declared.status_code == 201, declared.text
    web = (await make_integration(session, SourceKind.ALERTMANAGER, service="web")).key
    await post_alerts(client, web, firing("WebErrors"))
    await post_alerts(client, key, firing("CheckoutErrors"))
    await run_pipeline(settings, sessionmaker)
    for name, where in (("WebErrors", "upstream checkout"), ("CheckoutErrors", "this service")):
        alert = await alert_named(sessionmaker, name)
        assert alert.decision == "attached"
        assert where in alert.decision_reason
    assert await page_jobs(sessionmaker) == []
    async with sessionmaker() as fresh:
        notes = [
            e
            for e in (await fresh.execute(TimelineEvent.__table__.select())).all()
            if e.kind == "alert.attached"
        ]
    assert len(notes) == 2


async def test_silences_suppress_without_dropping_and_expiry_re_evaluates(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    created = await client.post(
        "/api/v1/silences",
        json={
            "matchers": [
                {"name": "alertname", "op": "=~", "value": "Disk.*"},
                {"name": "env", "op": "!=", "value": "prod"},
            ],
            "ends_at": (clock.now() + timedelta(hours=1)).isoformat(),
            "comment": "disk migration",
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["state"] == "active"
    assert silence["created_by"]

    await post_alerts(
        client, key, firing("DiskFull", env="staging"), firing("DiskSlow", env="prod")
    )
    await run_pipeline(settings, sessionmaker)
    quiet = await alert_named(sessionmaker, "DiskFull")
    assert quiet.decision == "silenced"
    assert f"silence #{silence['id']}" in quiet.decision_reason
    assert "disk migration" in quiet.decision_reason
    assert (await alert_named(sessionmaker, "DiskSlow")).decision == "paged"
    listed = (await client.get("/api/v1/alerts", headers=admin.headers)).json()
    assert {a["decision"] for a in listed} == {"silenced", "paged"}

    expired = await client.post(f"/api/v1/silences/{silence['id']}/expire", headers=admin.headers)
    assert expired.status_code == 200
    assert expired.json()["state"] == "expired"
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "DiskFull")).decision == "paged"
    again = await client.post(f"/api/v1/silences/{silence['id']}/expire", headers=admin.headers)
    assert again.status_code == 409


async def test_a_silence_ending_by_time_re_evaluates_still_firing_alerts(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    await post_alerts(client, key, firing("QueueBacklog"))
    created = await client.post(
        "/api/v1/silences",
        json={
            "matchers": [{"name": "alertname", "op": "=", "value": "QueueBacklog"}],
            "ends_at": (clock.now() + timedelta(minutes=10)).isoformat(),
        },
        headers=admin.headers,
    )
    assert created.status_code == 201
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "QueueBacklog")).decision == "silenced"
    clock.advance(timedelta(minutes=11))
    await post_alerts(client, key, firing("QueueBacklog"))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "QueueBacklog")).decision == "paged"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": [], "ends_at": "2030-01-01T00:00:00Z"}, "matchers"),
        (
            {
                "matchers": [{"name": "a", "op": "=~", "value": "("}],
                "ends_at": "2030-01-01T00:00:00Z",
            },
            "matchers",
        ),
        (
            {
                "matchers": [{"name": "a", "op": "=~", "value": ".*"}],
                "ends_at": "2030-01-01T00:00:00Z",
            },
            "matchers",
        ),
        (
            {
                "matchers": [{"name": "a", "op": "~", "value": "x"}],
                "ends_at": "2030-01-01T00:00:00Z",
            },
            "op",
        ),
        ({"matchers": [{"name": "a", "value": "x"}], "ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
        ({"matchers": [{"name": "a", "value": "x"}]}, "ends_at"),
    ],
)
async def test_a_bad_silence_is_refused_naming_the_field_and_nothing_is_stored(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: Caller,
    clock: FrozenClock,
    body: dict[str, Any],
    field: str,
) -> None:
    response = await client.post("/api/v1/silences", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text
    assert await count(sessionmaker, Silence) == 0


async def test_viewers_read_silences_but_cannot_create_them(
    client: AsyncClient, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    viewer = await make_caller(session, Role.VIEWER)
    body = {"matchers": [{"name": "a", "value": "x"}], "ends_at": "2030-01-01T00:00:00Z"}
    assert (
        await client.post("/api/v1/silences", json=body, headers=viewer.headers)
    ).status_code == 403
    assert (await client.get("/api/v1/silences", headers=viewer.headers)).status_code == 200
    assert await count(sessionmaker, Silence) == 0


async def test_a_recurring_maintenance_window_suppresses_in_its_time_zone(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    # The frozen clock starts on Monday 2026-01-05 09:00 UTC, 10:00 in Paris.
    created = await client.post(
        "/api/v1/maintenance-windows",
        json={
            "service": "checkout",
            "starts_at": "2025-12-01T09:30:00",
            "duration_minutes": 60,
            "timezone": "Europe/Paris",
            "rrule": "FREQ=WEEKLY;BYDAY=MO",
            "comment": "weekly database upgrade",
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    window = created.json()
    assert window["active_until"].startswith("2026-01-05T09:30:00")
    await post_alerts(client, key, firing("DbRestart"))
    await run_pipeline(settings, sessionmaker)
    alert = await alert_named(sessionmaker, "DbRestart")
    assert alert.decision == "maintenance"
    assert "weekly database upgrade" in alert.decision_reason
    assert await page_jobs(sessionmaker) == []

    # When the occurrence ends, the still-firing alert (Prometheus keeps sending it, else it
    # would have expired) is decided again and pages.
    clock.advance(timedelta(minutes=31))
    await post_alerts(client, key, firing("DbRestart"))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "DbRestart")).decision == "paged"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"service": "nope"}, "service"),
        ({"duration_minutes": 0}, "duration_minutes"),
    ],
)
async def test_a_bad_maintenance_window_is_refused_naming_the_field(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: Caller,
    key: str,
    change: dict[str, Any],
    field: str,
) -> None:
    body = {"service": "checkout", "starts_at": "2026-01-05T10:00:00", "duration_minutes": 60}
    response = await client.post(
        "/api/v1/maintenance-windows", json={**body, **change}, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert field in response.text
    assert await count(sessionmaker, MaintenanceWindow) == 0


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"service": "checkout", "team": "x"}, "service"),
        ({}, "service"),
        ({"service": "nope"}, "service"),
        ({"team": "nope"}, "team"),
        ({"service": "checkout", "group_by": ["not a label"]}, "group_by"),
        ({"service": "checkout", "min_alerts": 0}, "min_alerts"),
    ],
)
async def test_a_bad_correlation_rule_is_refused_naming_the_field(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: Caller,
    key: str,
    rule: dict[str, Any],
    field: str,
) -> None:
    response = await client.put("/api/v1/correlation-rules", json=rule, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert field in response.text
    assert await count(sessionmaker, CorrelationRule) == 0


async def test_a_missed_heartbeat_raises_an_alert_and_a_ping_resolves_it(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
    key: str,
) -> None:
    [integration] = (await client.get("/api/v1/integrations", headers=admin.headers)).json()
    patched = await client.patch(
        f"/api/v1/integrations/{integration['id']}",
        json={"heartbeat_minutes": 5},
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    clock.advance(timedelta(minutes=4))
    assert (await client.post(f"/api/v1/heartbeat/{key}")).status_code == 202
    clock.advance(timedelta(minutes=4))
    await run_pipeline(settings, sessionmaker)
    assert await count(sessionmaker, Alert) == 0  # pinged in time

    clock.advance(timedelta(minutes=2))
    await run_pipeline(settings, sessionmaker)
    missed = await alert_named(sessionmaker, "HeartbeatMissed")
    assert missed.status == "firing"
    assert missed.decision == "paged"
    assert "no ping" in missed.summary

    # Alertmanager's Watchdog alert counts as a ping and resolves it.
    await post_alerts(client, key, firing("Watchdog"))
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "HeartbeatMissed")).status == "resolved"
    assert (await alert_named(sessionmaker, "Watchdog")).decision == "heartbeat"

    wrong = await client.post("/api/v1/heartbeat/tocsin_int_wrong")
    assert wrong.status_code == 401
