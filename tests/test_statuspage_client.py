"""An independent Statuspage client reads Tocsin's public API from a real `tocsin serve`.

The client is the `statuspage.io` package from npm (a devDependency), written against
Atlassian's hosted Statuspage and knowing nothing of Tocsin. What it parses must be what
Tocsin holds: names, states, the overall indicator, the incident and maintenance lists.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.net import tocsin_serve
from tocsin.audit.service import Actor
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import ServiceCreate
from tocsin.statuspage import service
from tocsin.statuspage.schemas import (
    AffectedIn,
    ComponentCreate,
    GroupCreate,
    IncidentCreate,
    MaintenanceCreate,
    PageCreate,
    UpdateCreate,
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "js" / "statuspage_client.js"
ACTOR = Actor.system("test")


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed")
    if not (ROOT / "node_modules" / "statuspage.io").is_dir():
        pytest.fail("the statuspage.io client is missing: run `make setup` (npm ci)")
    return found


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[str]:
    """`tocsin serve` in its own process on a free port, on the test's database."""
    async with tocsin_serve(database_url) as base:
        yield base


async def seed(session: AsyncSession) -> None:
    """A page in the middle of things: a partial outage with its incident, an incident that
    is over, one maintenance under way and one still to come."""
    await catalog.create_service(session, ACTOR, ServiceCreate(slug="payments", name="Payments"))
    await service.create_page(session, ACTOR, PageCreate(slug="acme", name="Acme"))
    shop = await service.create_group(session, ACTOR, "acme", GroupCreate(name="Shop"))
    ids = {}
    for name in ("Storefront", "Payments", "Search"):
        made = await service.create_component(
            session,
            ACTOR,
            "acme",
            ComponentCreate(
                name=name,
                group_id=shop.id,
                service="payments" if name == "Payments" else None,
            ),
        )
        ids[name] = made.id
    api = await service.create_component(session, ACTOR, "acme", ComponentCreate(name="API"))
    ids["API"] = api.id
    over = await service.create_incident(
        session,
        ACTOR,
        "acme",
        IncidentCreate(name="Slow search", impact="minor", body="Searching is slow.", notify=False),
    )
    await service.post_update(
        session,
        ACTOR,
        "acme",
        over.id,
        UpdateCreate(status="resolved", body="Search is fast again.", notify=False),
    )
    await service.create_incident(
        session,
        ACTOR,
        "acme",
        IncidentCreate(
            name="Card payments failing",
            impact="major",
            body="Some card payments fail. We are investigating.",
            components=[AffectedIn(component_id=ids["Payments"], status="partial_outage")],
            notify=False,
        ),
    )
    now = datetime.now(UTC)
    await service.create_maintenance(
        session,
        ACTOR,
        "acme",
        MaintenanceCreate(
            name="Database upgrade",
            body="The API may be slow for a few minutes.",
            scheduled_for=now + timedelta(days=2),
            scheduled_until=now + timedelta(days=2, hours=1),
            components=[ids["API"]],
            notify=False,
        ),
    )
    running = await service.create_maintenance(
        session,
        ACTOR,
        "acme",
        MaintenanceCreate(
            name="Search reindex",
            body="Search results may be incomplete.",
            scheduled_for=now - timedelta(minutes=10),
            scheduled_until=now + timedelta(hours=1),
            components=[ids["Search"]],
            notify=False,
        ),
    )
    await service.post_update(
        session,
        ACTOR,
        "acme",
        running.id,
        UpdateCreate(status="in_progress", body="Reindexing now.", notify=False),
    )


async def read_with_client(node: str, base: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        base,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


async def test_the_statuspage_client_reads_what_tocsin_holds(
    node: str, session: AsyncSession, served: str
) -> None:
    await seed(session)
    held = {c.name: c.status for c in await service.list_components(session, "acme")}
    await session.commit()  # no read transaction of ours stands in the server's way

    seen = await read_with_client(node, served)

    summary = seen["summary"]
    assert summary["page"]["name"] == "Acme" and summary["page"]["id"] == "acme"
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert seen["status"]["status"] == summary["status"]

    for listing in (summary["components"], seen["components"]["components"]):
        parts = {c["name"]: c["status"] for c in listing if not c["group"]}
        assert parts == held
        (group,) = [c for c in listing if c["group"]]
        assert (group["name"], group["status"]) == ("Shop", "partial_outage")
    assert held["Payments"] == "partial_outage" and held["API"] == "operational"

    assert names(summary["incidents"]) == ["Card payments failing"]
    (open_incident,) = seen["unresolved"]["incidents"]
    assert (open_incident["name"], open_incident["status"], open_incident["impact"]) == (
        "Card payments failing",
        "investigating",
        "major",
    )
    affected = open_incident["incident_updates"][0]["affected_components"]
    assert [(a["name"], a["new_status"]) for a in affected] == [("Payments", "partial_outage")]
    assert sorted(names(seen["incidents"]["incidents"])) == ["Card payments failing", "Slow search"]

    assert sorted(names(summary["scheduled_maintenances"])) == [
        "Database upgrade",
        "Search reindex",
    ]
    (upcoming,) = seen["upcoming"]["scheduled_maintenances"]
    assert (upcoming["name"], upcoming["status"]) == ("Database upgrade", "scheduled")
    (active,) = seen["active"]["scheduled_maintenances"]
    assert (active["name"], active["status"]) == ("Search reindex", "in_progress")
