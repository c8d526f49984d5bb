"""The demo organisation `make run` starts with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import count_rows
from tests.factories import browser_login
from tocsin.audit.models import AuditEntry
from tocsin.auth import service as auth
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.demo.loader import ADMIN_EMAIL, DEMO_PASSWORD, DEMO_USERS, load_demo
from tocsin.policy import service as policy

TOPOLOGY = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "otel-demo-topology" / "topology.json"
)


async def test_the_demo_has_people_of_every_role_who_can_sign_in(
    session: AsyncSession, client: AsyncClient
) -> None:
    result = await load_demo(session)
    assert result.loaded and len(result.users_created) == len(DEMO_USERS)
    roles = {Role(u.role) for u in await auth.list_users(session)}
    assert roles == set(Role)
    await session.commit()  # end the read: SQLite lets one transaction at a time near the file
    await browser_login(client, ADMIN_EMAIL, DEMO_PASSWORD)
    me = (await client.get("/api/v1/me")).json()
    assert me["role"] == "admin"


async def test_the_demo_catalog_is_a_connected_organisation(session: AsyncSession) -> None:
    await load_demo(session)
    services = await catalog.list_services(session)
    assert len(services) == 19
    assert all(s.owner_team for s in services)
    checkout = await catalog.get_service(session, "checkout")
    assert {d.service for d in checkout.dependencies} >= {"cart", "payment", "shipping"}
    radius = await catalog.blast_radius(session, "valkey-cart")
    assert {"cart", "checkout", "frontend", "frontend-proxy"} <= set(radius.hard)
    teams = await catalog.list_teams(session)
    assert len(teams) == 5 and all(t.members for t in teams)
    assert {t.slug for t in await catalog.list_customer_tiers(session)} == {
        "enterprise",
        "business",
        "consumer",
    }
    assert len(await catalog.list_customers(session)) == 5
    vendors = {v.slug: v for v in await catalog.list_vendors(session)}
    assert vendors["ledgerline"].services == ["payment"]
    assert [s.slug for s in await policy.list_severities(session)] == [
        "sev1",
        "sev2",
        "sev3",
        "sev4",
    ]


async def test_loading_again_changes_nothing_and_if_empty_does_not_even_look(
    session: AsyncSession,
) -> None:
    await load_demo(session)
    audit_rows = await count_rows(session, AuditEntry)
    again = await load_demo(session)
    assert again.loaded and again.users_created == ()
    assert again.summary is not None and not again.summary.changed
    skipped = await load_demo(session, if_empty=True)
    assert not skipped.loaded
    assert await count_rows(session, AuditEntry) == audit_rows


@pytest.mark.skipif(not TOPOLOGY.is_file(), reason="the shared OpenTelemetry demo data is absent")
async def test_demo_dependencies_are_the_opentelemetry_demo_topology(session: AsyncSession) -> None:
    """Every edge of the demo is an edge of the upstream topology and the other way round,
    for the services the demo includes (a consumer depends on the stream it reads)."""
    await load_demo(session)
    topology = json.loads(TOPOLOGY.read_text())
    ours = {
        (s.slug, d.service) for s in await catalog.list_services(session) for d in s.dependencies
    }
    included = {s for edge in ours for s in edge}
    upstream: set[tuple[str, str]] = set()
    for parent, child in topology["sync_trace_edges_parent_to_child"]:
        upstream.add((parent, child))
    for source, target, how in topology["async_or_infra_edges_from_architecture_doc"]:
        for one in source.split("|"):
            upstream.add((target, one) if "consume" in how else (one, target))
    assert ours == {e for e in upstream if e[0] in included and e[1] in included}
