"""Engaging vendors from an incident and holding them to their contractual response time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, make_caller
from tocsin import events
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import EscalationContact, ServiceCreate, VendorCreate
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.incidents.vendors import service as vendor_service
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker
from tocsin.policy import service as policy

API = "/api/v1/incidents"


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> None:
    await policy.ensure_default_policies(session)
    system = Actor.system("test")
    await catalog.create_service(session, system, ServiceCreate(slug="checkout", name="Checkout"))
    await catalog.create_vendor(
        session,
        system,
        VendorCreate(
            slug="cloudco",
            name="CloudCo",
            portal_url="https://support.cloudco.example/cases",
            phone="+1 555 0100",
            account_id="ACME-991",
            contact_instructions="Open a P1 case and quote the account id",
            escalation_contacts=[
                EscalationContact(name="Duty manager", email="duty@cloudco.example")
            ],
            response_minutes={"sev1": 30, "sev2": 60},
        ),
    )


@pytest.fixture
def run_worker(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async def run() -> int:
        return await Worker(settings, sessionmaker, worker_id="test-worker").run_once()

    return run


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "sev1", "services": ["checkout"], **fields}
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def engage(client: AsyncClient, caller: Caller, ref: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        f"{API}/{ref}/vendors", json={"vendor": "cloudco", **fields}, headers=caller.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def engagements(client: AsyncClient, caller: Caller, ref: str) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/{ref}/vendors", headers=caller.headers)
    assert response.status_code == 200
    return list(response.json())


async def deadline_jobs(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        sa.select(Job.status).where(Job.kind == "incident.vendor_deadline").order_by(Job.id)
    )
    found = [str(getattr(status, "value", status)) for status in rows.all()]
    await session.rollback()  # SQLite: a read transaction holds the write lock
    return found


async def timeline_kinds(client: AsyncClient, caller: Caller, ref: str) -> list[str]:
    response = await client.get(f"{API}/{ref}/timeline", headers=caller.headers)
    return [e["kind"] for e in response.json()]


async def test_engaging_shows_the_contact_protocol_and_starts_the_contract_clock(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, ic)
    engaged = await engage(client, ic, ref, case_id="CASE-1", notes="opened via portal")
    contact = engaged["contact"]
    assert contact["portal_url"].startswith("https://support.cloudco.example")
    assert (contact["phone"], contact["account_id"]) == ("+1 555 0100", "ACME-991")
    assert contact["escalation_contacts"][0]["name"] == "Duty manager"
    assert engaged["response_minutes"] == 30
    assert engaged["response"]["verdict"] == "running"
    assert engaged["response"]["seconds_left"] == 30 * 60

    clock.advance(timedelta(minutes=12))
    listed = await engagements(client, ic, ref)
    assert listed[0]["response"]["seconds_left"] == 18 * 60

    acked = await client.patch(
        f"{API}/{ref}/vendors/{engaged['id']}", json={"acknowledged": True}, headers=ic.headers
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["response"]["verdict"] == "met"
    assert acked.json()["response"]["seconds_taken"] == 12 * 60

    clock.advance(timedelta(hours=2))
    resolved = await client.patch(
        f"{API}/{ref}/vendors/{engaged['id']}",
        json={"resolved": True, "notes": "capacity restored", "case_id": "CASE-1b"},
        headers=ic.headers,
    )
    body = resolved.json()
    assert (body["resolved_at"] is not None, body["notes"], body["case_id"]) == (
        True,
        "capacity restored",
        "CASE-1b",
    )
    assert body["response"]["verdict"] == "met"

    kinds = await timeline_kinds(client, ic, ref)
    assert kinds.count("vendor_engaged") == 1 and kinds.count("vendor_updated") == 2
    actions = list(
        (
            await session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_id == ref))
        ).all()
    )
    await session.rollback()
    assert {"incident.vendor.engage", "incident.vendor.update"} <= set(actions)


async def test_an_unacknowledged_vendor_is_flagged_overdue_at_the_contractual_deadline(
    client: AsyncClient,
    session: AsyncSession,
    world: None,
    clock: FrozenClock,
    run_worker: Any,
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, ic)
    engaged = await engage(client, ic, ref)
    assert await deadline_jobs(session) == ["queued"]

    clock.advance(timedelta(minutes=29))
    await run_worker()
    assert await deadline_jobs(session) == ["queued"]
    assert (await engagements(client, ic, ref))[0]["overdue_at"] is None

    clock.advance(timedelta(minutes=1))
    async with events.bus.stream() as heard:
        await run_worker()
        names = []
        while not heard.empty():
            names.append(heard.get_nowait().name)
    assert "incident.vendor_overdue" in names
    flagged = (await engagements(client, ic, ref))[0]
    assert flagged["overdue_at"] is not None
    assert flagged["response"]["verdict"] == "breached"
    assert "vendor_overdue" in await timeline_kinds(client, ic, ref)
    assert await deadline_jobs(session) == ["succeeded"]
    # a repeated delivery of the timer flags nothing twice
    assert await vendor_service.check_deadline(session, engaged["id"]) is False
    await session.rollback()
    assert (await timeline_kinds(client, ic, ref)).count("vendor_overdue") == 1

    # a late acknowledgement is recorded but the contract stays breached
    clock.advance(timedelta(minutes=5))
    late = await client.patch(
        f"{API}/{ref}/vendors/{engaged['id']}", json={"acknowledged": True}, headers=ic.headers
    )
    assert late.json()["response"]["verdict"] == "breached"


async def test_an_acknowledged_vendor_is_not_flagged_and_the_timer_is_set_once(
    client: AsyncClient,
    session: AsyncSession,
    world: None,
    clock: FrozenClock,
    run_worker: Any,
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, ic)
    engaged = await engage(client, ic, ref)
    clock.advance(timedelta(minutes=10))
    await client.patch(
        f"{API}/{ref}/vendors/{engaged['id']}", json={"acknowledged": True}, headers=ic.headers
    )
    clock.advance(timedelta(hours=1))
    await run_worker()
    assert await deadline_jobs(session) == ["succeeded"]
    assert (await engagements(client, ic, ref))[0]["overdue_at"] is None
    assert "vendor_overdue" not in await timeline_kinds(client, ic, ref)


async def test_without_a_contract_for_the_severity_nothing_is_measured_or_timed(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, run_worker: Any
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, ic, severity="sev4")
    engaged = await engage(client, ic, ref)
    assert engaged["response"]["verdict"] == "no_contract"
    clock.advance(timedelta(days=2))
    await run_worker()
    assert await deadline_jobs(session) == []
    assert (await engagements(client, ic, ref))[0]["overdue_at"] is None


async def test_bad_engagements_are_refused_and_change_nothing(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    viewer = await make_caller(session, Role.VIEWER)
    ref = await declare(client, ic)
    unknown = await client.post(
        f"{API}/{ref}/vendors", json={"vendor": "nobody"}, headers=ic.headers
    )
    assert unknown.status_code == 422 and "vendor" in unknown.text
    future = (clock.now() + timedelta(minutes=5)).isoformat()
    ahead = await client.post(
        f"{API}/{ref}/vendors",
        json={"vendor": "cloudco", "contacted_at": future},
        headers=ic.headers,
    )
    assert ahead.status_code == 422 and "contacted_at" in ahead.text
    refused = await client.post(
        f"{API}/{ref}/vendors", json={"vendor": "cloudco"}, headers=viewer.headers
    )
    assert refused.status_code == 403
    assert await engagements(client, ic, ref) == []

    engaged = await engage(client, ic, ref)
    before = (clock.now() - timedelta(hours=1)).isoformat()
    early = await client.patch(
        f"{API}/{ref}/vendors/{engaged['id']}", json={"acknowledged_at": before}, headers=ic.headers
    )
    assert early.status_code == 422 and "acknowledged_at" in early.text
    assert (await engagements(client, ic, ref))[0]["acknowledged_at"] is None
    missing = await client.patch(
        f"{API}/{ref}/vendors/999", json={"notes": "x"}, headers=ic.headers
    )
    assert missing.status_code == 404


async def test_vendor_engagements_of_a_private_incident_are_invisible_to_non_participants(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, owner, title="Breach", type="security", visibility="private")
    engaged = await engage(client, owner, ref)
    assert (await client.get(f"{API}/{ref}/vendors", headers=outsider.headers)).status_code == 404
    peek = await client.post(
        f"{API}/{ref}/vendors", json={"vendor": "cloudco"}, headers=outsider.headers
    )
    assert peek.status_code == 404
    poke = await client.patch(
        f"{API}/{ref}/vendors/{engaged['id']}", json={"notes": "x"}, headers=outsider.headers
    )
    assert poke.status_code == 404
    assert len(await engagements(client, owner, ref)) == 1
