"""The incident bridge: link, structured updates, the update timer (reminder, escalation),
adherence, and private incidents — through the API and the worker's run-once pass."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, make_caller
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.db.engine import make_engine, make_sessionmaker
from tocsin.events import Event, bus
from tocsin.incidents.bridge import service as bridge
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker
from tocsin.policy import service as policy

API = "/api/v1/incidents"


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> None:
    await policy.ensure_default_policies(session)
    await session.commit()


@pytest.fixture
def worker(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Worker:
    return Worker(settings, sessionmaker, worker_id="bridge-test")


@pytest.fixture
def published() -> Any:
    seen: list[Event] = []

    async def keep(event: Event) -> None:
        if event.name.startswith("incident.bridge."):
            seen.append(event)

    bus.on("*", keep)
    yield seen
    bus._reactions["*"].remove(keep)


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "sev2", **fields}
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def make_commander(client: AsyncClient, caller: Caller, ref: str, ic: Caller) -> None:
    response = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "incident-commander", "user": ic.user.email},
        headers=caller.headers,
    )
    assert response.status_code == 200, response.text


async def post_update(
    client: AsyncClient, caller: Caller, ref: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "current_status": "Payments failing for 20% of checkouts",
        "actions": "Rolling back release 4.2",
        "next_steps": "Watch error rates",
        **fields,
    }
    response = await client.post(f"{API}/{ref}/updates", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def bridge_of(client: AsyncClient, caller: Caller, ref: str) -> dict[str, Any]:
    response = await client.get(f"{API}/{ref}/bridge", headers=caller.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def timeline(client: AsyncClient, caller: Caller, ref: str) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/{ref}/timeline", headers=caller.headers)
    assert response.status_code == 200
    return list(response.json())


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in events]


async def bridge_jobs(session: AsyncSession) -> list[datetime]:
    """When the queued update checks will run."""
    rows = await session.scalars(
        sa.select(Job.run_at).where(Job.kind == bridge.CHECK_KIND, Job.status == "queued")
    )
    found = list(rows.all())
    await session.rollback()  # SQLite: a read transaction holds the write lock
    return found


async def test_posting_an_update_records_it_and_schedules_the_next_due_check(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder)
    posted = await post_update(client, responder, ref)
    assert posted["next_due"] is not None
    due = clock.now() + timedelta(minutes=60)  # SEV2 has no bridge group: the 60-minute fallback
    assert posted["cadence_minutes"] == 60

    view = await bridge_of(client, responder, ref)
    assert view["url"] == f"https://meet.example.com/{ref}"
    assert view["cadence_minutes"] == 60
    assert view["overdue"] is False
    assert view["next_due"].startswith(due.isoformat()[:19])

    events = await timeline(client, responder, ref)
    update = next(e for e in events if e["kind"] == "update")
    assert update["data"]["actions"] == "Rolling back release 4.2"
    listed = (await client.get(f"{API}/{ref}/updates", headers=responder.headers)).json()
    assert [u["current_status"] for u in listed] == [posted["current_status"]]

    [check] = await bridge_jobs(session)  # at the due time, or sooner to catch severity changes
    assert clock.now() < check <= due
    actions = await session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_id == ref))
    assert "incident.bridge.update_posted" in actions.all()
    await session.rollback()


async def test_a_missed_update_reminds_the_commander_then_a_second_miss_escalates(
    client: AsyncClient,
    session: AsyncSession,
    world: None,
    clock: FrozenClock,
    worker: Worker,
    published: list[Event],
) -> None:
    responder = await make_caller(session)
    ic = await make_caller(session)
    ref = await declare(client, responder)
    await make_commander(client, responder, ref, ic)
    await post_update(client, responder, ref)

    clock.advance(timedelta(minutes=59))
    await worker.run_once()
    assert "update.reminder" not in kinds(await timeline(client, responder, ref))

    clock.advance(timedelta(minutes=2))
    await worker.run_once()
    view = await bridge_of(client, responder, ref)
    assert view["overdue"] is True
    assert view["overdue_by_seconds"] == 60
    events = await timeline(client, responder, ref)
    reminders = [e for e in events if e["kind"] == "update.reminder"]
    assert len(reminders) == 1
    assert ic.user.email in reminders[0]["text"]
    assert [e.name for e in published if e.name != "incident.bridge.updated"] == [
        "incident.bridge.reminder"
    ]

    await worker.run_once()  # running again gives no second reminder for the same due time
    assert kinds(await timeline(client, responder, ref)).count("update.reminder") == 1

    clock.advance(timedelta(minutes=60))
    await worker.run_once()
    events = await timeline(client, responder, ref)
    assert kinds(events).count("update.escalated") == 1
    assert published[-1].name == "incident.bridge.escalated"
    assert published[-1].data["incident_commander"] == ic.user.email

    adherence = (await bridge_of(client, responder, ref))["adherence"]
    assert adherence == {
        "due": 3,
        "on_time": 1,  # the first update came within the cadence from declaration
        "late": 0,
        "missed": 2,  # the two due times since then
        "late_by_seconds": [],
        "worst_late_by_seconds": None,
    }


async def test_posting_an_update_clears_overdue_and_late_updates_are_measured(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, worker: Worker
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder)
    await post_update(client, responder, ref)
    clock.advance(timedelta(minutes=70))
    await worker.run_once()
    assert (await bridge_of(client, responder, ref))["overdue"] is True

    await post_update(client, responder, ref, current_status="Rolled back; recovering")
    view = await bridge_of(client, responder, ref)
    assert view["overdue"] is False
    assert view["adherence"]["late"] == 1
    assert view["adherence"]["late_by_seconds"] == [600]

    clock.advance(timedelta(minutes=30))
    await worker.run_once()
    assert kinds(await timeline(client, responder, ref)).count("update.reminder") == 1


async def test_resolving_stops_the_reminders(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, worker: Worker
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder)
    await post_update(client, responder, ref)
    for item in ("impact-ended", "fix-verified", "alerts-clear"):
        done = await client.put(
            f"{API}/{ref}/checklists",
            json={"checklist": "technical", "item": item, "state": "done"},
            headers=responder.headers,
        )
        assert done.status_code == 200, done.text
    response = await client.post(
        f"{API}/{ref}/status", json={"status": "resolved"}, headers=responder.headers
    )
    assert response.status_code == 200, response.text
    clock.advance(timedelta(hours=5))
    await worker.run_once()
    events = kinds(await timeline(client, responder, ref))
    assert "update.reminder" not in events
    assert "update.escalated" not in events
    assert await bridge_jobs(session) == []
    view = await bridge_of(client, responder, ref)
    assert view["overdue"] is False
    assert view["next_due"] is None


async def test_a_raised_severity_pulls_the_next_update_forward(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, worker: Worker
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder, severity="sev3")
    posted = await post_update(client, responder, ref)
    assert posted["cadence_minutes"] == 240
    response = await client.patch(
        f"{API}/{ref}", json={"severity": "sev1"}, headers=responder.headers
    )
    assert response.status_code == 200, response.text
    view = await bridge_of(client, responder, ref)
    assert view["cadence_minutes"] == 15  # SEV1's policy expects engineering updates every 15'

    clock.advance(timedelta(minutes=16))
    await worker.run_once()  # the timer looks again within 15 minutes and finds it overdue
    events = kinds(await timeline(client, responder, ref))
    assert "update.reminder" in events


async def test_a_lowered_severity_without_cadence_gives_no_reminder(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, worker: Worker
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder)
    await post_update(client, responder, ref)
    response = await client.patch(
        f"{API}/{ref}", json={"severity": "sev4"}, headers=responder.headers
    )
    assert response.status_code == 200
    clock.advance(timedelta(hours=3))
    await worker.run_once()
    assert "update.reminder" not in kinds(await timeline(client, responder, ref))
    view = await bridge_of(client, responder, ref)
    assert view["cadence_minutes"] is None
    assert view["overdue"] is False


async def test_a_restart_loses_no_timer(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, settings: Settings
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder)
    await post_update(client, responder, ref)
    clock.advance(timedelta(minutes=61))
    engine = make_engine(settings)  # a new process: its own engine and worker
    try:
        assert await Worker(settings, make_sessionmaker(engine)).run_once() >= 1
    finally:
        await engine.dispose()
    assert "update.reminder" in kinds(await timeline(client, responder, ref))


async def test_the_link_can_be_set_by_hand_and_reset(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder)
    link = "https://zoom.example.com/j/123"
    response = await client.put(
        f"{API}/{ref}/bridge", json={"url": link}, headers=responder.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["url"] == link
    assert response.json()["url_set_by_hand"] is True
    assert "bridge.link_set" in kinds(await timeline(client, responder, ref))
    assert len(await bridge_jobs(session)) == 1  # opening the bridge starts the update timer

    bad = await client.put(
        f"{API}/{ref}/bridge", json={"url": "javascript:alert(1)"}, headers=responder.headers
    )
    assert bad.status_code == 422
    reset = await client.put(f"{API}/{ref}/bridge", json={"url": ""}, headers=responder.headers)
    assert reset.json()["url"] == f"https://meet.example.com/{ref}"


async def test_updates_are_validated_and_need_the_note_permission(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session)
    viewer = await make_caller(session, Role.VIEWER)
    ref = await declare(client, responder)
    planned = await bridge_jobs(session)  # the first update's check, planned at declaration
    body = {"current_status": "x"}
    denied = await client.post(f"{API}/{ref}/updates", json=body, headers=viewer.headers)
    assert denied.status_code == 403
    past = (clock.now() - timedelta(minutes=1)).isoformat()
    refused = await client.post(
        f"{API}/{ref}/updates", json={**body, "next_due": past}, headers=responder.headers
    )
    assert refused.status_code == 422
    assert "next_due" in refused.text
    assert (await client.get(f"{API}/{ref}/updates", headers=viewer.headers)).json() == []
    assert await bridge_jobs(session) == planned


async def test_a_promised_earlier_update_is_the_one_due(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder)
    promised = clock.now() + timedelta(minutes=20)
    await post_update(client, responder, ref, next_due=promised.isoformat())
    view = await bridge_of(client, responder, ref)
    assert view["next_due"].startswith(promised.isoformat()[:19])
    [check] = await bridge_jobs(session)
    assert check <= promised


async def test_private_incident_updates_are_invisible_to_non_participants(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    owner = await make_caller(session)
    outsider = await make_caller(session)
    admin = await make_caller(session, Role.ADMIN)
    ref = await declare(client, owner, visibility="private")
    await post_update(client, owner, ref)
    for path in ("bridge", "updates"):
        hidden = await client.get(f"{API}/{ref}/{path}", headers=outsider.headers)
        assert hidden.status_code == 404
    posted = await client.post(
        f"{API}/{ref}/updates", json={"current_status": "x"}, headers=outsider.headers
    )
    assert posted.status_code == 404
    link = await client.put(f"{API}/{ref}/bridge", json={"url": ""}, headers=outsider.headers)
    assert link.status_code == 404
    seen = await client.get(f"{API}/{ref}/updates", headers=admin.headers)
    assert len(seen.json()) == 1


async def test_a_declared_incident_without_any_update_gets_its_reminder(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, worker: Worker
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder)
    assert await bridge_jobs(session), "declaring plans the first update's check"
    clock.advance(timedelta(minutes=61))
    await worker.run_once()
    assert "update.reminder" in kinds(await timeline(client, responder, ref))
