"""The alert fatigue report over a week of realistic alert history: alerts posted to the real
ingestion endpoint as Prometheus posts them, decided by the real pipeline, paged by on-call,
acknowledged (or not) through the on-call API; the report, its CSV and its page read back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, browser_login, make_caller, make_user
from tests.test_alert_ingest_helpers import make_integration
from tests.test_alert_pipeline_helpers import PIPELINE_KINDS, firing, post_alerts, resolved
from tocsin.alerts.normalized import SourceKind
from tocsin.auth.permissions import Permission, Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.jobs.registry import HandlerSpec, Registry
from tocsin.jobs.worker import Worker
from tocsin.oncall import handlers as oncall_handlers
from tocsin.policy import service as policy

API = "/api/v1/alerts/fatigue"
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
WEEK = {"from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"}
SECRET_TITLE = "Ledger tampering suspected"


class History:
    """Drives the clock forward (never back) and runs the pipeline and paging after each post."""

    def __init__(
        self,
        client: AsyncClient,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: FrozenClock,
        responder: Caller,
        keys: dict[str, str],
    ) -> None:
        self.client, self.clock, self.responder, self.keys = client, clock, responder, keys
        registry = Registry()
        for kind, handler in {**PIPELINE_KINDS, "oncall.page": oncall_handlers.page}.items():
            registry.register(HandlerSpec(kind, handler))
        self.worker = Worker(settings, sessionmaker, registry=registry, worker_id="fatigue")

    def at(self, moment: datetime) -> None:
        assert moment >= self.clock.now()
        self.clock.set(moment)

    async def settle(self) -> None:
        for _ in range(20):
            if not await self.worker.run_once():
                return

    async def fire(self, service: str, name: str, **labels: str) -> None:
        await post_alerts(self.client, self.keys[service], firing(name, **labels))
        await self.settle()

    async def resolve(self, service: str, name: str, **labels: str) -> None:
        await post_alerts(
            self.client, self.keys[service], resolved(name, self.clock.now(), **labels)
        )
        await self.settle()

    async def acknowledge_latest(self, service: str) -> None:
        listed = await self.client.get(
            "/api/v1/oncall/pages", params={"status": "open"}, headers=self.responder.headers
        )
        page = next(p for p in listed.json() if p["service"] == service)
        acked = await self.client.post(
            f"/api/v1/oncall/pages/{page['id']}/acknowledge", headers=self.responder.headers
        )
        assert acked.status_code == 200, acked.text


@pytest.fixture
async def week(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> Caller:
    """One week of alert history; returns a viewer, who may read the report."""
    clock.set(MONDAY + timedelta(hours=8))
    await policy.ensure_default_policies(session)
    admin = await make_caller(session, Role.ADMIN)
    responder = await make_caller(session, Role.RESPONDER)
    await session.commit()
    h = admin.headers

    made = await client.post(
        "/api/v1/teams", json={"slug": "payments", "name": "Payments"}, headers=h
    )
    assert made.status_code == 201, made.text
    for slug, team in (
        ("checkout", "payments"),
        ("search", None),
        ("batch", None),
        ("ledger", None),
        ("edge", None),
    ):
        body: dict[str, Any] = {"slug": slug, "name": slug.title(), "owner_team": team}
        made = await client.post("/api/v1/services", json=body, headers=h)
        assert made.status_code == 201, made.text
    schedule = {
        "slug": "payments-primary",
        "name": "Payments primary",
        "team": "payments",
        "layers": [
            {
                "time_zone": "America/New_York",
                "start_date": "2026-01-01",
                "members": [responder.user.id],
            }
        ],
    }
    made = await client.post("/api/v1/oncall/schedules", json=schedule, headers=h)
    assert made.status_code == 201, made.text
    rule = {"service": "batch", "group_by": ["alertname", "instance"]}
    assert (await client.put("/api/v1/correlation-rules", json=rule, headers=h)).status_code == 200
    keys = {}
    for slug in ("checkout", "search", "batch", "ledger", "edge"):
        keys[slug] = (await make_integration(session, SourceKind.ALERTMANAGER, service=slug)).key
    await session.commit()

    history = History(client, settings, sessionmaker, clock, responder, keys)

    # Monday 10:00: four batch nodes go down within a minute, each paging on its own.
    history.at(MONDAY + timedelta(hours=10))
    for n in range(4):
        await history.fire("batch", "NodeDown", instance=f"node-{n}")
        clock.advance(timedelta(seconds=15))
    history.at(MONDAY + timedelta(hours=10, minutes=3))
    await history.acknowledge_latest("batch")
    history.at(MONDAY + timedelta(hours=10, minutes=30))
    for n in range(4):
        await history.resolve("batch", "NodeDown", instance=f"node-{n}")

    # Monday 16:00: a private incident on the ledger; its alert attaches instead of paging.
    history.at(MONDAY + timedelta(hours=16))
    declared = await client.post(
        "/api/v1/incidents",
        json={
            "title": SECRET_TITLE,
            "severity": "sev2",
            "services": ["ledger"],
            "visibility": "private",
        },
        headers=responder.headers,
    )
    assert declared.status_code == 201, declared.text
    await history.fire("ledger", "LedgerDrift")
    history.at(MONDAY + timedelta(hours=16, minutes=20))
    await history.resolve("ledger", "LedgerDrift")

    # Monday 20:00: an edge alert that keeps coming and going every two minutes.
    history.at(MONDAY + timedelta(hours=20))
    for _ in range(5):
        await history.fire("edge", "LinkFlap")
        clock.advance(timedelta(minutes=2))
        await history.resolve("edge", "LinkFlap")
        clock.advance(timedelta(minutes=2))

    for day in range(1, 7):
        # every night at 03:00 a CPU spike pages for two minutes
        history.at(MONDAY + timedelta(days=day, hours=3))
        await history.fire("search", "CpuSpike")
        history.at(MONDAY + timedelta(days=day, hours=3, minutes=2))
        await history.resolve("search", "CpuSpike")
        if day > 3:
            continue
        # 14:00 UTC is 09:00 in New York, where the payments team sits
        history.at(MONDAY + timedelta(days=day, hours=14))
        await history.fire("checkout", "HighLatency")
        history.at(MONDAY + timedelta(days=day, hours=14, minutes=4))
        await history.acknowledge_latest("checkout")
        history.at(MONDAY + timedelta(days=day, hours=14, minutes=30))
        await history.resolve("checkout", "HighLatency")

    history.at(MONDAY + timedelta(days=7, hours=9))
    return await make_caller(session, Role.VIEWER)


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


def kinds(row: dict[str, Any]) -> set[str]:
    return {s["kind"] for s in row["suggestions"]}


async def test_the_report_tells_noise_from_signal_per_rule_and_service(
    client: AsyncClient, week: Caller
) -> None:
    response = await client.get(API, params=WEEK, headers=week.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    rules = by_name(report["rules"])

    latency = rules["HighLatency"]
    assert (latency["fired"], latency["paged"], latency["acknowledged"]) == (3, 3, 3)
    assert latency["median_ack_seconds"] == 240
    assert latency["resolved_without_action"] == 0
    assert latency["off_hours_pages"] == 0  # 09:00 in the team's New York
    assert latency["suggestions"] == []
    assert latency["services"] == ["checkout"]

    spike = rules["CpuSpike"]
    assert (spike["fired"], spike["paged"], spike["acknowledged"]) == (6, 6, 0)
    assert spike["median_ack_seconds"] is None
    assert spike["resolved_without_action"] == 6
    assert spike["off_hours_pages"] == 6
    assert kinds(spike) == {"delete", "add_for"}
    evidence = {s["kind"]: s["evidence"] for s in spike["suggestions"]}
    assert "fired 6 times" in evidence["delete"]
    assert "6 of 6 resolved firings" in evidence["add_for"]

    nodes = rules["NodeDown"]
    assert (nodes["fired"], nodes["paged"], nodes["acknowledged"]) == (4, 4, 1)
    assert nodes["resolved_without_action"] == 3  # each node paged alone; one was acknowledged
    assert kinds(nodes) == {"group"}
    assert "3 of 4 pages" in nodes["suggestions"][0]["evidence"]

    drift = rules["LedgerDrift"]
    assert (drift["fired"], drift["paged"], drift["incident_linked"]) == (1, 0, 1)
    assert drift["resolved_without_action"] == 0

    flap = rules["LinkFlap"]
    assert flap["fired"] == 5 and flap["flapping"] >= 1
    assert flap["paged"] < flap["fired"]  # flapping pages once, not on every change

    services = by_name(report["services"])
    assert services["search"]["paged"] == 6 and services["checkout"]["acknowledged"] == 3
    assert SECRET_TITLE not in response.text


async def test_one_service_another_zone_and_the_csv_export(
    client: AsyncClient, week: Caller
) -> None:
    only = await client.get(API, params={**WEEK, "service": "search"}, headers=week.headers)
    assert [r["name"] for r in only.json()["rules"]] == ["CpuSpike"]
    assert [r["name"] for r in only.json()["services"]] == ["search"]

    tokyo = await client.get(API, params={**WEEK, "timezone": "Asia/Tokyo"}, headers=week.headers)
    rules = by_name(tokyo.json()["rules"])
    assert rules["HighLatency"]["off_hours_pages"] == 3  # 23:00 in Tokyo
    assert rules["CpuSpike"]["off_hours_pages"] == 2  # noon in Tokyo, but two fell on the weekend
    early = await client.get(
        API, params={**WEEK, "business_hours": "00:00-24:00"}, headers=week.headers
    )
    assert by_name(early.json()["rules"])["CpuSpike"]["off_hours_pages"] == 2  # the weekend

    exported = await client.get(API, params={**WEEK, "format": "csv"}, headers=week.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    spike = next(r for r in rows if r["kind"] == "rule" and r["name"] == "CpuSpike")
    assert spike["paged"] == "6" and spike["off_hours_pages"] == "6"
    assert "delete: fired 6 times" in spike["suggestions"]
    assert {r["name"] for r in rows if r["kind"] == "service"} >= {"search", "checkout"}
    assert SECRET_TITLE not in exported.text

    before = await client.get(
        API, params={"from": "2025-01-01", "to": "2025-02-01"}, headers=week.headers
    )
    assert before.json()["rules"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-01-12T00:00:00Z", "to": "2026-01-05T00:00:00Z"}, "from"),
        ({"from": "2024-01-01T00:00:00Z", "to": "2026-01-05T00:00:00Z"}, "from"),
        ({"service": "nope"}, "service"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"business_hours": "18:00-09:00"}, "business_hours"),
    ],
)
async def test_bad_parameters_are_refused_naming_the_field(
    client: AsyncClient, session: AsyncSession, params: dict[str, str], field: str
) -> None:
    viewer = await make_caller(session, Role.VIEWER)
    await session.commit()
    refused = await client.get(API, params=params, headers=viewer.headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == [field]


async def test_reading_the_report_needs_alerts_read(
    client: AsyncClient, session: AsyncSession
) -> None:
    narrow = await make_caller(session, Role.VIEWER, scopes=frozenset({Permission.INCIDENT_READ}))
    await session.commit()
    assert (await client.get(API)).status_code == 401
    assert (await client.get(API, headers=narrow.headers)).status_code == 403


async def test_the_page_under_alerts_shows_the_report_and_links_the_csv(
    client: AsyncClient, session: AsyncSession, week: Caller
) -> None:
    reader = await make_user(session, Role.VIEWER)
    await session.commit()
    await browser_login(client, reader.email)
    page = await client.get("/alerts/fatigue", params={"from": "2026-01-05", "to": "2026-01-12"})
    assert page.status_code == 200
    assert 'href="/alerts/fatigue"' in page.text  # in the navigation
    assert "CpuSpike" in page.text and "delete" in page.text and "add for" in page.text
    assert "format=csv" in page.text
    assert SECRET_TITLE not in page.text
    refused = await client.get("/alerts/fatigue", params={"timezone": "Mars/Base"})
    assert refused.status_code == 422 and "unknown time zone" in refused.text
