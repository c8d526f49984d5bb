"""The public status page end to end: the Statuspage-compatible JSON API checked against
schemas written from Statuspage's documented examples, the HTML page and feeds, the render
cache, private incidents, the premature-resolution guard, and subscribers over real SMTP
and HTTP with the fan-out run by the job worker."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Configure
from tests.factories import Caller, make_caller
from tests.mail import Mailbox, smtp_server
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import ServiceCreate
from tocsin.checks import service as checks
from tocsin.checks.runner.outcome import Outcome
from tocsin.clock import FrozenClock, utcnow
from tocsin.comms.models import CommsLogEntry
from tocsin.config import Settings, get_settings
from tocsin.incidents.models import TimelineEvent
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker
from tocsin.notifications.rules import SIGNATURE_HEADER, verify
from tocsin.policy import service as policy
from tocsin.statuspage import delivery, freshness
from tocsin.statuspage import service as statuspage
from tocsin.statuspage.models import StatusPage

API = "/api/v1/status-pages"
INCIDENTS = "/api/v1/incidents"

# --- schemas written from Statuspage's documented public API v2 examples ----------------

TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"}
NULLABLE_TIME = {"anyOf": [TIME, {"type": "null"}]}
COMPONENT_STATES = [
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
]
PAGE = {
    "type": "object",
    "required": ["id", "name", "url", "time_zone", "updated_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": "string"},
        "time_zone": {"type": "string"},
        "updated_at": TIME,
    },
}
COMPONENT = {
    "type": "object",
    "required": [
        "id",
        "name",
        "status",
        "created_at",
        "updated_at",
        "position",
        "description",
        "showcase",
        "start_date",
        "group_id",
        "page_id",
        "group",
        "only_show_if_degraded",
    ],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {"enum": COMPONENT_STATES},
        "created_at": TIME,
        "updated_at": TIME,
        "position": {"type": "integer"},
        "description": {"type": ["string", "null"]},
        "showcase": {"type": "boolean"},
        "start_date": {"type": ["string", "null"]},
        "group_id": {"type": ["string", "null"]},
        "page_id": {"type": "string"},
        "group": {"type": "boolean"},
        "only_show_if_degraded": {"type": "boolean"},
        "components": {"type": "array", "items": {"type": "string"}},
    },
}
AFFECTED = {
    "type": "object",
    "required": ["code", "name", "old_status", "new_status"],
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "old_status": {"enum": COMPONENT_STATES},
        "new_status": {"enum": COMPONENT_STATES},
    },
}


def incident_schema(statuses: list[str], impacts: list[str]) -> dict[str, Any]:
    update = {
        "type": "object",
        "required": [
            "id",
            "status",
            "body",
            "incident_id",
            "created_at",
            "updated_at",
            "display_at",
            "affected_components",
            "deliver_notifications",
            "custom_tweet",
            "tweet_id",
        ],
        "properties": {
            "id": {"type": "string"},
            "status": {"enum": statuses},
            "body": {"type": "string"},
            "incident_id": {"type": "string"},
            "created_at": TIME,
            "updated_at": TIME,
            "display_at": TIME,
            "affected_components": {
                "anyOf": [{"type": "null"}, {"type": "array", "items": AFFECTED}]
            },
            "deliver_notifications": {"type": "boolean"},
        },
    }
    return {
        "type": "object",
        "required": [
            "id",
            "name",
            "status",
            "created_at",
            "updated_at",
            "monitoring_at",
            "resolved_at",
            "impact",
            "shortlink",
            "started_at",
            "page_id",
            "incident_updates",
            "components",
        ],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "status": {"enum": statuses},
            "created_at": TIME,
            "updated_at": NULLABLE_TIME,
            "monitoring_at": NULLABLE_TIME,
            "resolved_at": NULLABLE_TIME,
            "impact": {"enum": impacts},
            "shortlink": {"type": "string"},
            "started_at": TIME,
            "page_id": {"type": "string"},
            "incident_updates": {"type": "array", "items": update},
            "components": {"type": "array", "items": COMPONENT},
        },
    }


INCIDENT = incident_schema(
    ["investigating", "identified", "monitoring", "resolved", "postmortem"],
    ["none", "minor", "major", "critical"],
)
MAINTENANCE = incident_schema(
    ["scheduled", "in_progress", "verifying", "completed"],
    ["none", "minor", "major", "critical", "maintenance"],
)
MAINTENANCE["required"] = [*MAINTENANCE["required"], "scheduled_for", "scheduled_until"]
MAINTENANCE["properties"] |= {"scheduled_for": TIME, "scheduled_until": TIME}
STATUS = {
    "type": "object",
    "required": ["indicator", "description"],
    "properties": {
        "indicator": {"enum": ["none", "minor", "major", "critical", "maintenance"]},
        "description": {"type": "string"},
    },
}


def envelope(**parts: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["page", *parts],
        "properties": {"page": PAGE, **parts},
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "summary": envelope(
        components={"type": "array", "items": COMPONENT},
        incidents={"type": "array", "items": INCIDENT},
        scheduled_maintenances={"type": "array", "items": MAINTENANCE},
        status=STATUS,
    ),
    "status": envelope(status=STATUS),
    "components": envelope(components={"type": "array", "items": COMPONENT}),
    "incidents": envelope(incidents={"type": "array", "items": INCIDENT}),
    "incidents/unresolved": envelope(incidents={"type": "array", "items": INCIDENT}),
    "scheduled-maintenances": envelope(
        scheduled_maintenances={"type": "array", "items": MAINTENANCE}
    ),
    "scheduled-maintenances/upcoming": envelope(
        scheduled_maintenances={"type": "array", "items": MAINTENANCE}
    ),
    "scheduled-maintenances/active": envelope(
        scheduled_maintenances={"type": "array", "items": MAINTENANCE}
    ),
}


# --- the world ---------------------------------------------------------------------------


@dataclass
class World:
    admin: Caller
    communicator: Caller
    responder: Caller
    viewer: Caller
    components: dict[str, int] = field(default_factory=dict)


@pytest.fixture
async def world(session: AsyncSession, client: AsyncClient, clock: FrozenClock) -> World:
    await policy.ensure_default_policies(session)
    for slug in ("checkout", "search"):
        await catalog.create_service(
            session, Actor.system("test"), ServiceCreate(slug=slug, name=slug.title())
        )
    found = World(
        await make_caller(session, Role.ADMIN),
        await make_caller(session, Role.COMMUNICATOR),
        await make_caller(session, Role.RESPONDER),
        await make_caller(session, Role.VIEWER),
    )
    await session.commit()
    made = await client.post(
        API, json={"slug": "acme", "name": "Acme"}, headers=found.communicator.headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["is_default"] is True, "the first page is the default one"
    group = await client.post(
        f"{API}/acme/groups", json={"name": "Shop"}, headers=found.communicator.headers
    )
    for name, service, group_id in (
        ("Checkout", "checkout", group.json()["id"]),
        ("Search", "search", None),
    ):
        response = await client.post(
            f"{API}/acme/components",
            json={"name": name, "service": service, "group_id": group_id},
            headers=found.communicator.headers,
        )
        assert response.status_code == 201, response.text
        found.components[name] = response.json()["id"]
    return found


async def publish(
    client: AsyncClient, caller: Caller, world: World, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": "Checkout is slow",
        "impact": "major",
        "body": "We are looking into slow checkouts.",
        "components": [{"component_id": world.components["Checkout"], "status": "partial_outage"}],
        **fields,
    }
    response = await client.post(f"{API}/acme/incidents", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post_update(client: AsyncClient, caller: Caller, incident_id: int, **fields: Any) -> Any:
    body = {"status": "identified", "body": "Found it.", **fields}
    return await client.post(
        f"{API}/acme/incidents/{incident_id}/updates", json=body, headers=caller.headers
    )


# --- the JSON API ------------------------------------------------------------------------


async def test_every_json_endpoint_matches_statuspage_shapes(
    client: AsyncClient, world: World, clock: FrozenClock
) -> None:
    published = await publish(client, world.communicator, world)
    await post_update(client, world.communicator, published["id"], status="monitoring")
    start = utcnow() + timedelta(days=2)
    for name in ("Database upgrade", "Network work"):
        made = await client.post(
            f"{API}/acme/maintenances",
            json={
                "name": name,
                "body": "Short interruptions expected.",
                "scheduled_for": start.isoformat(),
                "scheduled_until": (start + timedelta(hours=2)).isoformat(),
                "components": [world.components["Search"]],
            },
            headers=world.communicator.headers,
        )
        assert made.status_code == 201, made.text
    active = made.json()["id"]
    moved = await post_update(
        client, world.communicator, active, status="in_progress", body="Started."
    )
    assert moved.status_code == 201, moved.text

    bodies = {}
    for name, schema in SCHEMAS.items():
        for prefix in ("", "/status/acme"):
            response = await client.get(f"{prefix}/api/v2/{name}.json")
            assert response.status_code == 200, (prefix, name)
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers["access-control-allow-origin"] == "*"
            jsonschema.validate(response.json(), schema)
            bodies[prefix, name] = response.json()
        assert bodies["", name] == bodies["/status/acme", name], "the default page is acme"

    summary = bodies["", "summary"]
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert [i["name"] for i in summary["incidents"]] == ["Checkout is slow"]
    [incident] = summary["incidents"]
    assert incident["status"] == "monitoring" and incident["monitoring_at"] is not None
    assert [u["status"] for u in incident["incident_updates"]] == ["monitoring", "investigating"]
    first = incident["incident_updates"][-1]
    assert first["affected_components"] == [
        {
            "code": str(world.components["Checkout"]),
            "name": "Checkout",
            "old_status": "operational",
            "new_status": "partial_outage",
        }
    ]
    groups = [c for c in summary["components"] if c["group"]]
    assert groups[0]["name"] == "Shop" and groups[0]["status"] == "partial_outage"
    assert groups[0]["components"] == [str(world.components["Checkout"])]
    assert {m["name"] for m in summary["scheduled_maintenances"]} == {
        "Database upgrade",
        "Network work",
    }
    upcoming = bodies["", "scheduled-maintenances/upcoming"]["scheduled_maintenances"]
    running = bodies["", "scheduled-maintenances/active"]["scheduled_maintenances"]
    assert [m["name"] for m in upcoming] == ["Database upgrade"]
    assert [m["name"] for m in running] == ["Network work"]
    assert bodies["", "status"]["page"]["url"] == "http://127.0.0.1:8000/status"


async def test_an_unknown_page_is_404(client: AsyncClient, world: World) -> None:
    assert (await client.get("/status/nope/api/v2/summary.json")).status_code == 404
    assert (await client.get("/status/nope")).status_code == 404


# --- caching -----------------------------------------------------------------------------


async def test_answers_are_cached_with_etags_and_invalidated_by_every_write(
    client: AsyncClient, world: World
) -> None:
    for path in ("/api/v2/summary.json", "/status", "/status/history.rss"):
        first = await client.get(path)
        etag = first.headers["etag"]
        assert "max-age" in first.headers["cache-control"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag

    before = await client.get("/api/v2/components.json")
    changed = await client.patch(
        f"{API}/acme/components/{world.components['Search']}",
        json={"status": "major_outage"},
        headers=world.communicator.headers,
    )
    assert changed.status_code == 200
    after = await client.get(
        "/api/v2/components.json", headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200, "a write makes the old ETag stale"
    search = next(c for c in after.json()["components"] if c["name"] == "Search")
    assert search["status"] == "major_outage"
    status = (await client.get("/api/v2/status.json")).json()["status"]
    assert status == {"indicator": "critical", "description": "Major System Outage"}
    page = await client.get("/status")
    assert "Major outage" in page.text


async def test_a_change_made_through_another_node_shows_once_the_memo_lapses(
    client: AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    before = (await client.get("/api/v2/status.json")).json()["status"]["indicator"]
    assert before == "none"
    # Another node's write: it commits in its own process, so this node's commit hook never
    # sees it; only the version in the database tells.
    async with sessionmaker() as other:
        await other.execute(
            sa.update(StatusPage).values(version=StatusPage.version + 1, name="Acme Corp")
        )
        await other.commit()
    stale = await client.get("/api/v2/status.json")
    assert stale.json()["page"]["name"] == "Acme", "while the memo holds: from memory"
    clock.advance(freshness.VERSION_TTL + timedelta(milliseconds=1))
    fresh = await client.get("/api/v2/status.json")
    assert fresh.json()["page"]["name"] == "Acme Corp"


# --- privacy -----------------------------------------------------------------------------


async def test_a_private_incident_never_reaches_the_public_page(
    client: AsyncClient, session: AsyncSession, world: World
) -> None:
    secret = await client.post(
        INCIDENTS,
        json={
            "title": "Secret merger outage",
            "severity": "sev1",
            "visibility": "private",
            "services": ["checkout"],
        },
        headers=world.admin.headers,
    )
    assert secret.status_code == 201, secret.text
    ref = secret.json()["ref"]

    async def everything_public() -> str:
        texts = [
            (await client.get(p)).text
            for p in ("/status", "/status/history.rss", "/status/history.atom")
        ]
        texts += [(await client.get(f"/api/v2/{n}.json")).text for n in SCHEMAS]
        return "\n".join(texts)

    assert "Secret merger" not in await everything_public()

    refused = await client.post(
        f"{API}/acme/incidents",
        json={"name": "Checkout trouble", "body": "Looking.", "incident": ref},
        headers=world.communicator.headers,
    )
    assert refused.status_code == 422, "a communicator cannot link what they cannot see"
    assert refused.json()["errors"][0]["field"] == "incident"

    published = await publish(client, world.admin, world, name="Checkout trouble", incident=ref)
    assert published["incident"] == ref
    public = await everything_public()
    assert "Checkout trouble" in public
    assert "Secret merger" not in public and ref not in public
    listed = await client.get(f"{API}/acme/incidents", headers=world.viewer.headers)
    assert listed.json()[0]["incident"] is None, "the link is hidden from who may not see it"


# --- the premature-resolution guard ------------------------------------------------------


async def _walk_to_resolved(client: AsyncClient, caller: Caller, ref: str) -> None:
    for status in ("investigating", "identified", "monitoring"):
        moved = await client.post(
            f"{INCIDENTS}/{ref}/status", json={"status": status}, headers=caller.headers
        )
        assert moved.status_code == 200, moved.text
    lists = (await client.get(f"{INCIDENTS}/{ref}/checklists", headers=caller.headers)).json()
    for item in lists["technical"]:
        ticked = await client.put(
            f"{INCIDENTS}/{ref}/checklists",
            json={"checklist": "technical", "item": item["item"], "state": "done"},
            headers=caller.headers,
        )
        assert ticked.status_code == 200, ticked.text
    resolved = await client.post(
        f"{INCIDENTS}/{ref}/status", json={"status": "resolved"}, headers=caller.headers
    )
    assert resolved.status_code == 200, resolved.text


async def _alert(client: AsyncClient, session: AsyncSession, world: World, **extra: Any) -> str:
    from tocsin.alerts.schemas import IntegrationCreate
    from tocsin.alerts.service import integrations

    made = await integrations.create_integration(
        session, Actor.system("test"), IntegrationCreate(service="checkout", kind="alertmanager")
    )
    await session.commit()
    alert = {"labels": {"alertname": "CheckoutLatency"}, "annotations": {"summary": "slow"}}
    alert |= extra
    posted = await client.post(
        "/api/v2/alerts", json=[alert], headers={"Authorization": f"Bearer {made.key}"}
    )
    assert posted.status_code == 200, posted.text
    return made.key


async def test_the_guard_names_each_failed_condition_and_an_override_is_a_deviation(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    clock: FrozenClock,
) -> None:
    declared = await client.post(
        INCIDENTS,
        json={"title": "Checkout errors", "severity": "sev2", "services": ["checkout"]},
        headers=world.responder.headers,
    )
    ref = declared.json()["ref"]
    published = await publish(client, world.communicator, world, incident=ref)
    sid = published["id"]

    # 1. The Tocsin incident is still open.
    refused = await post_update(client, world.communicator, sid, status="resolved")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["condition"] for e in refused.json()["errors"]] == ["incident_resolved"]
    assert ref in refused.json()["detail"]

    # 2. Resolved, but an alert still fires for the service behind the component.
    await _walk_to_resolved(client, world.responder, ref)
    key = await _alert(client, session, world)
    refused = await post_update(client, world.communicator, sid, status="resolved")
    assert [e["condition"] for e in refused.json()["errors"]] == ["no_alerts_firing"]
    assert "checkout" in refused.json()["errors"][0]["message"]
    ended = {
        "labels": {"alertname": "CheckoutLatency"},
        "annotations": {"summary": "slow"},
        "startsAt": (utcnow() - timedelta(minutes=5)).isoformat(),
        "endsAt": utcnow().isoformat(),
    }
    posted = await client.post(
        "/api/v2/alerts", json=[ended], headers={"Authorization": f"Bearer {key}"}
    )
    assert posted.status_code == 200

    # 3. The service's synthetic check turned green only just now.
    check = await client.post(
        "/api/v1/checks",
        json={
            "slug": "checkout-port",
            "name": "Checkout port",
            "service": "checkout",
            "kind": "tcp",
            "spec": {"host": "127.0.0.1", "port": 9},
            "interval_seconds": 60,
            "jitter_seconds": 0,
        },
        headers=world.admin.headers,
    )
    assert check.status_code == 201, check.text
    async with sessionmaker() as s:
        await checks.record_outcome(
            s,
            check.json()["id"],
            Outcome(ok=True, latency_ms=3),
            location="default",
            started=utcnow(),
        )
        await s.commit()
    refused = await post_update(client, world.communicator, sid, status="resolved")
    assert [e["condition"] for e in refused.json()["errors"]] == ["checks_green"]
    guard = await client.get(f"{API}/acme/incidents/{sid}/guard", headers=world.viewer.headers)
    assert [f["condition"] for f in guard.json()["failures"]] == ["checks_green"]

    # An override: not for communicators, not without a reason, recorded on the timeline.
    denied = await post_update(
        client, world.communicator, sid, status="resolved", override=True, justification="ok"
    )
    assert denied.status_code == 403
    unjustified = await post_update(client, world.admin, sid, status="resolved", override=True)
    assert unjustified.status_code == 422
    assert unjustified.json()["errors"][0]["field"] == "justification"
    forced = await post_update(
        client,
        world.admin,
        sid,
        status="resolved",
        body="Fixed.",
        override=True,
        justification="customers confirm checkout works",
    )
    assert forced.status_code == 201, forced.text
    async with sessionmaker() as s:
        events = list(
            await s.scalars(sa.select(TimelineEvent).where(TimelineEvent.kind == "deviation"))
        )
        entry = await s.scalar(
            sa.select(AuditEntry)
            .where(AuditEntry.object_type == "status_incident", AuditEntry.action == "update")
            .order_by(AuditEntry.id.desc())
        )
    [event] = events
    assert "customers confirm checkout works" in event.text
    assert [c["condition"] for c in event.data["conditions"]] == ["checks_green"]
    assert entry is not None and entry.after is not None and entry.after["override"] is True

    # Without an override, waiting out the monitoring period lets it through.
    second = await publish(client, world.communicator, world, name="Again", incident=ref)
    clock.advance(timedelta(minutes=get_settings().statuspage_monitoring_minutes + 1))
    ok = await post_update(client, world.communicator, second["id"], status="resolved")
    assert ok.status_code == 201, ok.text


# --- bad input ---------------------------------------------------------------------------


async def test_bad_input_names_the_field_and_changes_nothing(
    client: AsyncClient, world: World
) -> None:
    version = (await client.get(f"{API}/acme", headers=world.viewer.headers)).json()["version"]
    cases = [
        (f"{API}/acme/components", {"name": "X", "status": "broken"}, "status"),
        (f"{API}/acme/components", {"name": "X", "service": "nope"}, "service"),
        (
            f"{API}/acme/incidents",
            {
                "name": "X",
                "body": "b",
                "components": [{"component_id": 999, "status": "major_outage"}],
            },
            "components/0/component_id",
        ),
        (f"{API}", {"slug": "Bad Slug", "name": "x"}, "slug"),
    ]
    for path, body, name in cases:
        response = await client.post(path, json=body, headers=world.communicator.headers)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert name in json.dumps(response.json()["errors"]), response.text
    published = await publish(client, world.communicator, world)
    wrong = await post_update(client, world.communicator, published["id"], status="completed")
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "status"
    after = (await client.get(f"{API}/acme", headers=world.viewer.headers)).json()["version"]
    assert after == version + 1, "only the one accepted write bumped the page"
    assert (
        await client.post(
            f"{API}/acme/components", json={"name": "X"}, headers=world.viewer.headers
        )
    ).status_code == 403


# --- the HTML page and the feeds ---------------------------------------------------------


async def test_the_public_page_needs_no_login_and_no_script(
    client: AsyncClient, world: World, clock: FrozenClock
) -> None:
    clock.advance(timedelta(days=3))
    await publish(client, world.communicator, world)
    page = await client.get("/status")
    assert page.status_code == 200
    assert "<script" not in page.text
    assert "Checkout is slow" in page.text and "We are looking into slow checkouts." in page.text
    assert "Partial System Outage" in page.text
    assert page.text.count('class="bars"') == 2
    checkout = page.text.split(f'id="component-{world.components["Checkout"]}"', 1)[1]
    bars = checkout.split('class="bars"', 1)[1].split("</div>", 1)[0]
    assert bars.count("<span") == 90, "ninety days, one bar each"
    assert "d-partial_outage" in bars and "d-none" in bars, "today degraded; before: no data"
    named = await client.get("/status/acme")
    assert named.status_code == 200 and "Checkout is slow" in named.text


async def test_feeds_parse_as_rss_and_atom(client: AsyncClient, world: World) -> None:
    published = await publish(client, world.communicator, world)
    await post_update(client, world.communicator, published["id"], body="A fix is rolling out.")
    rss = await client.get("/status/history.rss")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    channel = ET.fromstring(rss.content).find("channel")
    assert channel is not None
    [item] = channel.findall("item")
    assert item.findtext("title") == "Checkout is slow"
    assert "A fix is rolling out." in (item.findtext("description") or "")
    atom = await client.get("/status/acme/history.atom")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.fromstring(atom.content)
    [entry] = feed.findall("a:entry", ns)
    assert entry.findtext("a:title", namespaces=ns) == "Checkout is slow"
    assert "A fix is rolling out." in (entry.findtext("a:content", namespaces=ns) or "")


# --- subscribers -------------------------------------------------------------------------


@dataclass
class Hooks:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    unavailable: set[str] = field(default_factory=set)
    """paths that answer 503 (come back later)"""


@pytest.fixture
def mailbox(configure: Configure) -> Iterator[Mailbox]:
    with smtp_server() as (box, port):
        configure(
            {
                "TOCSIN_SMTP_HOST": "127.0.0.1",
                "TOCSIN_SMTP_PORT": str(port),
                "TOCSIN_SMTP_STARTTLS": "false",
                "TOCSIN_BASE_URL": "https://status.example",
            }
        )
        yield box


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    state = Hooks(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path in state.unavailable:
                self.send_response(503)
                self.end_headers()
                return
            signature = self.headers.get(SIGNATURE_HEADER, "")
            state.received.append(
                {"path": self.path, "_signature": signature, "_raw": body, **json.loads(body)}
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    # serve_forever looks for shutdown() every poll_interval: 0.5 s by default, added to
    # every test that used the server.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def run_jobs(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async def run() -> int:
        worker = Worker(settings, sessionmaker, worker_id="test-worker")
        total = 0
        for _ in range(10):
            ran = await worker.run_once()
            total += ran
            if not ran:
                break
        return total

    return run


async def jobs_of(sessionmaker: async_sessionmaker[AsyncSession], kind: str) -> list[Job]:
    async with sessionmaker() as s:
        return list(await s.scalars(sa.select(Job).where(Job.kind == kind).order_by(Job.id)))


async def test_email_subscribers_opt_in_twice_and_can_leave(
    client: AsyncClient,
    world: World,
    mailbox: Mailbox,
    run_jobs: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    bad = await client.post("/status/subscribe", data={"email": "not-an-address"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
    form = await client.post("/status/subscribe", data={"email": "Ana@Example.com"})
    assert form.status_code == 202 and "confirmation link" in form.text
    assert mailbox.messages == [], "nothing is sent inside the request"
    await run_jobs()
    [confirmation] = mailbox.text_to("ana@example.com")
    link = next(w for w in confirmation.split() if "/status/confirm/" in w)
    assert link.startswith("https://status.example/status/confirm/")

    published = await publish(client, world.communicator, world)
    await run_jobs()
    assert len(mailbox.text_to("ana@example.com")) == 1, "unconfirmed: no updates yet"

    forged = await client.get("/status/confirm/" + link.rsplit("/", 1)[1][:-2] + "xx")
    assert forged.status_code == 400
    confirmed = await client.get(link.removeprefix("https://status.example"))
    assert confirmed.status_code == 200 and "confirmed" in confirmed.text

    await post_update(client, world.communicator, published["id"], body="A fix is rolling out.")
    assert len(await jobs_of(sessionmaker, statuspage.FANOUT_KIND)) == 2
    await run_jobs()
    update_mail = mailbox.text_to("ana@example.com")[-1]
    assert "A fix is rolling out." in update_mail and "Identified" in update_mail
    leave = next(w for w in update_mail.split() if "/status/unsubscribe/" in w)
    path = leave.removeprefix("https://status.example")
    assert "Unsubscribe" in (await client.get(path)).text
    assert (await client.post(path)).status_code == 200
    await post_update(client, world.communicator, published["id"], status="monitoring")
    await run_jobs()
    assert len(mailbox.text_to("ana@example.com")) == 2, "no mail after unsubscribing"

    again = await client.post("/status/subscribe", data={"email": "ana@example.com"})
    assert again.status_code == 202
    await run_jobs()
    assert "/status/confirm/" in mailbox.text_to("ana@example.com")[-1], "consent again first"
    await post_update(client, world.communicator, published["id"], status="resolved")
    await run_jobs()
    assert len(mailbox.text_to("ana@example.com")) == 3


async def test_updates_fan_out_in_batches_through_the_worker(
    client: AsyncClient,
    world: World,
    hooks: Hooks,
    run_jobs: Any,
    configure: Configure,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    configure({"TOCSIN_STATUSPAGE_BATCH_SIZE": "2"})
    secrets: list[str] = []
    for n in range(5):
        made = await client.post(
            "/status/subscribe",
            data={"webhook": f"{hooks.url}/hook/{n}"},
            headers={"accept": "application/json"},
        )
        assert made.status_code == 202
        assert made.json()["mode"] == "webhook" and made.json()["confirmed"] is True
        secrets.append(made.json()["secret"])
    only_search = await client.post(
        "/status/acme/subscribe",
        data={
            "webhook": f"{hooks.url}/search-only",
            "components": [str(world.components["Search"])],
        },
    )
    assert only_search.status_code == 202
    hooks.unavailable.add("/hook/3")
    await publish(client, world.communicator, world)
    assert hooks.received == []
    await run_jobs()
    batches = await jobs_of(sessionmaker, statuspage.DELIVER_KIND)
    assert [len(j.payload["subscribers"]) for j in batches] == [2, 2, 1, 1]
    assert all(j.status == "succeeded" for j in batches[:3])
    retry = batches[3]
    assert retry.status == "queued" and retry.payload["round"] == 2, "only the one that failed"
    paths = sorted(r["path"] for r in hooks.received)
    assert paths == ["/hook/0", "/hook/1", "/hook/2", "/hook/4"], "Search-only is left out"

    hooks.unavailable.clear()
    clock.advance(delivery.RETRY_DELAY)
    await run_jobs()
    assert sorted(r["path"] for r in hooks.received)[-2:] == ["/hook/3", "/hook/4"]
    assert len(hooks.received) == 5, "nobody got the update twice"
    async with sessionmaker() as s:
        logged = list(await s.scalars(sa.select(CommsLogEntry).order_by(CommsLogEntry.seq)))
    assert [e.kind for e in logged] == ["status_page_update"] + ["subscriber_batch"] * 4
    assert logged[0].text.endswith("We are looking into slow checkouts.")
    assert logged[0].recipients == "public status page acme"
    assert "We are looking into slow checkouts." in logged[1].text
    first = next(r for r in hooks.received if r["path"] == "/hook/0")
    assert verify(secrets[0], first["_signature"], first["_raw"], int(utcnow().timestamp()))
    body = hooks.received[0]
    assert body["incident"]["name"] == "Checkout is slow"
    assert body["incident"]["incident_updates"][0]["body"].startswith("We are looking")
    assert "/status/unsubscribe/" in body["meta"]["unsubscribe"]


# --- the admin page ----------------------------------------------------------------------


async def test_the_admin_page_sets_states_and_posts_updates(
    client: AsyncClient, session: AsyncSession, world: World
) -> None:
    viewer_page = await client.get("/status-pages", headers=world.viewer.headers)
    assert viewer_page.status_code == 200 and "Checkout" in viewer_page.text
    assert "Post update" not in viewer_page.text
    form = await client.post(
        f"/status-pages/acme/components/{world.components['Search']}",
        data={"status": "degraded_performance"},
        headers=world.communicator.headers,
        follow_redirects=False,
    )
    assert form.status_code == 303
    made = await client.post(
        "/status-pages/acme/incidents",
        data={
            "name": "Search slow",
            "body": "Investigating.",
            "impact": "minor",
            "components": [str(world.components["Search"])],
        },
        headers=world.communicator.headers,
        follow_redirects=False,
    )
    assert made.status_code == 303
    page = await client.get("/status-pages/acme", headers=world.communicator.headers)
    assert "Search slow" in page.text and "Post update" in page.text
    empty = await client.post(
        "/status-pages/acme/incidents",
        data={"name": "", "body": ""},
        headers=world.communicator.headers,
    )
    assert empty.status_code == 422
    summary = (await client.get("/api/v2/summary.json")).json()
    assert [i["name"] for i in summary["incidents"]] == ["Search slow"]
