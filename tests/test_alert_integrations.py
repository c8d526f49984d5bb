"""Managing integrations (API, pages, command line) and reading alerts back."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.cli import tocsin
from tests.factories import browser_login, make_caller, make_user
from tests.test_alert_ingest_helpers import (
    SYSTEM,
    capture,
    make_integration,
    make_service,
    stored_alerts,
)
from tocsin.alerts.normalized import SourceKind
from tocsin.alerts.ratelimit import RateLimiter, full, take
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import MemberIn, TeamCreate
from tocsin.clock import FrozenClock

# --- the token bucket ------------------------------------------------------------------------


@given(
    per_minute=st.integers(1, 10_000),
    gaps=st.lists(st.floats(0, 120, allow_nan=False), max_size=60),
)
def test_a_bucket_never_allows_more_than_its_size_plus_what_refilled(
    per_minute: int, gaps: list[float]
) -> None:
    bucket, now, allowed = full(per_minute, 0.0), 0.0, 0
    for gap in gaps:
        now += gap
        decision = take(bucket, per_minute=per_minute, now=now)
        bucket = decision.bucket
        allowed += decision.allowed
        assert decision.allowed == (decision.retry_after == 0)
    assert allowed <= per_minute + now * per_minute / 60.0 + 1e-6


@given(per_minute=st.integers(1, 10_000), start=st.floats(0, 1e9, allow_nan=False))
def test_a_refused_request_is_allowed_after_its_retry_after(per_minute: int, start: float) -> None:
    bucket = full(per_minute, start)
    decision = take(bucket, per_minute=per_minute, now=start)
    while decision.allowed:
        decision = take(decision.bucket, per_minute=per_minute, now=start)
    later = take(decision.bucket, per_minute=per_minute, now=start + decision.retry_after)
    assert later.allowed


def test_time_going_backwards_refills_nothing_and_a_new_limit_starts_full() -> None:
    limiter = RateLimiter()
    assert limiter.check(1, per_minute=1, now=100.0).allowed
    assert not limiter.check(1, per_minute=1, now=50.0).allowed
    assert limiter.check(1, per_minute=5, now=50.0).allowed, "a raised limit applies at once"
    assert limiter.check(2, per_minute=1, now=50.0).allowed, "buckets are per integration"


# --- the API ---------------------------------------------------------------------------------


async def test_an_admin_creates_an_integration_and_sees_its_key_only_once(
    client: AsyncClient, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_service(session)
    admin = await make_caller(session, Role.ADMIN)
    response = await client.post(
        "/api/v1/integrations",
        json={"service": "checkout", "kind": "alertmanager", "rate_limit_per_minute": 120},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    key = created["key"]
    assert created["url"].endswith(f"/api/v1/ingest/{key}/alertmanager")
    assert created["name"] == "alertmanager for checkout"
    assert key.startswith(created["key_prefix"])
    listed = (await client.get("/api/v1/integrations", headers=admin.headers)).json()
    assert [i["id"] for i in listed] == [created["id"]]
    assert "key" not in listed[0]
    async with sessionmaker() as fresh:
        entry = await fresh.scalar(
            sa.select(AuditEntry).where(AuditEntry.object_type == "integration")
        )
    assert entry is not None and entry.after is not None
    assert key not in str(entry.after), "the key never reaches the audit trail"
    assert entry.after["token_hash"] == "[redacted]"


async def test_responders_manage_integrations_of_their_own_teams_services_only(
    client: AsyncClient, session: AsyncSession
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    await catalog.create_team(
        session,
        SYSTEM,
        TeamCreate(
            slug="payments", name="Payments", members=[MemberIn(email=responder.user.email)]
        ),
    )
    await make_service(session, "checkout", owner_team="payments")
    await make_service(session, "search")
    body = {"service": "checkout", "kind": "grafana"}
    own = await client.post("/api/v1/integrations", json=body, headers=responder.headers)
    assert own.status_code == 201, own.text
    other = await client.post(
        "/api/v1/integrations", json={**body, "service": "search"}, headers=responder.headers
    )
    assert other.status_code == 403
    viewer = await make_caller(session, Role.VIEWER)
    refused = await client.post("/api/v1/integrations", json=body, headers=viewer.headers)
    assert refused.status_code == 403


async def test_bad_integration_bodies_name_the_field(
    client: AsyncClient, session: AsyncSession
) -> None:
    await make_service(session)
    admin = await make_caller(session, Role.ADMIN)
    cases = [
        ({"service": "checkout", "kind": "nagios"}, "kind"),
        ({"service": "nowhere", "kind": "generic"}, None),
        ({"service": "checkout", "kind": "grafana", "mapping": {"summary": "/x"}}, "mapping"),
        ({"service": "checkout", "kind": "generic", "mapping": {"summary": "x"}}, "mapping"),
        ({"service": "checkout", "kind": "generic", "rate_limit_per_minute": 0}, None),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/integrations", json=body, headers=admin.headers)
        assert response.status_code in {404, 422}, (body, response.text)
        if field:
            assert any(e["field"].startswith(field) for e in response.json()["errors"])
    assert (await client.get("/api/v1/integrations", headers=admin.headers)).json() == []


async def test_rotating_a_key_stops_the_old_one_at_once(
    client: AsyncClient, session: AsyncSession
) -> None:
    await make_service(session)
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    admin = await make_caller(session, Role.ADMIN)
    rotated = await client.post(
        f"/api/v1/integrations/{integration.id}/rotate", headers=admin.headers
    )
    assert rotated.status_code == 200
    new_key = rotated.json()["key"]
    assert new_key != integration.key
    body = capture("alertmanager-0.25-webhook-v4-pd-test.json")[0]
    old = await client.post(f"/api/v1/ingest/{integration.key}/alertmanager", json=body)
    assert old.status_code == 401
    new = await client.post(f"/api/v1/ingest/{new_key}/alertmanager", json=body)
    assert new.status_code == 200


async def test_disabling_and_enabling_through_the_api(
    client: AsyncClient, session: AsyncSession
) -> None:
    await make_service(session)
    integration = await make_integration(session, SourceKind.GENERIC)
    admin = await make_caller(session, Role.ADMIN)
    url = f"/api/v1/integrations/{integration.id}"
    off = await client.patch(url, json={"enabled": False}, headers=admin.headers)
    assert off.status_code == 200 and off.json()["enabled"] is False
    body = {"title": "x"}
    ingest = f"/api/v1/ingest/{integration.key}/generic"
    assert (await client.post(ingest, json=body)).status_code == 403
    await client.patch(url, json={"enabled": True}, headers=admin.headers)
    assert (await client.post(ingest, json=body)).status_code == 200
    null = await client.patch(url, json={"enabled": None}, headers=admin.headers)
    assert null.status_code == 422


async def test_an_integration_shows_when_it_last_received_to_the_minute(
    client: AsyncClient, session: AsyncSession, clock: FrozenClock
) -> None:
    await make_service(session)
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    admin = await make_caller(session, Role.ADMIN)
    body = capture("alertmanager-0.25-webhook-v4-pd-test.json")[0]

    async def last_received() -> datetime | None:
        listed = await client.get("/api/v1/integrations", headers=admin.headers)
        (found,) = [i for i in listed.json() if i["id"] == integration.id]
        value = found["last_received_at"]
        return None if value is None else datetime.fromisoformat(value)

    assert await last_received() is None
    first = clock.now()
    ingest = f"/api/v1/ingest/{integration.key}/alertmanager"
    assert (await client.post(ingest, json=body)).status_code == 200
    assert await last_received() == first
    clock.advance(timedelta(seconds=40))
    assert (await client.post(ingest, json=body)).status_code == 200
    assert await last_received() == first, "written at most once a minute"
    clock.advance(timedelta(seconds=40))
    assert (await client.post(ingest, json=body)).status_code == 200
    assert await last_received() == clock.now()


async def test_the_alert_list_filters_by_status_service_and_integration(
    client: AsyncClient, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_service(session, "checkout")
    await make_service(session, "search")
    checkout = await make_integration(session, SourceKind.ALERTMANAGER, "checkout")
    search = await make_integration(session, SourceKind.GENERIC, "search")
    resolved = capture("alertmanager-0.25-webhook-v4-pd-test.json")[1]
    await client.post(f"/api/v1/ingest/{checkout.key}/alertmanager", json=resolved)
    await client.post(f"/api/v1/ingest/{search.key}/generic", json={"title": "slow queries"})
    viewer = await make_caller(session, Role.VIEWER)

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/v1/alerts{query}", headers=viewer.headers)
        assert response.status_code == 200, response.text
        return [alert["summary"] for alert in response.json()]

    assert sorted(await ids("")) == ["checkout down", "slow queries"]
    assert await ids("?status=resolved") == ["checkout down"]
    assert await ids("?status=firing") == ["slow queries"]
    assert await ids("?service=search") == ["slow queries"]
    assert await ids(f"?integration={checkout.id}") == ["checkout down"]
    assert (
        await client.get("/api/v1/alerts?service=nope", headers=viewer.headers)
    ).status_code == 404

    [alert, _] = await stored_alerts(sessionmaker)
    history = await client.get(f"/api/v1/alerts/{alert.id}/events", headers=viewer.headers)
    assert [e["kind"] for e in history.json()] == ["created"]
    one = await client.get(f"/api/v1/alerts/{alert.id}", headers=viewer.headers)
    assert one.json()["fingerprint"] == resolved["alerts"][0]["fingerprint"]

    stakeholder = await make_caller(session, Role.STAKEHOLDER)
    hidden = await client.get("/api/v1/alerts", headers=stakeholder.headers)
    assert hidden.status_code == 403, "alerts are technical detail"


# --- pages -----------------------------------------------------------------------------------


async def test_pages_list_alerts_and_create_rotate_and_disable_integrations(
    client: AsyncClient, session: AsyncSession
) -> None:
    await make_service(session)
    admin = await make_user(session, Role.ADMIN)
    csrf = await browser_login(client, admin.email)
    created = await client.post(
        "/integrations",
        data={"csrf_token": csrf, "service": "checkout", "kind": "generic", "name": "cron"},
    )
    assert created.status_code == 200
    assert "/api/v1/ingest/tocsin_int_" in created.text
    assert "not shown again" in created.text
    page = await client.get("/integrations")
    assert "cron" in page.text and "tocsin_int_" in page.text
    [integration] = (await client.get("/api/v1/integrations")).json()
    assert f"/api/v1/ingest/{integration['key_prefix']}" not in page.text, "no key on the list"

    rotated = await client.post(
        f"/integrations/{integration['id']}/rotate", data={"csrf_token": csrf}
    )
    assert "not shown again" in rotated.text
    disabled = await client.post(
        f"/integrations/{integration['id']}/enabled",
        data={"csrf_token": csrf, "enabled": "false"},
        follow_redirects=False,
    )
    assert disabled.status_code == 303
    assert (await client.get("/api/v1/integrations")).json()[0]["enabled"] is False

    invalid = await client.post(
        "/integrations", data={"csrf_token": csrf, "service": "checkout", "kind": "nagios"}
    )
    assert invalid.status_code == 422 and "kind" in invalid.text

    alerts_page = await client.get("/alerts?status=firing")
    assert alerts_page.status_code == 200 and "No alerts match" in alerts_page.text


# --- the command line ------------------------------------------------------------------------


async def test_integration_create_prints_the_ingestion_url(
    database_url: str, client: AsyncClient, session: AsyncSession
) -> None:
    await make_service(session)
    run = await tocsin(
        "integration",
        "create",
        "--kind",
        "alertmanager",
        "--service",
        "checkout",
        database_url=database_url,
    )
    assert run.code == 0, run.err
    url = run.out.strip()
    assert url.startswith("http://127.0.0.1:8000/api/v1/ingest/tocsin_int_")
    assert "/api/v2/alerts" in run.err, "the Prometheus endpoint is named too"
    path = url.removeprefix("http://127.0.0.1:8000")
    body = capture("alertmanager-0.25-webhook-v4-pd-test.json")[0]
    assert (await client.post(path, json=body)).status_code == 200
    listed = await tocsin("integration", "list", database_url=database_url)
    assert "alertmanager\tcheckout" in listed.out
    missing = await tocsin(
        "integration",
        "create",
        "--kind",
        "grafana",
        "--service",
        "nowhere",
        database_url=database_url,
    )
    assert missing.code == 1 and "nowhere" in missing.err
