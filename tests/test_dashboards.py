"""The live dashboards: what the incident commander's board and the stakeholder screen show,
who sees which incident, and how a change reaches an open screen."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.server import running_server
from tests.factories import Caller, browser_login, make_caller, make_user
from tests.test_web_live import Stream, open_stream
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import (
    BusinessUnitCreate,
    CustomerCreate,
    CustomerTierCreate,
    ServiceCreate,
    Sla,
    TeamCreate,
)
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.policy import service as policy

INCIDENTS = "/api/v1/incidents"
COMMAND = "/api/v1/dashboards/command"
STAKEHOLDER = "/api/v1/dashboards/stakeholder"
HTMX = {"HX-Request": "true"}
SYSTEM = Actor.system("test")

# Technical detail that must never reach the stakeholder screen.
SECRET_SUMMARY = "pgbouncer pool exhausted on db-7"
SECRET_NOTE = "kubectl rollout undo deploy/checkout"
SECRET_TASK = "Raise max_connections on replica"
SECRET_UPDATE = "Stack trace shows NullPointerException in LedgerClient"


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> None:
    await policy.ensure_default_policies(session)
    await catalog.create_team(session, SYSTEM, TeamCreate(slug="payments", name="Payments"))
    await catalog.create_service(
        session, SYSTEM, ServiceCreate(slug="ledger-db", name="Ledger DB", owner_team="payments")
    )
    await catalog.create_business_unit(
        session, SYSTEM, BusinessUnitCreate(slug="retail", name="Retail")
    )
    await catalog.create_customer_tier(
        session,
        SYSTEM,
        CustomerTierCreate(
            slug="gold",
            name="Gold",
            sla=Sla(
                availability_target_percent=99.9,
                response_minutes={"sev1": 15},
                resolution_minutes={"sev1": 240},
            ),
        ),
    )
    await catalog.create_customer(
        session, SYSTEM, CustomerCreate(slug="acme", name="Acme Corp", tier="gold")
    )
    await session.commit()


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "sev2", **fields}
    response = await client.post(INCIDENTS, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def ok(response: Any) -> Any:
    assert response.status_code in {200, 201}, response.text
    return response.json()


async def board(client: AsyncClient, caller: Caller) -> dict[str, Any]:
    return dict(await ok(await client.get(COMMAND, headers=caller.headers)))


def card(view: dict[str, Any], ref: str) -> dict[str, Any]:
    return next(c for c in view["incidents"] if c["ref"] == ref)


def refs(view: dict[str, Any]) -> list[str]:
    return [c["ref"] for c in view["incidents"]]


async def test_the_command_board_shows_what_needs_the_commander_first(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    minor = await declare(client, ic, title="Slow search", severity="sev3")
    major = await declare(
        client,
        ic,
        title="Payments down",
        severity="sev1",
        services=["ledger-db"],
        customer_tiers=["gold"],
    )
    resolved = await declare(client, ic, title="Old one", severity="sev4")
    await ok(
        await client.put(
            f"{INCIDENTS}/{resolved}/checklists",
            json={"checklist": "technical", "item": "impact-ended", "state": "done"},
            headers=ic.headers,
        )
    )
    await ok(
        await client.post(
            f"{INCIDENTS}/{resolved}/status", json={"status": "resolved"}, headers=ic.headers
        )
    )
    await ok(
        await client.put(
            f"{INCIDENTS}/{minor}/roles",
            json={"role": "incident-commander", "user": ic.user.email},
            headers=ic.headers,
        )
    )
    await ok(
        await client.post(
            f"{INCIDENTS}/{major}/tasks",
            json={"title": "Fail over the ledger", "team": "payments", "priority": "P1"},
            headers=ic.headers,
        )
    )
    await ok(
        await client.post(
            f"{INCIDENTS}/{major}/timeline", json={"text": "Rolling back"}, headers=ic.headers
        )
    )

    view = await board(client, ic)
    assert refs(view) == [major, minor]  # worst severity first; resolved ones are gone
    assert view["without_commander"] == 1
    top = card(view, major)
    assert top["severity"] == "sev1" and top["status"] == "declared"
    assert top["missing_roles"][0] == "incident-commander"
    assert top["services"] == ["ledger-db"]
    assert top["open_tasks"] == 1 and top["tasks"][0]["title"] == "Fail over the ledger"
    assert top["recent"][0]["text"] == "Rolling back"
    assert top["update_state"] == "on_track"
    sla_names = {c["name"]: c for c in top["clocks"] if c["kind"] == "sla"}
    assert sla_names["gold: response SLA"]["time_left_seconds"] == 15 * 60
    assert card(view, minor)["roles"][0]["email"] == ic.user.email
    assert "incident-commander" not in card(view, minor)["missing_roles"]

    # Time passes: the sev1 bridge update (30 minutes) is overdue, the response SLA breached.
    clock.advance(timedelta(minutes=31))
    later = card(await board(client, ic), major)
    assert later["update_state"] == "overdue"
    bridge = await ok(await client.get(f"{INCIDENTS}/{major}/bridge", headers=ic.headers))
    assert bridge["overdue"] is True
    assert later["overdue_by_seconds"] == bridge["overdue_by_seconds"] > 0
    assert later["next_update_due"] == bridge["next_due"]
    assert later["worst_clock"] == "breached"
    assert later["age_seconds"] == 31 * 60


async def test_a_private_incident_is_on_the_board_of_participants_and_admins_only(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    admin = await make_caller(session, Role.ADMIN)
    secret = await declare(client, owner, title="Data exposure", visibility="private")
    public = await declare(client, owner, title="Checkout errors")

    assert refs(await board(client, outsider)) == [public]
    assert set(refs(await board(client, owner))) == {secret, public}
    assert set(refs(await board(client, admin))) == {secret, public}

    user = await make_user(session, Role.RESPONDER)
    await browser_login(client, user.email)
    page = await client.get("/dashboards/command")
    assert page.status_code == 200
    assert public in page.text and secret not in page.text and "Data exposure" not in page.text
    fragment = await client.get("/dashboards/command", headers=HTMX)
    assert "<html" not in fragment.text and secret not in fragment.text


async def test_the_stakeholder_screen_shows_business_impact_and_nothing_technical(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    admin = await make_caller(session, Role.ADMIN)
    ref = await declare(
        client,
        ic,
        title="Card payments failing",
        severity="sev1",
        summary=SECRET_SUMMARY,
        services=["ledger-db"],
        customers=["acme"],
        customer_tiers=["gold"],
        business_units=["retail"],
        customers_affected=1200,
    )
    private = await declare(client, admin, title="Insider investigation", visibility="private")
    await ok(
        await client.post(
            f"{INCIDENTS}/{ref}/timeline", json={"text": SECRET_NOTE}, headers=ic.headers
        )
    )
    await ok(
        await client.post(
            f"{INCIDENTS}/{ref}/tasks",
            json={"title": SECRET_TASK, "team": "payments"},
            headers=ic.headers,
        )
    )
    await ok(
        await client.post(
            f"{INCIDENTS}/{ref}/updates",
            json={
                "current_status": SECRET_UPDATE,
                "next_due": (clock.now() + timedelta(minutes=10)).isoformat(),
            },
            headers=ic.headers,
        )
    )
    await ok(
        await client.put(
            f"{INCIDENTS}/{ref}/roles",
            json={"role": "incident-commander", "user": ic.user.email},
            headers=ic.headers,
        )
    )

    # The admin declared the private one and takes part in it: still not on this screen.
    view = await ok(await client.get(STAKEHOLDER, headers=admin.headers))
    assert [c["ref"] for c in view["incidents"]] == [ref]
    shown = view["incidents"][0]
    assert shown["customers"] == ["acme"]
    assert shown["customer_tiers"] == ["gold"]
    assert shown["business_units"] == ["retail"]
    assert shown["customers_affected"] == 1200
    assert shown["plain_status"] == "We are aware of a problem and have started to respond."
    promised = clock.now() + timedelta(minutes=10)
    assert datetime.fromisoformat(shown["next_update_due"]) == promised
    assert set(shown) == {
        "ref",
        "title",
        "severity",
        "severity_name",
        "status",
        "plain_status",
        "opened_at",
        "customers",
        "customer_tiers",
        "business_units",
        "customers_affected",
        "regulatory",
        "next_update_due",
    }

    user = await make_user(session, Role.ADMIN)
    await browser_login(client, user.email)
    page = await client.get("/dashboards/stakeholder")
    fragment = await client.get("/dashboards/stakeholder", headers=HTMX)
    raw = json.dumps(view)
    for text in (raw, page.text, fragment.text):
        for technical in (SECRET_SUMMARY, SECRET_NOTE, SECRET_TASK, SECRET_UPDATE, "ledger-db"):
            assert technical not in text
        assert ic.user.email not in text
        assert private not in text and "Insider investigation" not in text
    assert "Acme" in page.text or "acme" in page.text
    assert "/events/stream?scope=public" in page.text


async def test_the_dashboards_are_for_signed_in_readers(client: AsyncClient) -> None:
    for path in (COMMAND, STAKEHOLDER):
        response = await client.get(path)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_navigation_links_to_both_dashboards(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    viewer = await make_user(session, Role.VIEWER)
    await browser_login(client, viewer.email)
    home = await client.get("/incidents")
    assert 'href="/dashboards/command"' in home.text
    assert 'href="/dashboards/stakeholder"' in home.text
    page = await client.get("/dashboards/command")
    assert 'hx-trigger="live:incident from:body' in page.text
    assert "No active incident." in page.text


async def test_an_unknown_stream_scope_is_refused_by_name(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.VIEWER)
    response = await client.get(
        "/events/stream", params={"scope": "everything"}, headers=caller.headers
    )
    assert response.status_code == 422
    assert "scope" in response.text


async def test_private_incident_events_reach_participants_only_and_never_a_public_screen(
    settings: Settings, client: AsyncClient, session: AsyncSession, world: None
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    admin = await make_caller(session, Role.ADMIN)
    secret = await declare(client, owner, title="Data exposure", visibility="private")
    public = await declare(client, owner, title="Checkout errors")
    async with (
        running_server(settings) as base_url,
        open_stream(base_url, owner.headers) as owner_stream,
        open_stream(base_url, outsider.headers) as outsider_stream,
        open_stream(base_url, admin.headers) as admin_stream,
    ):
        async with AsyncClient(base_url=base_url) as http:
            await ok(
                await http.post(
                    f"{INCIDENTS}/{secret}/timeline", json={"text": "x"}, headers=owner.headers
                )
            )
            await ok(
                await http.post(
                    f"{INCIDENTS}/{public}/timeline", json={"text": "y"}, headers=owner.headers
                )
            )
        assert (await owner_stream.next_event())["data"]["ref"] == secret
        assert (await owner_stream.next_event())["data"]["ref"] == public
        # Published first: had the filter failed, the outsider would read the secret first.
        assert (await outsider_stream.next_event())["data"]["ref"] == public
        assert (await admin_stream.next_event())["data"]["ref"] == secret


async def test_a_public_screen_stream_drops_private_events_even_for_admins(
    settings: Settings, client: AsyncClient, session: AsyncSession, world: None
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    secret = await declare(client, admin, title="Data exposure", visibility="private")
    public = await declare(client, admin, title="Checkout errors")
    async with (
        running_server(settings) as base_url,
        AsyncClient(base_url=base_url, headers=admin.headers, timeout=10) as http,
        http.stream("GET", "/events/stream?scope=public") as response,
    ):
        stream = Stream(response)
        await stream.comment("subscribed")
        await ok(await http.post(f"{INCIDENTS}/{secret}/timeline", json={"text": "x"}))
        await ok(await http.post(f"{INCIDENTS}/{public}/timeline", json={"text": "y"}))
        assert (await stream.next_event())["data"]["ref"] == public


async def test_the_incident_page_refreshes_its_panels_when_its_incident_changes(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, ic)
    user = await make_user(session, Role.RESPONDER)
    await browser_login(client, user.email)
    page = await client.get(f"/incidents/{ref}")
    assert 'id="incident-live"' in page.text
    assert f"live:incident[detail.data.ref=='{ref}'] from:body" in page.text
    assert 'hx-select-oob="' in page.text
    for panel in ("incident-head", "impact", "milestones", "kpis", "roles-current"):
        assert f'id="{panel}"' in page.text


async def test_a_private_event_asks_the_database_once_however_many_streams_carry_it(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: Any,
    engine: Any,
    world: None,
) -> None:
    import asyncio

    import sqlalchemy as sa

    from tocsin.auth.principal import Principal
    from tocsin.events import Event
    from tocsin.web import live

    owner = await make_caller(session, Role.RESPONDER)
    secret = await declare(client, owner, title="Data exposure", visibility="private")
    incident_id = int(secret.split("-")[1])
    viewers = [
        Principal.for_user(
            user_id=uid,
            email=f"u{uid}@example.test",
            name="u",
            role=Role.RESPONDER,
            team_ids=frozenset(),
            via="token",
        )
        for uid in [owner.user.id, *range(10_000, 10_050)]
    ]
    queries: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "incident_participants" in statement:
            queries.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        fanout = live.Fanout()
        event = Event("incident.timeline", {"ref": secret}, audience=f"private:{incident_id}")
        heard = await asyncio.gather(
            *(live.hears(v, fanout.of(event), sessionmaker) for v in viewers)
        )
        assert heard == [True] + [False] * 50
        assert len(queries) == 1
        # The next event asks afresh: someone added meanwhile hears it.
        late = await make_user(session, Role.RESPONDER)
        await ok(
            await client.post(
                f"{INCIDENTS}/{secret}/participants",
                json={"user": late.email},
                headers=owner.headers,
            )
        )
        newcomer = Principal.for_user(
            user_id=late.id,
            email=late.email,
            name="late",
            role=Role.RESPONDER,
            team_ids=frozenset(),
            via="token",
        )
        second = Event("incident.timeline", {"ref": secret}, audience=f"private:{incident_id}")
        assert await live.hears(newcomer, fanout.of(second), sessionmaker)
        assert len(queries) == 2
        assert fanout.of(event).wire == fanout.of(event).wire
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
