"""Hand-offs during an open page of a private incident: whoever comes on call for it (a
rotation's hand-off, an override) can open the incident from that moment, without being
paged, and the incident's timeline and the audit trail say why. Time moves with the test
clock; the chain of hand-off checks is durable jobs, so it survives a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller
from tests.test_oncall import (
    layer,
    make_policy,
    make_schedule,
    page,
    people,
    rotation_on_call,
    schedule_level,
    service_id,
)
from tocsin.audit.models import AuditEntry
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.db.engine import make_engine, make_sessionmaker
from tocsin.incidents.models import IncidentParticipant
from tocsin.jobs.models import Job, JobStatus
from tocsin.jobs.worker import Worker

__all__ = ["people"]

API = "/api/v1/oncall"
# The clock starts on Monday 2026-01-05 at 09:00 UTC. The rotation [ada, bob] hands over
# daily at 09:00 Berlin, 08:00 UTC in winter: ada is on call now, bob from Tuesday 08:00 UTC.
HANDOFF = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
def work(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    """Run the worker until nothing is due, as a server's worker would between two moments."""

    async def run() -> None:
        worker = Worker(settings, sessionmaker, worker_id="handoff-worker")
        for _ in range(10):
            if not await worker.run_once():
                return

    return run


async def declare(client: AsyncClient, caller: Caller, visibility: str = "private") -> str:
    declared = await client.post(
        "/api/v1/incidents",
        json={
            "title": "Card data exposure",
            "severity": "sev1",
            "services": ["checkout"],
            "visibility": visibility,
        },
        headers=caller.headers,
    )
    assert declared.status_code == 201, declared.text
    return str(declared.json()["ref"])


async def acknowledged_page(
    client: AsyncClient,
    session: AsyncSession,
    people: dict[str, Caller],
    work: Any,
    visibility: str = "private",
) -> tuple[str, int]:
    """An incident declared by the admin, whose page reached ada, who acknowledged it."""
    ref = await declare(client, people["admin"], visibility)
    incident_id = int(ref.split("-")[1])
    await page(session, await service_id(session), incident_id=incident_id)
    await work()
    [opened] = (await client.get(f"{API}/pages", headers=people["ada"].headers)).json()
    assert opened["notified"] == [people["ada"].user.id]
    ack = await client.post(
        f"{API}/pages/{opened['id']}/acknowledge", headers=people["ada"].headers
    )
    assert ack.status_code == 200, ack.text
    return ref, int(opened["id"])


async def can_open(client: AsyncClient, caller: Caller, ref: str) -> bool:
    response = await client.get(f"/api/v1/incidents/{ref}", headers=caller.headers)
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


async def notified_users(session: AsyncSession) -> list[int]:
    """Everyone any notification has been queued for so far, oldest first."""
    rows = await session.scalars(
        sa.select(Job).where(Job.kind == "notifications.dispatch").order_by(Job.id)
    )
    found = [int(row.payload["user_id"]) for row in rows]
    await session.commit()  # end the read: on SQLite an open transaction blocks the worker
    return found


async def handoff_checks(session: AsyncSession) -> list[datetime]:
    """When the hand-off checks still waiting will run."""
    rows = await session.scalars(
        sa.select(Job.run_at)
        .where(Job.kind == "oncall.handoff", Job.status == JobStatus.QUEUED.value)
        .order_by(Job.run_at)
    )
    found = list(rows)
    await session.commit()
    return found


async def test_whoever_comes_on_call_for_an_acknowledged_page_can_open_the_incident(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    work: Any,
) -> None:
    ada, bob = people["ada"], people["bob"]
    await rotation_on_call(client, people, 30)
    ref, page_id = await acknowledged_page(client, session, people, work)
    assert await can_open(client, ada, ref)
    assert not await can_open(client, bob, ref)

    clock.set(HANDOFF - timedelta(minutes=1))
    await work()
    assert not await can_open(client, bob, ref), "not before the hand-off"
    clock.set(HANDOFF)
    await work()
    assert await can_open(client, bob, ref), "on call for the page from the hand-off on"
    assert await notified_users(session) == [ada.user.id], "an acknowledged page wakes nobody"
    status = (await client.get(f"{API}/pages/{page_id}", headers=bob.headers)).json()["status"]
    assert status == "acknowledged"

    timeline = (await client.get(f"/api/v1/incidents/{ref}/timeline", headers=bob.headers)).json()
    [added] = [
        e
        for e in timeline
        if e["kind"] == "participants_added" and bob.user.id in e["data"]["users"]
    ]
    assert added["text"].startswith(f"{bob.user.name} can see this private incident")
    assert f"on call in Primary for page #{page_id}" in added["text"]
    assert "without being paged" in added["text"]
    assert added["data"]["schedule"] == "primary"
    audited = await session.scalars(
        sa.select(AuditEntry.after).where(AuditEntry.action == "incident.participant_added")
    )
    assert {
        "users": [bob.user.id],
        "page": page_id,
        "schedule": "primary",
        "reason": "on call",
    } in list(audited)
    await session.commit()
    # The chain goes on: the next hand-off is checked in its turn.
    assert await handoff_checks(session) == [HANDOFF + timedelta(days=1)]


async def test_an_unacknowledged_page_lets_in_who_comes_on_call_before_its_next_step(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    work: Any,
) -> None:
    ada, bob = people["ada"], people["bob"]
    schedule = await make_schedule(client, ada, [layer([ada, bob])])
    await make_policy(
        client,
        ada,
        [
            {"timeout_minutes": 5, "targets": [{"type": "user", "id": people["cy"].user.id}]},
            schedule_level(schedule, 5),
        ],
    )
    ref = await declare(client, people["admin"])
    await page(session, await service_id(session), incident_id=int(ref.split("-")[1]))
    await work()
    clock.advance(timedelta(minutes=5))
    await work()  # level 2 pages ada, then the policy is exhausted: the page stays open
    clock.advance(timedelta(minutes=5))
    await work()
    assert await notified_users(session) == [people["cy"].user.id, ada.user.id]
    assert not await can_open(client, bob, ref)

    clock.set(HANDOFF)
    await work()
    assert await can_open(client, bob, ref)
    assert bob.user.id not in await notified_users(session)


async def test_a_public_incident_adds_nobody_and_follows_no_hand_off(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    work: Any,
) -> None:
    bob = people["bob"]
    await rotation_on_call(client, people, 30)
    ref, _ = await acknowledged_page(client, session, people, work, visibility="public")
    assert await handoff_checks(session) == []

    clock.set(HANDOFF)
    await work()
    assert await can_open(client, bob, ref), "anyone may read a public incident"
    members = set(await session.scalars(sa.select(IncidentParticipant.user_id)))
    await session.commit()
    assert bob.user.id not in members
    timeline = (await client.get(f"/api/v1/incidents/{ref}/timeline", headers=bob.headers)).json()
    assert "participants_added" not in {e["kind"] for e in timeline}


async def test_an_incident_made_private_keeps_its_responders_and_follows_hand_offs(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    work: Any,
) -> None:
    ada, bob = people["ada"], people["bob"]
    await rotation_on_call(client, people, 30)
    ref, _ = await acknowledged_page(client, session, people, work, visibility="public")
    made_private = await client.patch(
        f"/api/v1/incidents/{ref}",
        json={"visibility": "private", "reason": "customer data involved"},
        headers=people["admin"].headers,
    )
    assert made_private.status_code == 200, made_private.text
    assert await can_open(client, ada, ref), "the responder its page reached keeps access"
    assert not await can_open(client, bob, ref)
    assert await handoff_checks(session) == [HANDOFF]

    clock.set(HANDOFF)
    await work()
    assert await can_open(client, bob, ref), "on call for the page from the hand-off on"
    assert await notified_users(session) == [ada.user.id]


async def test_a_reopened_private_incident_follows_its_open_page_again(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    work: Any,
) -> None:
    admin, bob = people["admin"], people["bob"]
    await rotation_on_call(client, people, 30)
    ref, _ = await acknowledged_page(client, session, people, work)

    async def move(status: str) -> None:
        moved = await client.post(
            f"/api/v1/incidents/{ref}/status",
            json={"status": status, "reason": "checked"},
            headers=admin.headers,
        )
        assert moved.status_code == 200, moved.text

    for item in ("impact-ended", "fix-verified", "alerts-clear"):
        done = await client.put(
            f"/api/v1/incidents/{ref}/checklists",
            json={"checklist": "technical", "item": item, "state": "done"},
            headers=admin.headers,
        )
        assert done.status_code == 200, done.text
    await move("resolved")
    clock.set(HANDOFF)
    await work()  # resolved: nobody new is let in, and the chain stops
    assert not await can_open(client, bob, ref)
    assert await handoff_checks(session) == []

    await move("investigating")
    assert await can_open(client, bob, ref), "on call for its open page now"
    assert await handoff_checks(session) == [HANDOFF + timedelta(days=1)]


async def test_a_resolved_page_stops_following_hand_offs(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    work: Any,
) -> None:
    ada, bob = people["ada"], people["bob"]
    await rotation_on_call(client, people, 30)
    ref, page_id = await acknowledged_page(client, session, people, work)
    assert await handoff_checks(session) == [HANDOFF]
    resolved = await client.post(f"{API}/pages/{page_id}/resolve", headers=ada.headers)
    assert resolved.status_code == 200, resolved.text

    clock.set(HANDOFF)
    await work()
    assert not await can_open(client, bob, ref), "nobody is on call for a resolved page"
    assert await handoff_checks(session) == [], "and nothing is left waiting for the next one"


async def test_an_override_added_later_lets_its_person_in_when_it_starts(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    work: Any,
) -> None:
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    await rotation_on_call(client, people, 30)
    ref, _ = await acknowledged_page(client, session, people, work)
    assert await handoff_checks(session) == [HANDOFF]

    starts = clock.now() + timedelta(hours=6)
    override = {
        "user_id": cy.user.id,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
    }
    added = await client.post(
        f"{API}/schedules/primary/overrides", json=override, headers=ada.headers
    )
    assert added.status_code == 201, added.text
    assert not await can_open(client, cy, ref), "not on call yet"
    clock.set(starts - timedelta(seconds=1))
    await work()
    assert not await can_open(client, cy, ref)
    clock.set(starts)
    await work()
    assert await can_open(client, cy, ref), "on call from the override's start"
    assert not await can_open(client, bob, ref), "the rotation hands over tomorrow"
    assert cy.user.id not in await notified_users(session)

    # An override already running when it is made lets its person in with the change itself.
    outsider = people["outsider"]
    now = {
        "user_id": outsider.user.id,
        "starts_at": clock.now().isoformat(),
        "ends_at": (clock.now() + timedelta(hours=1)).isoformat(),
    }
    made = await client.post(f"{API}/schedules/primary/overrides", json=now, headers=ada.headers)
    assert made.status_code == 201, made.text
    assert await can_open(client, outsider, ref)
    assert outsider.user.id not in await notified_users(session)


async def test_a_schedule_changed_under_an_acknowledged_page_lets_the_new_person_in_at_once(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    work: Any,
) -> None:
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    await rotation_on_call(client, people, 30)
    ref, _ = await acknowledged_page(client, session, people, work)
    body = {"slug": "primary", "name": "Primary", "team": "payments", "layers": [layer([cy, bob])]}
    changed = await client.put(f"{API}/schedules/primary", json=body, headers=ada.headers)
    assert changed.status_code == 200, changed.text
    assert await can_open(client, cy, ref), "on call from the change on"
    assert cy.user.id not in await notified_users(session)
    assert not await can_open(client, bob, ref)
    # The rotation [cy, bob] hands over as before: bob at 08:00 UTC tomorrow.
    clock.set(HANDOFF)
    await work()
    assert await can_open(client, bob, ref)


async def test_a_policy_changed_to_another_schedule_lets_its_on_call_person_in_at_once(
    client: AsyncClient,
    session: AsyncSession,
    people: dict[str, Caller],
    work: Any,
) -> None:
    ada, cy = people["ada"], people["cy"]
    await rotation_on_call(client, people, 30)
    ref, _ = await acknowledged_page(client, session, people, work)
    nights = await make_schedule(client, ada, [layer([cy])], slug="nights")
    levels = [{"timeout_minutes": 30, "targets": [{"type": "schedule", "id": nights["id"]}]}]
    body = {"slug": "payments", "name": "Payments", "team": "payments", "levels": levels}
    changed = await client.put(f"{API}/policies/payments", json=body, headers=ada.headers)
    assert changed.status_code == 200, changed.text
    assert await can_open(client, cy, ref)
    assert cy.user.id not in await notified_users(session)


async def test_hand_offs_are_followed_across_a_restart(
    settings: Settings, clock: FrozenClock, people: dict[str, Caller]
) -> None:
    """The application and its worker stop while the page is acknowledged; a new process on
    the same database, started after the hand-off, lets the new on-call person in."""
    from tocsin.app import create_app

    first = create_app(settings)
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)

    async def work() -> None:
        await Worker(settings, sessions, worker_id="before").run_once()

    async with (
        LifespanManager(first),
        AsyncClient(transport=ASGITransport(app=first), base_url="http://t") as client,
        sessions() as session,
    ):
        await rotation_on_call(client, people, 30)
        ref, _ = await acknowledged_page(client, session, people, work)
    await engine.dispose()
    incident_id = int(ref.split("-")[1])
    clock.set(HANDOFF + timedelta(hours=3))
    engine = make_engine(settings)
    try:
        fresh = make_sessionmaker(engine)
        await Worker(settings, fresh, worker_id="after-restart").run_once()
        async with fresh() as reading:
            members = set(
                await reading.scalars(
                    sa.select(IncidentParticipant.user_id).where(
                        IncidentParticipant.incident_id == incident_id
                    )
                )
            )
            assert people["bob"].user.id in members
            assert await notified_users(reading) == [people["ada"].user.id]
    finally:
        await engine.dispose()
