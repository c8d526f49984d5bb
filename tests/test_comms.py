"""Stakeholder communications through the API: an update written once and rendered per
audience, editable versioned templates with preview, draft → approved → published with four
eyes, the comms log entry of each publication, per-group cadence with reminders to the
Communications Lead and escalation, and private incidents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, make_caller
from tocsin.audit.models import AuditEntry
from tocsin.auth.models import User
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.comms.models import CommsLogEntry, CommsMessage
from tocsin.config import Settings
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker
from tocsin.notifications.service import DISPATCH_KIND
from tocsin.policy import service as policy

API = "/api/v1/incidents"
TEMPLATES = "/api/v1/comms/templates"
UPDATE = {
    "technical_details": "primary db failover loop on pg-eu-3",
    "customers_affected": "EU shoppers",
    "customer_experience": "card payments fail at checkout",
    "workaround": "pay by invoice",
}


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> dict[str, Caller]:
    await policy.ensure_default_policies(session)
    people = {
        "responder": await make_caller(session, Role.RESPONDER),
        "writer": await make_caller(session, Role.COMMUNICATOR),
        "approver": await make_caller(session, Role.COMMUNICATOR),
        "viewer": await make_caller(session, Role.VIEWER),
        "admin": await make_caller(session, Role.ADMIN),
    }
    await session.commit()
    return people


@pytest.fixture
def worker(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Worker:
    return Worker(settings, sessionmaker, worker_id="comms-test")


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "sev2", **fields}
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def draft(client: AsyncClient, caller: Caller, ref: str, **fields: Any) -> dict[str, Any]:
    body = {
        "audience": "customers",
        "channel": "email",
        "recipients": "eu@example.test",
        "text": "Card payments are failing; pay by invoice meanwhile.",
        **fields,
    }
    response = await client.post(f"{API}/{ref}/comms/messages", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def act(client: AsyncClient, caller: Caller, ref: str, mid: int, verb: str) -> Any:
    return await client.post(f"{API}/{ref}/comms/messages/{mid}/{verb}", headers=caller.headers)


async def test_one_update_renders_per_audience_and_only_responders_see_technical_details(
    client: AsyncClient, world: dict[str, Caller]
) -> None:
    ref = await declare(client, world["responder"])
    response = await client.post(
        f"{API}/{ref}/comms/preview", json=UPDATE, headers=world["writer"].headers
    )
    assert response.status_code == 200, response.text
    by = {r["audience"]: r["text"] for r in response.json()}
    assert set(by) == {
        "responders",
        "executives",
        "customers",
        "support",
        "sales",
        "account_management",
    }
    assert "pg-eu-3" in by["responders"]
    for audience, text in by.items():
        assert "card payments fail" in text
        if audience != "responders":
            assert "pg-eu-3" not in text
    # A preview stores nothing.
    updates = await client.get(f"{API}/{ref}/comms/updates", headers=world["writer"].headers)
    assert updates.json() == []


async def test_templates_are_versioned_per_severity_and_a_leaking_one_is_refused(
    client: AsyncClient, session: AsyncSession, world: dict[str, Caller]
) -> None:
    writer = world["writer"]
    ref = await declare(client, world["responder"])
    leaking = await client.put(
        f"{TEMPLATES}/customers",
        json={"body": "Cause: {{ technical_details }}"},
        headers=writer.headers,
    )
    assert leaking.status_code == 422
    assert leaking.json()["errors"][0]["field"] == "body"
    broken = await client.put(
        f"{TEMPLATES}/customers", json={"body": "{% if %}"}, headers=writer.headers
    )
    assert broken.status_code == 422

    for n in (1, 2):
        saved = await client.put(
            f"{TEMPLATES}/customers",
            params={"severity": "sev2"},
            json={"body": f"v{n}: {{{{ customer_experience }}}} ({{{{ ref }}}})"},
            headers=writer.headers,
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == n
    versions = await client.get(
        f"{TEMPLATES}/customers", params={"severity": "sev2"}, headers=writer.headers
    )
    assert [v["version"] for v in versions.json()] == [2, 1]
    preview = await client.post(
        f"{API}/{ref}/comms/preview",
        json={**UPDATE, "audiences": ["customers"]},
        headers=writer.headers,
    )
    assert preview.json() == [
        {
            "audience": "customers",
            "text": f"v2: card payments fail at checkout ({ref})",
            "template_version": 2,
        }
    ]
    general = await client.get(TEMPLATES, headers=writer.headers)
    assert {t["audience"]: t["version"] for t in general.json()}["customers"] == 0
    audited = await session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.action == "comms.template_saved")
    )
    assert len(audited.all()) == 2
    await session.rollback()  # SQLite: a read transaction holds the write lock
    viewer = await client.put(
        f"{TEMPLATES}/customers", json={"body": "x"}, headers=world["viewer"].headers
    )
    assert viewer.status_code == 403


async def test_draft_approve_publish_with_four_eyes_and_the_log_entry(
    client: AsyncClient, session: AsyncSession, world: dict[str, Caller]
) -> None:
    writer, approver = world["writer"], world["approver"]
    ref = await declare(client, world["responder"])
    update = await client.post(f"{API}/{ref}/comms/updates", json=UPDATE, headers=writer.headers)
    assert update.status_code == 201
    message = await draft(client, writer, ref, text=None, update_id=update.json()["id"])
    assert message["status"] == "draft"
    assert "card payments fail" in message["text"] and "pg-eu-3" not in message["text"]
    mid = message["id"]

    early = await act(client, approver, ref, mid, "publish")
    assert early.status_code == 409  # not approved yet
    own = await act(client, writer, ref, mid, "approve")
    assert own.status_code == 403 and "four eyes" in own.json()["detail"]
    approved = await act(client, approver, ref, mid, "approve")
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_by"].startswith(approver.user.email)

    # An edit after approval needs approval again.
    edited = await client.patch(
        f"{API}/{ref}/comms/messages/{mid}",
        json={"text": "Payments fail. Use invoices."},
        headers=writer.headers,
    )
    assert edited.json()["status"] == "draft" and edited.json()["approved_by"] is None
    assert (await act(client, approver, ref, mid, "publish")).status_code == 409
    assert (await act(client, approver, ref, mid, "approve")).status_code == 200
    # A communicator without approval rights cannot publish to customers: responders lack it.
    assert (await act(client, world["responder"], ref, mid, "publish")).status_code == 403
    published = await act(client, approver, ref, mid, "publish")
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"

    entry = await session.scalar(sa.select(CommsLogEntry))
    assert entry is not None
    assert (entry.text, entry.audience, entry.channel, entry.recipients) == (
        "Payments fail. Use invoices.",
        "customers",
        "email",
        "eu@example.test",
    )
    assert entry.actor_label.startswith(approver.user.email)
    assert published.json()["log_seq"] == entry.seq
    await session.rollback()
    again = await client.patch(
        f"{API}/{ref}/comms/messages/{mid}", json={"text": "changed"}, headers=writer.headers
    )
    assert again.status_code == 409


async def test_messages_to_responders_need_no_approval_and_bad_input_changes_nothing(
    client: AsyncClient, session: AsyncSession, world: dict[str, Caller]
) -> None:
    responder = world["responder"]
    ref = await declare(client, responder)
    message = await draft(client, responder, ref, audience="responders", channel="chat")
    published = await act(client, responder, ref, message["id"], "publish")
    assert published.status_code == 200, published.text

    for body, field in (
        ({"audience": "martians", "text": "x"}, "audience"),
        ({"audience": "customers"}, "text"),
        ({"audience": "customers", "update_id": 999}, "update_id"),
    ):
        bad = await client.post(f"{API}/{ref}/comms/messages", json=body, headers=responder.headers)
        assert bad.status_code == 422, bad.text
        assert field in bad.json()["errors"][0]["field"]
    past = await client.post(
        f"{API}/{ref}/comms/updates",
        json={**UPDATE, "next_update_at": "2020-01-01T00:00:00Z"},
        headers=responder.headers,
    )
    assert past.status_code == 422
    assert await session.scalar(sa.select(sa.func.count()).select_from(CommsMessage)) == 1


async def test_private_incidents_do_not_leak_their_communications(
    client: AsyncClient, world: dict[str, Caller]
) -> None:
    owner = world["responder"]
    ref = await declare(client, owner, visibility="private")
    outsider = world["writer"]
    for path in ("messages", "cadence"):
        response = await client.get(f"{API}/{ref}/comms/{path}", headers=outsider.headers)
        assert response.status_code == 404
    preview = await client.post(f"{API}/{ref}/comms/preview", json=UPDATE, headers=outsider.headers)
    assert preview.status_code == 404


async def dispatched(session: AsyncSession) -> list[tuple[str, str, str]]:
    """(e-mail, urgency, subject) of every comms cadence notification queued so far."""
    jobs = (await session.scalars(sa.select(Job).where(Job.kind == DISPATCH_KIND))).all()
    found = []
    for job in jobs:
        note = job.payload["notification"]
        if note["source"] == "comms.cadence":
            user = await session.get(User, job.payload["user_id"])
            assert user is not None
            found.append((user.email, note["urgency"], note["subject"]))
    await session.rollback()
    return sorted(found)


async def test_overdue_groups_remind_the_communications_lead_then_escalate(
    client: AsyncClient,
    session: AsyncSession,
    world: dict[str, Caller],
    clock: FrozenClock,
    worker: Worker,
) -> None:
    writer, approver, responder = world["writer"], world["approver"], world["responder"]
    writer_email, responder_email = writer.user.email, responder.user.email
    ref = await declare(client, responder)
    for role, who in (("communications-lead", writer), ("incident-commander", responder)):
        assigned = await client.put(
            f"{API}/{ref}/roles",
            json={"role": role, "user": who.user.email},
            headers=responder.headers,
        )
        assert assigned.status_code == 200, assigned.text
    # SEV2 policy: executives and support every 60 min, customers every 120 min.
    await client.post(f"{API}/{ref}/comms/updates", json=UPDATE, headers=writer.headers)
    message = await draft(client, writer, ref, audience="support", channel="chat")
    await act(client, approver, ref, message["id"], "approve")
    clock.advance(timedelta(minutes=30))
    assert (await act(client, approver, ref, message["id"], "publish")).status_code == 200

    cadence = await client.get(f"{API}/{ref}/comms/cadence", headers=writer.headers)
    groups = {g["group"]: g for g in cadence.json()}
    assert set(groups) == {"executives", "support", "customers"}
    assert groups["support"]["last_update_at"] is not None
    assert groups["executives"]["overdue"] is False

    clock.advance(timedelta(minutes=31))  # executives were due at 60 min
    await worker.run_once()
    assert await dispatched(session) == [
        (writer_email, "low", f"{ref}: Update to executives overdue since 2026-01-05 10:00 UTC")
    ]
    await worker.run_once()  # once per due time
    assert len(await dispatched(session)) == 1

    clock.advance(timedelta(minutes=60))  # second miss for executives; support now overdue
    await worker.run_once()
    sent = await dispatched(session)
    escalations = [s for s in sent if s[1] == "high"]
    assert {s[0] for s in escalations} == {writer_email, responder_email}
    assert all("executives missed twice" in s[2] for s in escalations)
    assert any("Update to support overdue" in s[2] for s in sent)

    groups = {
        g["group"]: g
        for g in (await client.get(f"{API}/{ref}/comms/cadence", headers=writer.headers)).json()
    }
    assert groups["executives"]["missed"] == 2 and groups["executives"]["on_time"] == 0
    assert groups["support"]["on_time"] == 1


async def test_an_incident_nobody_has_written_about_still_reminds_the_communications_lead(
    client: AsyncClient,
    session: AsyncSession,
    world: dict[str, Caller],
    clock: FrozenClock,
    worker: Worker,
) -> None:
    writer, responder = world["writer"], world["responder"]
    ref = await declare(client, responder)
    assigned = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "communications-lead", "user": writer.user.email},
        headers=responder.headers,
    )
    assert assigned.status_code == 200, assigned.text
    clock.advance(timedelta(minutes=59))
    await worker.run_once()
    assert await dispatched(session) == []

    clock.advance(timedelta(minutes=2))  # SEV2: executives and support were due at 60 min
    await worker.run_once()
    subjects = {subject for _, _, subject in await dispatched(session)}
    assert any("Update to executives overdue" in s for s in subjects), subjects
    assert any("Update to support overdue" in s for s in subjects), subjects
