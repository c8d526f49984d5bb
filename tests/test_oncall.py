"""On-call end to end: schedules over the API, escalation policies, and durable pages that
escalate on a timer, stop when acknowledged, and survive a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, make_caller
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import MemberIn, ServiceCreate, TeamCreate
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.db.engine import make_engine, make_sessionmaker
from tocsin.incidents.models import TimelineEvent
from tocsin.jobs import service as jobs
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker
from tocsin.notifications.models import CancelledPage
from tocsin.oncall import handlers as _handlers  # noqa: F401
from tocsin.oncall import service as oncall
from tocsin.oncall.models import OncallPage, OncallSchedule
from tocsin.policy import service as policy

API = "/api/v1/oncall"


@pytest.fixture
async def people(session: AsyncSession, clock: FrozenClock) -> dict[str, Caller]:
    await policy.ensure_default_policies(session)
    found = {
        "admin": await make_caller(session, Role.ADMIN),
        "ada": await make_caller(session),
        "bob": await make_caller(session),
        "cy": await make_caller(session),
        "outsider": await make_caller(session),
        "viewer": await make_caller(session, Role.VIEWER),
    }
    system = Actor.system("test")
    members = [MemberIn(email=found[n].user.email) for n in ("ada", "bob", "cy")]
    await catalog.create_team(
        session, system, TeamCreate(slug="payments", name="Payments", members=members)
    )
    await catalog.create_service(
        session, system, ServiceCreate(slug="checkout", name="Checkout", owner_team="payments")
    )
    return found


def layer(members: list[Caller], **fields: Any) -> dict[str, Any]:
    return {
        "name": "Primary",
        "time_zone": "Europe/Berlin",
        "rotation": "daily",
        "start_date": "2026-01-01",
        "handoff_time": "09:00",
        "members": [m.user.id for m in members],
        **fields,
    }


async def make_schedule(
    client: AsyncClient, caller: Caller, layers: list[dict[str, Any]], slug: str = "primary"
) -> dict[str, Any]:
    body = {"slug": slug, "name": slug.title(), "team": "payments", "layers": layers}
    response = await client.post(f"{API}/schedules", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def schedule_level(schedule: dict[str, Any], timeout_minutes: int) -> dict[str, Any]:
    """An escalation level that pages whoever `schedule` puts on call."""
    return {
        "timeout_minutes": timeout_minutes,
        "targets": [{"type": "schedule", "id": schedule["id"]}],
    }


async def rotation_on_call(
    client: AsyncClient, people: dict[str, Caller], timeout_minutes: int
) -> dict[str, Any]:
    """Checkout's policy pages whoever the rotation [ada, bob] puts on call (hand-off daily at
    09:00 Berlin); the schedule."""
    ada, bob = people["ada"], people["bob"]
    schedule = await make_schedule(client, ada, [layer([ada, bob])])
    await make_policy(client, ada, [schedule_level(schedule, timeout_minutes)])
    return schedule


async def make_policy(
    client: AsyncClient, caller: Caller, levels: list[dict[str, Any]], repeat: int = 0
) -> dict[str, Any]:
    body = {
        "slug": "payments",
        "name": "Payments",
        "team": "payments",
        "repeat": repeat,
        "levels": levels,
    }
    response = await client.post(f"{API}/policies", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    attach = await client.put(
        f"{API}/services/checkout/policy", json={"policy": "payments"}, headers=caller.headers
    )
    assert attach.status_code == 200, attach.text
    return dict(response.json())


async def who(client: AsyncClient, caller: Caller, at: datetime) -> list[list[int]]:
    response = await client.get(
        f"{API}/who", params={"service": "checkout", "at": at.isoformat()}, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    return [level["user_ids"] for level in response.json()["levels"]]


async def page(
    session: AsyncSession, service_id: int, dedup_key: str = "db-down", **extra: Any
) -> None:
    """Enqueue exactly what the alert pipeline enqueues."""
    payload = {
        "service_id": service_id,
        "title": "Database down",
        "summary": "primary unreachable",
        "dedup_key": dedup_key,
        "incident_id": None,
        "alert_group_id": 7,
        **extra,
    }
    await jobs.enqueue(session, "oncall.page", payload, idempotency_key=f"oncall.page:{dedup_key}")
    await session.commit()


async def service_id(session: AsyncSession) -> int:
    found = (await catalog.get_service(session, "checkout")).id
    await session.commit()
    return found


async def paged(session: AsyncSession) -> list[tuple[int, dict[str, Any]]]:
    """(user, notification) of every page notification queued so far, oldest first."""
    rows = await session.scalars(
        sa.select(Job).where(Job.kind == "notifications.dispatch").order_by(Job.id)
    )
    found = [(r.payload["user_id"], r.payload["notification"]) for r in rows]
    await session.commit()  # end the read: on SQLite an open transaction blocks the worker
    return found


@pytest.fixture
def run_worker(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async def run() -> int:
        return await Worker(settings, sessionmaker, worker_id="test-worker").run_once()

    return run


async def test_a_daily_berlin_rotation_hands_off_at_nine_local_across_dst(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    ada, bob = people["ada"], people["bob"]
    created = await rotation_on_call(client, people, 10)
    # Winter (UTC+1): the 09:00 hand-off is 08:00 UTC; summer (UTC+2): 07:00 UTC.
    winter = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert await who(client, ada, winter - timedelta(minutes=1)) == [[]]
    assert await who(client, ada, winter) == [[ada.user.id]]
    assert await who(client, ada, winter + timedelta(days=1)) == [[bob.user.id]]
    summer_day = datetime(2026, 7, 1, tzinfo=UTC)
    before = await oncall.on_call_user_ids(
        session, created["id"], summer_day.replace(hour=6, minute=59)
    )
    after = await oncall.on_call_user_ids(session, created["id"], summer_day.replace(hour=7))
    assert before != after and len(before) == len(after) == 1


async def test_higher_layers_and_overrides_win_and_the_rendering_says_why(
    client: AsyncClient, people: dict[str, Caller]
) -> None:
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    business_hours = [{"weekday": d, "start": "09:00", "minutes": 480} for d in range(5)]
    await make_schedule(
        client,
        ada,
        [
            layer([ada]),
            layer([bob], name="Day shift", rotation="weekly", restrictions=business_hours),
        ],
    )
    override = {
        "user_id": cy.user.id,
        "starts_at": "2026-01-06T10:00:00+00:00",
        "ends_at": "2026-01-06T12:00:00+00:00",
    }
    response = await client.post(
        f"{API}/schedules/primary/overrides", json=override, headers=ada.headers
    )
    assert response.status_code == 201, response.text
    rendered = await client.get(
        f"{API}/schedules/primary/render",
        params={"since": "2026-01-06T00:00:00+00:00", "until": "2026-01-07T00:00:00+00:00"},
        headers=people["viewer"].headers,
    )
    assert rendered.status_code == 200
    assert [
        (s["start"][11:16], s["end"][11:16], s["user_id"], s["source"]) for s in rendered.json()
    ] == [
        ("00:00", "08:00", ada.user.id, "Primary"),
        ("08:00", "10:00", bob.user.id, "Day shift"),
        ("10:00", "12:00", cy.user.id, "override"),
        ("12:00", "16:00", bob.user.id, "Day shift"),
        ("16:00", "00:00", ada.user.id, "Primary"),
    ]


async def test_bad_schedules_are_refused_naming_the_field_and_change_nothing(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    ada = people["ada"]
    cases = [
        (layer([ada], time_zone="Mars/Olympus"), "layers.0.time_zone"),
        ({**layer([ada]), "members": [987654]}, "layers.0.members"),
        (layer([ada], rotation="custom"), "layers.0"),
    ]
    for bad, field in cases:
        body = {"slug": "primary", "name": "Primary", "team": "payments", "layers": [bad]}
        response = await client.post(f"{API}/schedules", json=body, headers=ada.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()
    reserved = {"slug": "new", "name": "New", "team": "payments", "layers": [layer([ada])]}
    response = await client.post(f"{API}/schedules", json=reserved, headers=ada.headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "slug"
    assert await session.scalar(sa.select(sa.func.count()).select_from(OncallSchedule)) == 0


async def test_only_the_owning_team_and_admins_manage_a_schedule(
    client: AsyncClient, people: dict[str, Caller]
) -> None:
    ada = people["ada"]
    await make_schedule(client, ada, [layer([ada])])
    change = {"slug": "primary", "name": "Renamed", "team": "payments", "layers": [layer([ada])]}
    outsider = await client.put(
        f"{API}/schedules/primary", json=change, headers=people["outsider"].headers
    )
    assert outsider.status_code == 403
    viewer = await client.put(
        f"{API}/schedules/primary", json=change, headers=people["viewer"].headers
    )
    assert viewer.status_code == 403
    admin = await client.put(
        f"{API}/schedules/primary", json=change, headers=people["admin"].headers
    )
    assert admin.status_code == 200 and admin.json()["name"] == "Renamed"


async def test_my_oncall_lists_my_next_shifts(
    client: AsyncClient, people: dict[str, Caller]
) -> None:
    ada, bob = people["ada"], people["bob"]
    await make_schedule(client, ada, [layer([ada, bob])])
    mine = await client.get(f"{API}/me", headers=bob.headers)
    assert mine.status_code == 200
    shifts = mine.json()
    assert len(shifts) == 7  # every other day for two weeks
    assert (
        shifts[0]["start"] == "2026-01-06T08:00:00Z" and shifts[0]["end"] == "2026-01-07T08:00:00Z"
    )


async def test_a_page_notifies_level_one_escalates_on_timeout_and_stops_when_acknowledged(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    run_worker: Any,
) -> None:
    ada, bob = people["ada"], people["bob"]
    await make_policy(
        client,
        ada,
        [
            {"timeout_minutes": 5, "targets": [{"type": "user", "id": ada.user.id}]},
            {"timeout_minutes": 5, "targets": [{"type": "user", "id": bob.user.id}]},
        ],
    )
    await page(session, await service_id(session))
    await run_worker()
    notes = await paged(session)
    assert [user for user, _ in notes] == [ada.user.id]
    first = notes[0][1]
    assert first["urgency"] == "high" and first["page_id"] and "/oncall/ack/" in first["link"]

    await page(session, await service_id(session))  # the same problem again
    await session.execute(sa.delete(Job).where(Job.kind == "oncall.page"))
    await page(session, await service_id(session))  # even past the job's own idempotency
    await run_worker()
    assert await session.scalar(sa.select(sa.func.count()).select_from(OncallPage)) == 1
    assert len(await paged(session)) == 1

    clock.advance(timedelta(minutes=4))
    await run_worker()
    assert len(await paged(session)) == 1
    clock.advance(timedelta(minutes=2))
    await run_worker()
    assert [user for user, _ in await paged(session)] == [ada.user.id, bob.user.id]

    page_id = first["page_id"]
    ack = await client.post(f"{API}/pages/{page_id}/acknowledge", headers=bob.headers)
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    again = await client.post(f"{API}/pages/{page_id}/acknowledge", headers=bob.headers)
    assert again.status_code == 409
    # Deliveries still waiting for their delay are withdrawn by the notifications domain.
    assert await session.get(CancelledPage, page_id) is not None
    await session.commit()
    clock.advance(timedelta(hours=1))
    await run_worker()
    assert len(await paged(session)) == 2
    log = [
        entry["kind"]
        for entry in (await client.get(f"{API}/pages/{page_id}", headers=ada.headers)).json()["log"]
    ]
    assert log == ["opened", "notified", "escalated", "notified", "acknowledged"]
    audit = await session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.object_type == "page")
    )
    assert "oncall.page.acknowledge" in set(audit)


async def test_a_policy_repeats_then_gives_up(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    run_worker: Any,
) -> None:
    ada = people["ada"]
    await make_policy(
        client, ada, [{"timeout_minutes": 5, "targets": [{"type": "team", "id": 1}]}], repeat=1
    )
    await page(session, await service_id(session))
    for _ in range(3):
        await run_worker()
        clock.advance(timedelta(minutes=6))
    await run_worker()
    users = [user for user, _ in await paged(session)]
    team = sorted({people[n].user.id for n in ("ada", "bob", "cy")})
    assert sorted(users) == sorted(team * 2)
    detail = (await client.get(f"{API}/pages/1", headers=ada.headers)).json()
    assert detail["log"][-1]["kind"] == "exhausted" and detail["status"] == "open"


async def test_escalation_survives_a_restart(
    settings: Settings, clock: FrozenClock, people: dict[str, Caller]
) -> None:
    """The application and its worker stop after paging level 1; a new process on the same
    database, started after the timeout, escalates to level 2."""
    from tocsin.app import create_app

    ada, bob = people["ada"].user.id, people["bob"].user.id
    first = create_app(settings)
    async with LifespanManager(first):
        async with AsyncClient(transport=ASGITransport(app=first), base_url="http://t") as client:
            await make_policy(
                client,
                people["admin"],
                [
                    {"timeout_minutes": 15, "targets": [{"type": "user", "id": ada}]},
                    {"timeout_minutes": 15, "targets": [{"type": "user", "id": bob}]},
                ],
            )
        engine = make_engine(settings)
        async with make_sessionmaker(engine)() as session:
            await page(session, await service_id(session))
        await Worker(settings, make_sessionmaker(engine), worker_id="before").run_once()
        await engine.dispose()
    # A new process: its own engine and worker on the same database, and time has moved on.
    clock.advance(timedelta(minutes=16))
    engine = make_engine(settings)
    try:
        fresh = make_sessionmaker(engine)
        await Worker(settings, fresh, worker_id="after-restart").run_once()
        async with fresh() as other:
            assert [user for user, _ in await paged(other)] == [ada, bob]
    finally:
        await engine.dispose()


async def test_the_signed_link_acknowledges_without_a_login_after_confirming(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],
    run_worker: Any,
) -> None:
    ada = people["ada"]
    await make_policy(
        client, ada, [{"timeout_minutes": 5, "targets": [{"type": "user", "id": ada.user.id}]}]
    )
    await page(session, await service_id(session))
    await run_worker()
    link = (await paged(session))[0][1]["link"]
    path = link[link.index("/oncall/ack/") :]

    shown = await client.get(path)
    assert shown.status_code == 200 and "Database down" in shown.text and "<form" in shown.text
    assert (await client.get(f"{API}/pages/1", headers=ada.headers)).json()["status"] == "open"

    forged = await client.post(path[:-3] + "xyz")
    assert forged.status_code == 400
    done = await client.post(path)
    assert done.status_code == 200 and "acknowledged" in done.text
    detail = (await client.get(f"{API}/pages/1", headers=ada.headers)).json()
    assert detail["status"] == "acknowledged" and detail["acknowledged_by"] == ada.user.email

    clock.advance(timedelta(days=2))
    expired = await client.get(path)
    assert expired.status_code == 410


async def test_reassigning_pages_a_person_or_restarts_another_policy(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller], run_worker: Any
) -> None:
    ada, cy = people["ada"], people["cy"]
    await make_policy(
        client, ada, [{"timeout_minutes": 5, "targets": [{"type": "user", "id": ada.user.id}]}]
    )
    await page(session, await service_id(session))
    await run_worker()
    bad = await client.post(
        f"{API}/pages/1/reassign", json={"user_id": 987654}, headers=ada.headers
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "user_id"
    moved = await client.post(
        f"{API}/pages/1/reassign", json={"user_id": cy.user.id}, headers=ada.headers
    )
    assert moved.status_code == 200 and moved.json()["notified"] == [cy.user.id]
    assert [user for user, _ in await paged(session)] == [ada.user.id, cy.user.id]
    viewer = await client.post(f"{API}/pages/1/resolve", headers=people["viewer"].headers)
    assert viewer.status_code == 403
    resolved = await client.post(f"{API}/pages/1/resolve", headers=cy.headers)
    assert resolved.json()["status"] == "resolved"


async def test_a_page_with_an_incident_writes_its_steps_on_the_incident_timeline(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller], run_worker: Any
) -> None:
    ada = people["ada"]
    await make_policy(
        client, ada, [{"timeout_minutes": 5, "targets": [{"type": "user", "id": ada.user.id}]}]
    )
    declared = await client.post(
        "/api/v1/incidents",
        json={"title": "Checkout errors", "severity": "sev1", "services": ["checkout"]},
        headers=ada.headers,
    )
    assert declared.status_code == 201, declared.text
    incident_id = declared.json()["id"]
    await page(session, await service_id(session), incident_id=incident_id)
    await run_worker()
    kinds = await session.scalars(
        sa.select(TimelineEvent.kind).where(TimelineEvent.incident_id == incident_id)
    )
    assert {"oncall.opened", "oncall.notified"} <= set(kinds)


async def test_bad_policies_and_queries_are_refused_naming_the_field(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    ada = people["ada"]
    body = {
        "slug": "payments",
        "name": "Payments",
        "team": "payments",
        "levels": [{"timeout_minutes": 5, "targets": [{"type": "schedule", "id": 987654}]}],
    }
    response = await client.post(f"{API}/policies", json=body, headers=ada.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "levels.0.targets.0.id"
    no_levels = await client.post(
        f"{API}/policies", json={**body, "levels": []}, headers=ada.headers
    )
    assert no_levels.status_code == 422 and no_levels.json()["errors"][0]["field"] == "levels"
    assert (await client.get(f"{API}/policies", headers=ada.headers)).json() == []

    unknown = await client.put(
        f"{API}/services/checkout/policy", json={"policy": "nope"}, headers=ada.headers
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "policy"
    when = await client.get(
        f"{API}/who", params={"service": "checkout", "at": "yesterday"}, headers=ada.headers
    )
    assert when.status_code == 422 and when.json()["errors"][0]["field"] == "at"
    await make_schedule(client, ada, [layer([ada])])
    backwards = await client.get(
        f"{API}/schedules/primary/render",
        params={"since": "2026-01-06T00:00:00Z", "until": "2026-01-05T00:00:00Z"},
        headers=ada.headers,
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "until"
    outsider = await client.post(f"{API}/policies", json=body, headers=people["outsider"].headers)
    assert outsider.status_code == 403


async def test_a_service_without_a_policy_gets_a_visible_unrouted_page(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller], run_worker: Any
) -> None:
    await page(session, await service_id(session))
    await run_worker()
    assert await paged(session) == []
    listed = (await client.get(f"{API}/pages?status=open", headers=people["viewer"].headers)).json()
    assert [entry["kind"] for entry in listed[0]["log"]] == ["opened", "unrouted"]
