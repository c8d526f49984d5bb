"""Coordinating teams in an incident: workstreams, tasks, decisions and task conflicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Caller, make_caller
from tocsin import events
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import ServiceCreate, TeamCreate
from tocsin.clock import FrozenClock
from tocsin.policy import service as policy

API = "/api/v1/incidents"


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> None:
    await policy.ensure_default_policies(session)
    await catalog.create_service(
        session, Actor.system("test"), ServiceCreate(slug="checkout", name="Checkout")
    )
    for slug in ("payments", "database"):
        await catalog.create_team(session, Actor.system("test"), TeamCreate(slug=slug, name=slug))


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "sev1", "services": ["checkout"], **fields}
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def post(client: AsyncClient, caller: Caller, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(path, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def timeline_kinds(client: AsyncClient, caller: Caller, ref: str) -> list[str]:
    response = await client.get(f"{API}/{ref}/timeline", headers=caller.headers)
    return [e["kind"] for e in response.json()]


async def audit_actions(session: AsyncSession, ref: str) -> list[str]:
    rows = await session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.object_id == ref).order_by(AuditEntry.id)
    )
    found = list(rows.all())
    await session.rollback()
    return found


async def test_workstreams_and_tasks_are_listed_most_urgent_first_with_filters(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    dba = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, ic)
    stream = await post(
        client,
        ic,
        f"{API}/{ref}/workstreams",
        {"team": "database", "goal": "Restore replica lag", "lead": dba.user.email},
    )
    assert (stream["team"], stream["lead"], stream["status"]) == (
        "database",
        dba.user.email,
        "active",
    )
    soon = (clock.now() + timedelta(minutes=15)).isoformat()
    later = (clock.now() + timedelta(hours=2)).isoformat()
    low = await post(
        client, ic, f"{API}/{ref}/tasks", {"title": "Tidy", "team": "payments", "priority": "P4"}
    )
    late = await post(
        client,
        ic,
        f"{API}/{ref}/tasks",
        {
            "title": "Fail over",
            "team": "database",
            "priority": "P1",
            "due_at": later,
            "owner": dba.user.email,
            "workstream_id": stream["id"],
        },
    )
    urgent = await post(
        client,
        ic,
        f"{API}/{ref}/tasks",
        {"title": "Drain queue", "team": "payments", "priority": "P1", "due_at": soon},
    )
    listed = (await client.get(f"{API}/{ref}/tasks", headers=ic.headers)).json()
    assert [t["id"] for t in listed] == [urgent["id"], late["id"], low["id"]]
    mine = await client.get(
        f"{API}/{ref}/tasks", params={"owner": dba.user.email}, headers=ic.headers
    )
    assert [t["id"] for t in mine.json()] == [late["id"]]
    by_stream = await client.get(
        f"{API}/{ref}/tasks", params={"workstream_id": stream["id"]}, headers=ic.headers
    )
    assert [t["title"] for t in by_stream.json()] == ["Fail over"]

    changed = await client.patch(
        f"{API}/{ref}/tasks/{late['id']}",
        json={"status": "blocked", "priority": "P2", "owner": ic.user.email},
        headers=ic.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["status"], changed.json()["priority"], changed.json()["owner"]) == (
        "blocked",
        "P2",
        ic.user.email,
    )
    blocked = await client.get(
        f"{API}/{ref}/tasks", params={"status": "blocked"}, headers=ic.headers
    )
    assert [t["id"] for t in blocked.json()] == [late["id"]]

    kinds = await timeline_kinds(client, ic, ref)
    assert (
        kinds.count("task_created") == 3
        and "workstream_opened" in kinds
        and "task_changed" in kinds
    )
    actions = await audit_actions(session, ref)
    assert actions.count("incident.task.create") == 3 and "incident.task.update" in actions


async def test_bad_task_input_is_refused_by_field_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, ic)
    for body, field in (
        ({"title": "x", "team": "nobody"}, "team"),
        ({"title": "x", "team": "payments", "owner": "ghost@example.test"}, "owner"),
        ({"title": "x", "team": "payments", "workstream_id": 999}, "workstream_id"),
        ({"title": "x", "team": "payments", "priority": "P9"}, "priority"),
    ):
        response = await client.post(f"{API}/{ref}/tasks", json=body, headers=ic.headers)
        assert response.status_code == 422, body
        assert field in response.text
    assert (await client.get(f"{API}/{ref}/tasks", headers=ic.headers)).json() == []
    missing = await client.patch(
        f"{API}/{ref}/tasks/999", json={"status": "done"}, headers=ic.headers
    )
    assert missing.status_code == 404


async def test_a_conflict_waits_for_the_commander_and_a_decision_closes_it(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, ic)
    roll_back = await post(
        client, ic, f"{API}/{ref}/tasks", {"title": "Roll back release", "team": "payments"}
    )
    keep = await post(
        client, ic, f"{API}/{ref}/tasks", {"title": "Keep release, migrate", "team": "database"}
    )
    async with events.bus.stream() as heard:
        conflict = await post(
            client,
            ic,
            f"{API}/{ref}/tasks/{roll_back['id']}/conflicts",
            {"other_task_id": keep["id"], "note": "opposite changes to the schema"},
        )
        assert heard.get_nowait().name == "incident.conflict"
    assert conflict["other_task"]["title"] == "Keep release, migrate"

    # the same pair, from either side, cannot be opened twice; a task never conflicts with itself
    again = await client.post(
        f"{API}/{ref}/tasks/{keep['id']}/conflicts",
        json={"other_task_id": roll_back["id"]},
        headers=ic.headers,
    )
    assert again.status_code == 409
    itself = await client.post(
        f"{API}/{ref}/tasks/{keep['id']}/conflicts",
        json={"other_task_id": keep["id"]},
        headers=ic.headers,
    )
    assert itself.status_code == 422

    open_ = (await client.get(f"{API}/{ref}/conflicts", headers=ic.headers)).json()
    assert [c["id"] for c in open_] == [conflict["id"]]

    clock.advance(timedelta(minutes=5))
    decision = await post(
        client,
        ic,
        f"{API}/{ref}/conflicts/{conflict['id']}/resolve",
        {
            "decision": "Roll back; migrate tomorrow",
            "options": ["Roll back", "Migrate forward"],
            "rationale": "Rollback is tested; migration is not",
            "dissent": [{"who": "database team", "note": "rollback loses an hour of writes"}],
        },
    )
    assert sorted(decision["task_ids"]) == sorted([roll_back["id"], keep["id"]])
    assert ic.user.email in decision["decided_by"]
    assert decision["dissent"] == [
        {"who": "database team", "note": "rollback loses an hour of writes"}
    ]

    assert (await client.get(f"{API}/{ref}/conflicts", headers=ic.headers)).json() == []
    settled = (
        await client.get(f"{API}/{ref}/conflicts", params={"all": "true"}, headers=ic.headers)
    ).json()
    assert settled[0]["decision_id"] == decision["id"]
    log = (await client.get(f"{API}/{ref}/decisions", headers=ic.headers)).json()
    assert [d["decision"] for d in log] == ["Roll back; migrate tomorrow"]
    twice = await client.post(
        f"{API}/{ref}/conflicts/{conflict['id']}/resolve",
        json={"decision": "again"},
        headers=ic.headers,
    )
    assert twice.status_code == 409
    assert len((await client.get(f"{API}/{ref}/decisions", headers=ic.headers)).json()) == 1

    kinds = await timeline_kinds(client, ic, ref)
    assert {"task_conflict_raised", "decision", "task_conflict_resolved"} <= set(kinds)
    actions = await audit_actions(session, ref)
    assert {
        "incident.conflict.raise",
        "incident.decision.create",
        "incident.conflict.resolve",
    } <= set(actions)


async def test_decisions_are_logged_in_order_and_need_write_permission(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    ic = await make_caller(session, Role.RESPONDER)
    viewer = await make_caller(session, Role.VIEWER)
    ref = await declare(client, ic)
    await post(client, ic, f"{API}/{ref}/decisions", {"decision": "Page the vendor"})
    clock.advance(timedelta(minutes=1))
    await post(
        client,
        ic,
        f"{API}/{ref}/decisions",
        {"decision": "Freeze deploys", "options": ["Freeze", "Carry on"]},
    )
    log = (await client.get(f"{API}/{ref}/decisions", headers=viewer.headers)).json()
    assert [d["decision"] for d in log] == ["Page the vendor", "Freeze deploys"]
    refused = await client.post(
        f"{API}/{ref}/decisions", json={"decision": "x"}, headers=viewer.headers
    )
    assert refused.status_code == 403
    refused = await client.post(
        f"{API}/{ref}/tasks", json={"title": "x", "team": "payments"}, headers=viewer.headers
    )
    assert refused.status_code == 403
    unknown = await client.post(
        f"{API}/{ref}/decisions", json={"decision": "x", "votes": 3}, headers=ic.headers
    )
    assert unknown.status_code == 422


async def test_coordination_of_a_private_incident_is_invisible_to_non_participants(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    admin = await make_caller(session, Role.ADMIN)
    ref = await declare(client, owner, title="Breach", type="security", visibility="private")
    task = await post(
        client, owner, f"{API}/{ref}/tasks", {"title": "Rotate keys", "team": "payments"}
    )
    other = await post(
        client, owner, f"{API}/{ref}/tasks", {"title": "Keep keys", "team": "database"}
    )
    conflict = await post(
        client, owner, f"{API}/{ref}/tasks/{task['id']}/conflicts", {"other_task_id": other["id"]}
    )
    for path in ("/workstreams", "/tasks", "/decisions", "/conflicts"):
        assert (await client.get(f"{API}/{ref}{path}", headers=outsider.headers)).status_code == 404
        assert (await client.get(f"{API}/{ref}{path}", headers=admin.headers)).status_code == 200
    for method, path, body in (
        ("POST", "/tasks", {"title": "peek", "team": "payments"}),
        ("PATCH", f"/tasks/{task['id']}", {"status": "done"}),
        ("POST", "/workstreams", {"team": "payments", "goal": "peek"}),
        ("POST", "/decisions", {"decision": "peek"}),
        ("POST", f"/conflicts/{conflict['id']}/resolve", {"decision": "peek"}),
        ("POST", f"/tasks/{task['id']}/conflicts", {"other_task_id": other["id"]}),
    ):
        response = await client.request(
            method, f"{API}/{ref}{path}", json=body, headers=outsider.headers
        )
        assert response.status_code == 404, path
    assert len((await client.get(f"{API}/{ref}/conflicts", headers=owner.headers)).json()) == 1
