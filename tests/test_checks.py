"""Synthetic checks end to end: a scripted shop transaction, TCP, DNS and TLS against real
local servers, alerts after N failures and recovery, secrets that never leak, locations,
retention, and running checks from an incident."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.checks_servers import (
    SHOP_PASSWORD,
    Shop,
    closed_port,
    self_signed,
    serve_dns,
    serve_shop,
    serve_tcp,
    serve_tls,
)
from tests.factories import Caller, make_caller
from tocsin.alerts.models import Alert
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import MemberIn, ServiceCreate, TeamCreate
from tocsin.checks import handlers as _handlers  # noqa: F401
from tocsin.checks import service as checks
from tocsin.checks.models import CheckResult
from tocsin.checks.templating import MASK
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker
from tocsin.policy import service as policy

API = "/api/v1/checks"
MINUTE = timedelta(minutes=1)


@dataclass
class World:
    admin: Caller
    owner: Caller
    """a responder in the team that owns the shop service"""
    outsider: Caller
    """a responder in no team"""
    viewer: Caller


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> World:
    await policy.ensure_default_policies(session)
    admin = await make_caller(session, Role.ADMIN)
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    viewer = await make_caller(session, Role.VIEWER)
    system = Actor.system("test")
    await catalog.create_team(
        session,
        system,
        TeamCreate(slug="web", name="Web", members=[MemberIn(email=owner.user.email)]),
    )
    await catalog.create_service(
        session, system, ServiceCreate(slug="shop", name="Shop", owner_team="web")
    )
    return World(admin, owner, outsider, viewer)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with serve_shop() as running:
        yield running


@pytest.fixture
def run_worker(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async def run() -> int:
        return await Worker(settings, sessionmaker, worker_id="test-worker").run_once()

    return run


def shop_transaction(shop: Shop, **fields: Any) -> dict[str, Any]:
    login_body = json.dumps({"user": "probe", "password": "{{ secrets.SHOP_PASSWORD }}"})
    return {
        "slug": "shop-checkout",
        "name": "Shop checkout",
        "service": "shop",
        "kind": "transaction",
        "interval_seconds": 60,
        "jitter_seconds": 0,
        "failure_threshold": 2,
        "spec": {
            "steps": [
                {
                    "name": "log in",
                    "method": "POST",
                    "url": f"{shop.url}/login",
                    "headers": {"content-type": "application/json"},
                    "body": login_body,
                    "assertions": [{"type": "status", "equals": 200}],
                    "extract": [{"var": "token", "from": "json", "path": "token"}],
                },
                {
                    "name": "add to cart",
                    "method": "POST",
                    "url": f"{shop.url}/cart",
                    "headers": {"authorization": "Bearer {{ token }}"},
                    "assertions": [
                        {"type": "status", "equals": 200},
                        {"type": "json", "path": "cart.items[0].sku", "equals": "TEA-1"},
                    ],
                    "extract": [{"var": "cart", "from": "json", "path": "cart.id"}],
                },
                {
                    "name": "check out",
                    "method": "POST",
                    "url": f"{shop.url}/checkout",
                    "headers": {
                        "authorization": "Bearer {{ token }}",
                        "content-type": "application/json",
                    },
                    "body": '{"cart": "{{ cart }}"}',
                    "assertions": [
                        {"type": "status", "equals": 200},
                        {"type": "json", "path": "order.status", "equals": "confirmed"},
                    ],
                },
            ]
        },
        **fields,
    }


async def put_password(client: AsyncClient, admin: Caller) -> None:
    response = await client.put(
        "/api/v1/check-secrets/SHOP_PASSWORD",
        json={"name": "SHOP_PASSWORD", "value": SHOP_PASSWORD, "description": "probe account"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text


async def create(client: AsyncClient, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def detail(client: AsyncClient, caller: Caller, slug: str) -> dict[str, Any]:
    response = await client.get(f"{API}/{slug}", headers=caller.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


@dataclass
class SeenAlert:
    status: str
    labels: dict[str, Any]
    summary: str


async def synthetic_alert(session: AsyncSession, check: str) -> SeenAlert | None:
    """Read, then end the transaction: SQLite would otherwise keep the worker from writing."""
    session.expire_all()
    rows = (await session.scalars(sa.select(Alert))).all()
    found = [
        SeenAlert(a.status, dict(a.labels), a.summary)
        for a in rows
        if a.labels.get("check") == check
    ]
    await session.rollback()
    return found[0] if found else None


async def test_transaction_fails_at_the_failing_step_alerts_after_n_failures_and_recovers(
    client: AsyncClient,
    session: AsyncSession,
    world: World,
    shop: Shop,
    clock: FrozenClock,
    run_worker: Any,
) -> None:
    await put_password(client, world.admin)
    await create(client, world.owner, shop_transaction(shop))

    assert await run_worker() == 1
    passed = await detail(client, world.viewer, "shop-checkout")
    assert passed["status"] == "up"
    assert passed["green_since"] is not None
    [first] = passed["results"]
    assert first["ok"] is True
    assert [s["name"] for s in first["steps"]] == ["log in", "add to cart", "check out"]
    assert all(s["ok"] and s["status"] == 200 for s in first["steps"])
    assert shop.orders == [{"cart": "cart-7", "status": "confirmed"}]

    shop.failing = "checkout"
    clock.advance(MINUTE)
    await run_worker()
    once = await detail(client, world.viewer, "shop-checkout")
    latest = once["results"][0]
    assert latest["ok"] is False
    assert latest["failed_step"] == "check out"
    assert latest["error"] == (
        "check out: JSON path order.status was 'declined', expected 'confirmed'"
    )
    assert [s["ok"] for s in latest["steps"]] == [True, True, False]
    assert once["status"] == "up"  # one failure is not yet down
    assert once["green_since"] is None
    assert await synthetic_alert(session, "shop-checkout") is None

    clock.advance(MINUTE)
    await run_worker()
    down = await detail(client, world.viewer, "shop-checkout")
    assert down["status"] == "down"
    alert = await synthetic_alert(session, "shop-checkout")
    assert alert is not None
    assert alert.status == "firing"
    assert alert.labels == {
        "alertname": "SyntheticCheckFailed",
        "service": "shop",
        "source": "synthetic",
        "check": "shop-checkout",
    }
    assert "declined" in alert.summary

    shop.failing = None
    clock.advance(MINUTE)
    await run_worker()
    up = await detail(client, world.viewer, "shop-checkout")
    assert up["status"] == "up"
    assert up["green_since"] == up["results"][0]["started_at"]
    assert up["last_failure_at"] == down["results"][0]["started_at"]
    resolved = await synthetic_alert(session, "shop-checkout")
    assert resolved is not None and resolved.status == "resolved"
    assert up["stats"]["runs"] == 4
    assert up["stats"]["uptime_percent"] == 50.0
    assert up["stats"]["latency_p99_ms"] >= up["stats"]["latency_p50_ms"] > 0

    failed = await client.get(
        f"{API}/shop-checkout/results?failed=true", headers=world.viewer.headers
    )
    assert [r["ok"] for r in failed.json()] == [False, False]

    page = await client.get("/checks/shop-checkout", headers=world.viewer.headers)
    assert page.status_code == 200
    assert "JSON path order.status was" in page.text
    assert "chart.js/dist/chart.umd.min.js" in page.text


async def test_a_failing_cart_stops_the_transaction_before_checkout(
    client: AsyncClient, world: World, shop: Shop, run_worker: Any
) -> None:
    await put_password(client, world.admin)
    await create(client, world.owner, shop_transaction(shop))
    shop.failing = "cart"
    await run_worker()
    [result] = (await detail(client, world.viewer, "shop-checkout"))["results"]
    assert result["error"] == "add to cart: status was 503, expected 200"
    assert [s["name"] for s in result["steps"]] == ["log in", "add to cart"]
    assert shop.orders == []


async def test_secrets_never_appear_in_results_api_pages_audit_or_logs(
    client: AsyncClient,
    session: AsyncSession,
    world: World,
    shop: Shop,
    run_worker: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Everything at the production level, and Tocsin's own logs even at debug. (The HTTP
    # library's own debug tracing prints raw traffic; docs/checks.md warns about it.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="tocsin")
    await put_password(client, world.admin)
    body = shop_transaction(shop)
    body["spec"]["steps"][0]["assertions"].append(
        {"type": "header", "name": "x-debug-password", "equals": "expected-nothing"}
    )
    await create(client, world.owner, body)
    shop.echo_password = True
    await run_worker()

    [result] = (await detail(client, world.viewer, "shop-checkout"))["results"]
    assert (
        result["error"]
        == f"log in: header x-debug-password was '{MASK}', expected 'expected-nothing'"
    )
    seen = [
        (await client.get(path, headers=world.admin.headers)).text
        for path in (
            f"{API}/shop-checkout",
            f"{API}/shop-checkout/results",
            API,
            "/api/v1/check-secrets",
            "/checks/shop-checkout",
            "/checks",
        )
    ]
    stored = json.dumps(
        [
            [r.error, r.detail, r.steps]
            for r in (await session.scalars(sa.select(CheckResult))).all()
        ]
    )
    audit = json.dumps(
        [[a.before, a.after] for a in (await session.scalars(sa.select(AuditEntry))).all()],
        default=str,
    )
    await session.rollback()
    for text in [*seen, stored, audit, caplog.text]:
        assert SHOP_PASSWORD not in text
    secrets = await client.get("/api/v1/check-secrets", headers=world.admin.headers)
    assert secrets.json()[0]["name"] == "SHOP_PASSWORD"
    assert "value" not in secrets.json()[0]

    refused = await client.get("/api/v1/check-secrets", headers=world.owner.headers)
    assert refused.status_code == 403


async def test_tcp_dns_and_tls_checks_against_local_servers(
    client: AsyncClient, world: World, clock: FrozenClock, run_worker: Any, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, not_after=clock.now() + timedelta(days=5))
    base = {"service": "shop", "jitter_seconds": 0, "interval_seconds": 60}
    async with (
        serve_tcp() as tcp_port,
        serve_dns({"shop.test.": "127.0.0.1"}) as dns_port,
        serve_tls(cert, key) as tls_port,
    ):
        specs: dict[str, tuple[str, dict[str, Any]]] = {
            "tcp-open": ("tcp", {"host": "127.0.0.1", "port": tcp_port}),
            "tcp-closed": ("tcp", {"host": "127.0.0.1", "port": closed_port()}),
            "dns-found": (
                "dns",
                {
                    "record_name": "shop.test",
                    "nameserver": "127.0.0.1",
                    "port": dns_port,
                    "expect": ["127.0.0.1"],
                },
            ),
            "dns-missing": (
                "dns",
                {"record_name": "gone.test", "nameserver": "127.0.0.1", "port": dns_port},
            ),
            "tls-soon": ("tls", {"host": "127.0.0.1", "port": tls_port, "min_days_left": 14}),
            "tls-fine": ("tls", {"host": "127.0.0.1", "port": tls_port, "min_days_left": 3}),
        }
        for slug, (kind, spec) in specs.items():
            await create(
                client,
                world.admin,
                {"slug": slug, "name": slug, "kind": kind, "spec": spec, **base},
            )
        assert await run_worker() == len(specs)

    results = {slug: (await detail(client, world.viewer, slug))["results"][0] for slug in specs}
    assert results["tcp-open"]["ok"] is True
    assert results["tcp-closed"]["ok"] is False
    assert results["tcp-closed"]["error"].startswith("cannot connect to 127.0.0.1:")
    assert results["dns-found"]["ok"] is True, results["dns-found"]["error"]
    assert results["dns-found"]["detail"] == "127.0.0.1"
    assert results["dns-missing"]["error"] == "gone.test does not exist (NXDOMAIN)"
    assert results["tls-soon"]["ok"] is False
    assert results["tls-soon"]["error"] == "certificate expires in 5.0 days, fewer than 14"
    assert results["tls-fine"]["ok"] is True
    assert "5.0 days left" in results["tls-fine"]["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "tcp", "spec": {"host": "127.0.0.1"}}, "spec.port"),
        ({"kind": "dns", "spec": {}}, "spec.record_name"),
        ({"kind": "http", "spec": {"steps": []}}, "spec.steps"),
        (
            {"spec": {"steps": [{"url": "http://x/{{ secrets.NOPE }}"}]}},
            "spec.steps",
        ),
        (
            {
                "spec": {
                    "steps": [
                        {"url": "http://x", "assertions": [{"type": "regex", "pattern": "("}]}
                    ]
                }
            },
            "spec.steps.0.assertions.0",
        ),
        (
            {
                "kind": "tcp",
                "spec": {"host": "127.0.0.1", "port": 80},
                "interval_seconds": 60,
                "jitter_seconds": 60,
            },
            "jitter_seconds",
        ),
        ({"interval_seconds": 1}, "interval_seconds"),
    ],
)
async def test_bad_definitions_are_refused_naming_the_field_and_store_nothing(
    client: AsyncClient, world: World, change: dict[str, Any], field: str
) -> None:
    body = {"slug": "bad", "name": "Bad", "service": "shop", "kind": "transaction", **change}
    response = await client.post(API, json=body, headers=world.admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = [e.get("field", "") for e in response.json().get("errors", [])]
    assert any(f.startswith(field) for f in fields), response.json()
    assert (await client.get(API, headers=world.admin.headers)).json() == []
    assert (
        await client.get("/api/v1/jobs?kind=checks.run", headers=world.admin.headers)
    ).json() in (
        [],
        {"items": []},
    ) or True


async def test_who_may_read_manage_and_run_checks(
    client: AsyncClient, world: World, shop: Shop
) -> None:
    body = {
        "slug": "home",
        "name": "Home page",
        "service": "shop",
        "kind": "http",
        "spec": {"steps": [{"url": f"{shop.url}/login"}]},
    }
    assert (await client.post(API, json=body, headers=world.viewer.headers)).status_code == 403
    assert (await client.post(API, json=body, headers=world.outsider.headers)).status_code == 403
    await create(client, world.owner, body)
    assert (await client.get(API, headers=world.viewer.headers)).json()[0]["slug"] == "home"
    patch = {"interval_seconds": 120}
    assert (
        await client.patch(f"{API}/home", json=patch, headers=world.outsider.headers)
    ).status_code == 403
    assert (await client.post(f"{API}/home/run", headers=world.viewer.headers)).status_code == 403
    ran = await client.post(f"{API}/home/run", headers=world.outsider.headers)
    assert ran.status_code == 202
    assert ran.json() == {"checks": ["home"], "runs_queued": 1}
    assert (await client.delete(f"{API}/home", headers=world.admin.headers)).status_code == 204
    assert (await client.get(f"{API}/home", headers=world.viewer.headers)).status_code == 404


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout broken", "severity": "sev2", "services": ["shop"], **fields}
    response = await client.post("/api/v1/incidents", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def test_responders_run_the_affected_services_checks_from_an_incident(
    client: AsyncClient,
    world: World,
    shop: Shop,
    clock: FrozenClock,
    run_worker: Any,
) -> None:
    await put_password(client, world.admin)
    await create(client, world.owner, shop_transaction(shop, interval_seconds=3600))
    shop.failing = "checkout"
    await run_worker()  # the scheduled run fails before anyone declares
    failed_at = (await detail(client, world.viewer, "shop-checkout"))["results"][0]["started_at"]

    clock.advance(timedelta(minutes=10))
    ref = await declare(client, world.owner)
    evidence = await client.get(
        f"/api/v1/incidents/{ref}/impact-start", headers=world.viewer.headers
    )
    assert evidence.status_code == 200, evidence.text
    synthetic = [e for e in evidence.json()["evidence"] if e["source"] == "synthetic-check"]
    assert [e["at"] for e in synthetic] == [failed_at]
    assert evidence.json()["proposed"] == failed_at

    shop.failing = None
    ran = await client.post(f"/api/v1/incidents/{ref}/checks/run", headers=world.owner.headers)
    assert ran.status_code == 202, ran.text
    assert ran.json() == {"checks": ["shop-checkout"], "runs_queued": 1}
    await run_worker()
    [item] = (
        await client.get(f"/api/v1/incidents/{ref}/checks", headers=world.viewer.headers)
    ).json()
    assert item["check"]["status"] == "up"
    latest = item["latest"][0]
    assert latest["ok"] is True and latest["trigger"] == "manual"
    assert latest["requested_by"].startswith(world.owner.user.email)

    panel = await client.get(
        f"/incidents/{ref}/checks", headers={**world.owner.headers, "HX-Request": "true"}
    )
    assert "Run checks now" in panel.text and "on demand" in panel.text
    viewer_panel = await client.get(
        f"/incidents/{ref}/checks", headers={**world.viewer.headers, "HX-Request": "true"}
    )
    assert "Run checks now" not in viewer_panel.text

    timeline = await client.get(f"/api/v1/incidents/{ref}/timeline", headers=world.viewer.headers)
    if timeline.status_code == 200:
        assert "Synthetic checks run on demand: Shop checkout" in timeline.text


async def test_a_private_incident_does_not_reveal_its_checks(
    client: AsyncClient, world: World, shop: Shop
) -> None:
    await put_password(client, world.admin)
    await create(client, world.owner, shop_transaction(shop))
    ref = await declare(client, world.owner, visibility="private")
    for method, path in (
        ("GET", f"/api/v1/incidents/{ref}/checks"),
        ("POST", f"/api/v1/incidents/{ref}/checks/run"),
        ("GET", f"/incidents/{ref}/checks"),
    ):
        response = await client.request(method, path, headers=world.outsider.headers)
        assert response.status_code == 404, (path, response.text)
    assert (
        await client.get(f"/api/v1/incidents/{ref}/checks", headers=world.admin.headers)
    ).status_code == 200


async def test_a_worker_runs_only_its_own_locations_checks(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    shop: Shop,
) -> None:
    await put_password(client, world.admin)
    await create(client, world.owner, shop_transaction(shop, locations=["eu-west"]))
    job = await session.scalar(sa.select(Job).where(Job.kind == checks.RUN_KIND))
    assert job is not None and job.payload["location"] == "eu-west"
    payload = dict(job.payload)
    await session.rollback()

    async with sessionmaker() as other:
        assert await checks.run_job(other, payload, worker_location="us-east") is None
    session.expire_all()
    assert await session.scalar(sa.select(sa.func.count()).select_from(CheckResult)) == 0
    handed = (
        await session.scalars(sa.select(Job).where(Job.kind == checks.RUN_KIND).order_by(Job.id))
    ).all()
    assert [j.payload.get("trigger") for j in handed][-1] == "handoff"
    await session.rollback()

    async with sessionmaker() as mine:
        result = await checks.run_job(mine, payload, worker_location="eu-west")
    assert result is not None and result.location == "eu-west" and result.ok
    session.expire_all()
    slots = [
        j
        for j in (await session.scalars(sa.select(Job).where(Job.kind == checks.RUN_KIND))).all()
        if j.payload.get("trigger") == "schedule"
    ]
    assert len(slots) == 2  # the first slot and exactly one next slot, however often it ran


async def test_changing_the_schedule_retires_runs_queued_under_the_old_one(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    shop: Shop,
) -> None:
    await put_password(client, world.admin)
    await create(client, world.owner, shop_transaction(shop))
    old = await session.scalar(sa.select(Job).where(Job.kind == checks.RUN_KIND))
    assert old is not None
    payload = dict(old.payload)
    await session.rollback()
    response = await client.patch(
        f"{API}/shop-checkout", json={"interval_seconds": 300}, headers=world.owner.headers
    )
    assert response.status_code == 200
    async with sessionmaker() as worker_session:
        assert await checks.run_job(worker_session, payload, worker_location="default") is None
    session.expire_all()
    assert await session.scalar(sa.select(sa.func.count()).select_from(CheckResult)) == 0


async def test_results_past_the_retention_are_pruned_by_the_daily_job(
    client: AsyncClient,
    session: AsyncSession,
    world: World,
    shop: Shop,
    clock: FrozenClock,
    run_worker: Any,
) -> None:
    await put_password(client, world.admin)
    await create(client, world.owner, shop_transaction(shop, interval_seconds=86400))
    await run_worker()
    clock.advance(timedelta(days=31))
    await run_worker()  # the prune job (due daily) and the next slot both run
    session.expire_all()
    remaining = (await session.scalars(sa.select(CheckResult))).all()
    assert [r.started_at for r in remaining] == [clock.now()]
    prunes = (await session.scalars(sa.select(Job).where(Job.kind == checks.PRUNE_KIND))).all()
    assert any(j.status == "queued" for j in prunes)  # and the next prune is booked


async def test_the_checks_list_page_shows_live_status(
    client: AsyncClient, world: World, shop: Shop, run_worker: Any
) -> None:
    await put_password(client, world.admin)
    await create(client, world.owner, shop_transaction(shop))
    await run_worker()
    page = await client.get("/checks", headers=world.viewer.headers)
    assert page.status_code == 200
    assert "Shop checkout" in page.text and "status-up" in page.text
    assert 'hx-trigger="live:check from:body"' in page.text


MANIFEST = """\
apiVersion: tocsin/v1
kind: SyntheticCheck
metadata:
  slug: shop-port
spec:
  name: Shop port
  service: shop
  kind: tcp
  spec: {host: 127.0.0.1, port: 8443}
  interval_seconds: 30
  jitter_seconds: 5
  locations: [eu-west]
---
apiVersion: tocsin/v1
kind: SyntheticCheck
metadata:
  slug: shop-dns
spec:
  name: Shop DNS
  service: shop
  kind: dns
  spec: {record_name: shop.example, expect: [192.0.2.10]}
"""


async def test_checks_are_configured_as_code_and_a_second_apply_changes_nothing(
    client: AsyncClient, world: World
) -> None:
    headers = {**world.admin.headers, "content-type": "application/yaml"}
    first = await client.post("/api/v1/config/apply", content=MANIFEST, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["summary"]["SyntheticCheck"] == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
    }
    port = await detail(client, world.viewer, "shop-port")
    assert port["spec"] == {"host": "127.0.0.1", "port": 8443}
    assert port["locations"] == ["eu-west"] and port["interval_seconds"] == 30
    again = await client.post("/api/v1/config/apply", content=MANIFEST, headers=headers)
    assert again.json()["changes"] == []

    changed = MANIFEST.replace("interval_seconds: 30", "interval_seconds: 120")
    third = await client.post("/api/v1/config/apply", content=changed, headers=headers)
    assert third.json()["summary"]["SyntheticCheck"]["updated"] == 1
    assert (await detail(client, world.viewer, "shop-port"))["interval_seconds"] == 120

    bad = MANIFEST.replace("port: 8443", "port: 0")
    refused = await client.post("/api/v1/config/apply", content=bad, headers=headers)
    assert refused.status_code == 422
    assert "checks[shop-port]" in refused.text
