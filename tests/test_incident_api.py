"""The incident API: declare, read, change, and the rules every change goes through."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Caller, make_caller
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import ServiceCreate
from tocsin.clock import FrozenClock
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.policy import service as policy

API = "/api/v1/incidents"
TECHNICAL = ["impact-ended", "fix-verified", "alerts-clear"]
BUSINESS = ["customers-notified", "failed-work-reprocessed", "support-briefed"]


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> None:
    """Default severities (SEV1-SEV4 with their checklists) and two services."""
    await policy.ensure_default_policies(session)
    for slug in ("checkout", "search"):
        await catalog.create_service(
            session, Actor.system("test"), ServiceCreate(slug=slug, name=slug.title())
        )


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> dict[str, Any]:
    body = {"title": "Checkout errors", "severity": "sev1", "services": ["checkout"], **fields}
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def tick(
    client: AsyncClient, caller: Caller, ref: str, checklist: str, items: list[str]
) -> None:
    for item in items:
        response = await client.put(
            f"{API}/{ref}/checklists",
            json={"checklist": checklist, "item": item, "state": "done"},
            headers=caller.headers,
        )
        assert response.status_code == 200, response.text


async def move(client: AsyncClient, caller: Caller, ref: str, status: str, reason: str = "") -> Any:
    return await client.post(
        f"{API}/{ref}/status", json={"status": status, "reason": reason}, headers=caller.headers
    )


async def timeline_kinds(client: AsyncClient, caller: Caller, ref: str) -> list[str]:
    response = await client.get(f"{API}/{ref}/timeline", headers=caller.headers)
    assert response.status_code == 200
    return [e["kind"] for e in response.json()]


async def audit_actions(session: AsyncSession, ref: str) -> list[str]:
    rows = await session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.object_id == ref).order_by(AuditEntry.id)
    )
    found = list(rows.all())
    await session.rollback()  # SQLite: a read transaction holds the write lock
    return found


async def test_declaring_an_incident_records_who_what_and_when(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    incident = await declare(
        client,
        responder,
        summary="5xx on payment",
        type="degradation",
        customers_affected=120,
        revenue_per_hour="2500.50",
        regulatory=True,
        links=[{"kind": "ticket", "url": "https://tickets.example.test/T-1", "title": "T-1"}],
        impact_started_at=(clock.now() - timedelta(minutes=20)).isoformat(),
        detected_at=(clock.now() - timedelta(minutes=5)).isoformat(),
    )
    assert incident["ref"] == f"INC-{incident['id']}"
    assert incident["status"] == "declared"
    assert incident["services"] == ["checkout"]
    assert incident["revenue_per_hour"] == "2500.50"
    assert incident["regulatory"] is True and incident["reputational"] is False
    assert incident["links"][0]["kind"] == "ticket"
    assert incident["created_by"] == responder.user.email
    assert [p["email"] for p in incident["participants"]] == [responder.user.email]
    assert set(incident["milestones"]) == {"impact_started", "detected", "declared"}
    assert incident["milestones"]["declared"]["at"].startswith("2026-01-05T09:00:00")
    assert incident["milestones"]["declared"]["set_by"].startswith(responder.user.email)

    got = await client.get(f"{API}/{incident['ref'].lower()}", headers=responder.headers)
    assert got.status_code == 200 and got.json()["title"] == "Checkout errors"
    assert await timeline_kinds(client, responder, incident["ref"]) == ["declared"]
    assert await audit_actions(session, incident["ref"]) == ["incident.declared"]


async def test_declaration_refuses_unknown_severities_and_services_naming_the_field(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    bad_severity = await client.post(
        API, json={"title": "x", "severity": "sev9"}, headers=responder.headers
    )
    assert bad_severity.status_code == 422
    assert bad_severity.json()["errors"][0]["field"] == "severity"
    bad_service = await client.post(
        API,
        json={"title": "x", "severity": "sev2", "services": ["checkout", "nope"]},
        headers=responder.headers,
    )
    assert bad_service.status_code == 422
    assert bad_service.json()["errors"][0]["field"] == "services.1"
    assert await session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


async def test_list_filters_by_status_severity_service_and_activity(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    first = await declare(client, responder, title="Checkout down")
    second = await declare(
        client, responder, title="Search slow", severity="sev3", services=["search"]
    )
    assert (await move(client, responder, second["ref"], "investigating")).status_code == 200

    async def refs(**params: Any) -> list[str]:
        response = await client.get(API, params=params, headers=responder.headers)
        assert response.status_code == 200
        return [i["ref"] for i in response.json()]

    assert await refs() == [second["ref"], first["ref"]]
    assert await refs(status="investigating") == [second["ref"]]
    assert await refs(severity="sev1") == [first["ref"]]
    assert await refs(service="search") == [second["ref"]]
    assert await refs(active="true") == [second["ref"], first["ref"]]
    assert await refs(active="false") == []


async def test_patch_changes_impact_and_severity_on_the_timeline_and_audit(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    incident = await declare(client, responder)
    ref = incident["ref"]
    response = await client.patch(
        f"{API}/{ref}",
        json={
            "severity": "sev2",
            "customers_affected": 40,
            "reputational": True,
            "services": ["search", "checkout"],
            "reason": "fewer customers than feared",
        },
        headers=responder.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["severity"] == "sev2" and body["customers_affected"] == 40
    assert body["services"] == ["checkout", "search"]
    events = (await client.get(f"{API}/{ref}/timeline", headers=responder.headers)).json()
    severity_change = next(e for e in events if e["kind"] == "severity_changed")
    assert severity_change["data"] == {
        "from": "sev1",
        "to": "sev2",
        "reason": "fewer customers than feared",
    }
    assert events[-1]["kind"] == "updated"
    entry = await session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "incident.updated")
    )
    assert entry is not None and entry.before and entry.after
    assert entry.before["severity"] == "sev1" and entry.after["severity"] == "sev2"
    assert entry.after["services"] == ["checkout", "search"]
    await session.rollback()

    null_title = await client.patch(f"{API}/{ref}", json={"title": None}, headers=responder.headers)
    assert null_title.status_code == 422


async def test_a_milestone_out_of_order_is_refused_naming_both_milestones(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    incident = await declare(
        client, responder, impact_started_at=(clock.now() - timedelta(minutes=30)).isoformat()
    )
    ref = incident["ref"]
    early = (clock.now() - timedelta(minutes=45)).isoformat()
    response = await client.put(
        f"{API}/{ref}/milestones/mitigated", json={"at": early}, headers=responder.headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["conflict"]["milestone"] == "mitigated"
    assert problem["conflict"]["conflicts_with"] == "impact_started"
    assert problem["errors"][0]["field"] == "milestones.mitigated"
    assert "mitigated" in problem["detail"] and "impact_started" in problem["detail"]

    too_late_detection = await client.put(
        f"{API}/{ref}/milestones/detected",
        json={"at": (clock.now() + timedelta(minutes=4)).isoformat()},
        headers=responder.headers,
    )
    assert too_late_detection.status_code == 422
    assert too_late_detection.json()["conflict"] == {
        "milestone": "declared",
        "at": clock.now().isoformat(),
        "conflicts_with": "detected",
        "conflicts_with_at": (clock.now() + timedelta(minutes=4)).isoformat(),
    }
    future = await client.put(
        f"{API}/{ref}/milestones/mitigated",
        json={"at": (clock.now() + timedelta(hours=1)).isoformat()},
        headers=responder.headers,
    )
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "at"
    after = (await client.get(f"{API}/{ref}", headers=responder.headers)).json()
    assert set(after["milestones"]) == {"impact_started", "declared"}


async def test_correcting_a_milestone_keeps_old_value_new_value_who_and_why(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    incident = await declare(client, responder)
    ref = incident["ref"]
    first = (clock.now() - timedelta(minutes=10)).isoformat()
    set_once = await client.put(
        f"{API}/{ref}/milestones/impact_started",
        json={"at": first, "source": "alertmanager", "evidence": "first 5xx alert"},
        headers=responder.headers,
    )
    assert set_once.status_code == 200
    assert set_once.json()["milestones"]["impact_started"]["set_by"] == "alertmanager"
    assert set_once.json()["milestones"]["impact_started"]["set_by_kind"] == "source"

    earlier = (clock.now() - timedelta(minutes=25)).isoformat()
    no_reason = await client.put(
        f"{API}/{ref}/milestones/impact_started", json={"at": earlier}, headers=responder.headers
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "reason"

    corrected = await client.put(
        f"{API}/{ref}/milestones/impact_started",
        json={"at": earlier, "reason": "customer reports from 08:35", "evidence": "3 tickets"},
        headers=responder.headers,
    )
    assert corrected.status_code == 200
    events = (await client.get(f"{API}/{ref}/timeline", headers=responder.headers)).json()
    correction = events[-1]
    assert correction["kind"] == "milestone_corrected"
    assert (
        correction["actor"]
        == f"{responder.user.email} (token {correction['actor'].split('token ')[1]}"
    )
    assert correction["data"]["old"] == first and correction["data"]["new"] == earlier
    assert correction["data"]["reason"] == "customer reports from 08:35"
    assert (await audit_actions(session, ref))[-1] == "incident.milestone_corrected"


async def test_status_walk_sets_milestones_and_resolution_needs_its_checklist(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, responder))["ref"]
    for status in ("investigating", "identified", "monitoring"):
        clock.advance(timedelta(minutes=5))
        assert (await move(client, responder, ref, status)).status_code == 200

    refused = await move(client, responder, ref, "resolved")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"] == "checklists.technical"
    assert all(item in refused.json()["detail"] for item in TECHNICAL)

    await tick(client, responder, ref, "technical", TECHNICAL[:2])
    no_reason = await client.put(
        f"{API}/{ref}/checklists",
        json={"checklist": "technical", "item": "alerts-clear", "state": "waived"},
        headers=responder.headers,
    )
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    waived = await client.put(
        f"{API}/{ref}/checklists",
        json={
            "checklist": "technical",
            "item": "alerts-clear",
            "state": "waived",
            "reason": "alert source is down",
        },
        headers=responder.headers,
    )
    assert waived.status_code == 200 and waived.json()["technical_complete"] is True
    assert (await move(client, responder, ref, "resolved")).status_code == 200

    assert (await move(client, responder, ref, "closed")).status_code == 409
    assert (await move(client, responder, ref, "business_resolved")).status_code == 409
    await tick(client, responder, ref, "business", BUSINESS)
    assert (await move(client, responder, ref, "business_resolved")).status_code == 200
    closed = await move(client, responder, ref, "closed")
    assert closed.status_code == 200
    marks = closed.json()["milestones"]
    assert set(marks) == {
        "declared",
        "acknowledged",
        "identified",
        "mitigated",
        "resolved",
        "business_resolved",
        "closed",
    }
    assert marks["acknowledged"]["at"].startswith("2026-01-05T09:05")
    assert marks["mitigated"]["evidence"] == "status changed to monitoring"


async def test_reopening_needs_a_reason_and_clears_the_resolution(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, responder))["ref"]
    await tick(client, responder, ref, "technical", TECHNICAL)
    assert (await move(client, responder, ref, "resolved")).status_code == 200
    no_reason = await move(client, responder, ref, "investigating")
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    reopened = await move(client, responder, ref, "investigating", "errors are back")
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "investigating"
    assert "resolved" not in reopened.json()["milestones"]
    events = (await client.get(f"{API}/{ref}/timeline", headers=responder.headers)).json()
    assert events[-1]["kind"] == "reopened"
    assert events[-1]["data"]["reason"] == "errors are back"
    assert "resolved" in events[-1]["data"]["milestones_cleared"]
    assert (await audit_actions(session, ref))[-1] == "incident.reopened"


async def test_notes_can_be_added_and_starred(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    communicator = await make_caller(session, Role.COMMUNICATOR)
    ref = (await declare(client, responder))["ref"]
    added = await client.post(
        f"{API}/{ref}/timeline",
        json={"text": "Rolled back deploy 42", "kind": "decision"},
        headers=communicator.headers,
    )
    assert added.status_code == 201
    note_id = added.json()["id"]
    starred = await client.post(
        f"{API}/{ref}/timeline/{note_id}/star", headers=communicator.headers
    )
    assert starred.status_code == 200 and starred.json()["starred"] is True
    only_starred = await client.get(
        f"{API}/{ref}/timeline", params={"starred": "true"}, headers=responder.headers
    )
    assert [e["text"] for e in only_starred.json()] == ["Rolled back deploy 42"]
    unknown = await client.post(f"{API}/{ref}/timeline/99999/star", headers=communicator.headers)
    assert unknown.status_code == 404
    # a communicator notes but does not run the response
    refused = await move(client, communicator, ref, "investigating")
    assert refused.status_code == 403
    assert (await audit_actions(session, ref))[-2:] == [
        "incident.decision_added",
        "incident.timeline_starred",
    ]


async def test_roles_are_assigned_and_handed_over_with_history(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    alice = await make_caller(session, Role.RESPONDER)
    bob = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, responder))["ref"]
    first = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "incident-commander", "user": alice.user.email},
        headers=responder.headers,
    )
    assert first.status_code == 200
    assert first.json()["current"][0]["label"] == "Incident Commander"
    clock.advance(timedelta(minutes=30))
    handed = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "incident-commander", "user": bob.user.email, "reason": "shift change"},
        headers=responder.headers,
    )
    custom = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "customer-liaison", "user": alice.user.email},
        headers=responder.headers,
    )
    assert custom.status_code == 200
    roles = (await client.get(f"{API}/{ref}/roles", headers=responder.headers)).json()
    assert handed.status_code == 200
    assert {(r["role"], r["user"]["email"]) for r in roles["current"]} == {
        ("incident-commander", bob.user.email),
        ("customer-liaison", alice.user.email),
    }
    ended = [r for r in roles["history"] if r["ended_at"]]
    assert [(r["user"]["email"], r["ended_at"][:16]) for r in ended] == [
        (alice.user.email, "2026-01-05T09:30")
    ]
    incident = (await client.get(f"{API}/{ref}", headers=responder.headers)).json()
    assert {p["email"] for p in incident["participants"]} == {
        responder.user.email,
        alice.user.email,
        bob.user.email,
    }
    handover = next(
        e
        for e in (await client.get(f"{API}/{ref}/timeline", headers=responder.headers)).json()
        if e["kind"] == "role_handed_over"
    )
    assert handover["data"] == {
        "role": "incident-commander",
        "from": alice.user.email,
        "to": bob.user.email,
        "reason": "shift change",
    }
    unknown = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "scribe", "user": "nobody@example.test"},
        headers=responder.headers,
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "user"


async def test_every_change_writes_a_timeline_event_and_an_audit_entry(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    other = await make_caller(session, Role.VIEWER)
    ref = (await declare(client, responder))["ref"]
    calls = [
        client.patch(f"{API}/{ref}", json={"title": "Checkout 5xx"}, headers=responder.headers),
        move(client, responder, ref, "investigating"),
        client.put(
            f"{API}/{ref}/milestones/impact_started",
            json={"at": (clock.now() - timedelta(minutes=9)).isoformat()},
            headers=responder.headers,
        ),
        client.post(f"{API}/{ref}/timeline", json={"text": "hi"}, headers=responder.headers),
        client.put(
            f"{API}/{ref}/roles",
            json={"role": "scribe", "user": responder.user.email},
            headers=responder.headers,
        ),
        client.post(
            f"{API}/{ref}/participants", json={"user": other.user.email}, headers=responder.headers
        ),
        client.put(
            f"{API}/{ref}/checklists",
            json={"checklist": "business", "item": "support-briefed", "state": "done"},
            headers=responder.headers,
        ),
    ]
    for number, call in enumerate(calls, start=2):
        response = await call
        assert response.status_code in {200, 201}, response.text
        events = await session.scalar(sa.select(sa.func.count()).select_from(TimelineEvent))
        entries = await session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.object_id == ref)
        )
        assert (events, entries) == (number, number)
        await session.rollback()


async def test_kpis_are_measured_from_impact_start_against_the_severity_targets(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    ref = (
        await declare(
            client,
            responder,
            impact_started_at=(clock.now() - timedelta(minutes=8)).isoformat(),
            detected_at=(clock.now() - timedelta(minutes=2)).isoformat(),
        )
    )["ref"]
    clock.advance(timedelta(minutes=1))
    assert (await move(client, responder, ref, "investigating")).status_code == 200
    response = await client.get(f"{API}/{ref}/kpis", headers=responder.headers)
    assert response.status_code == 200
    figures = {f["kpi"]: f for f in response.json()}
    # SEV1 defaults: detect within 5 min, acknowledge within 10, mitigate within 60
    assert figures["time_to_detect"]["elapsed_seconds"] == 6 * 60
    assert figures["time_to_detect"]["status"] == "breached"
    assert figures["time_to_acknowledge"]["elapsed_seconds"] == 9 * 60
    assert figures["time_to_acknowledge"]["status"] == "met"
    assert figures["time_to_mitigate"]["status"] == "running"
    assert figures["time_to_mitigate"]["time_left_seconds"] == 51 * 60
