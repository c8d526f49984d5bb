"""Executive briefs once per threshold crossed (with why), media inquiries answered only by a
spokesperson, and the one approved statement with versions, diffs and acknowledgements —
each external communication landing in the comms log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Configure
from tests.factories import Caller, make_caller
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.comms.models import CommsLogEntry
from tocsin.config import Settings
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker
from tocsin.notifications.service import DISPATCH_KIND
from tocsin.policy import service as policy

API = "/api/v1/incidents"
MEDIA = "/api/v1/comms/media-inquiries"


@pytest.fixture
def people_settings(configure: Configure) -> None:
    configure(
        {
            "TOCSIN_COMMS_EXECUTIVES": '["ceo@example.test", "cfo@example.test"]',
            "TOCSIN_COMMS_SPOKESPEOPLE": '["press@example.test"]',
        }
    )


@pytest.fixture
async def world(
    session: AsyncSession, clock: FrozenClock, people_settings: None
) -> dict[str, Caller]:
    from tests.factories import make_user
    from tocsin.audit.service import Actor
    from tocsin.auth import service as auth

    await policy.ensure_default_policies(session)
    ceo = await make_user(session, Role.STAKEHOLDER, email="ceo@example.test")
    press = await make_user(session, Role.COMMUNICATOR, email="press@example.test")
    issued = await auth.create_token(session, Actor.system("test"), user=press, name="t")
    people = {
        "responder": await make_caller(session, Role.RESPONDER),
        "communicator": await make_caller(session, Role.COMMUNICATOR),
        "press": Caller(press, issued.secret),
    }
    assert ceo.id
    await session.commit()
    return people


@pytest.fixture
def worker(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Worker:
    return Worker(settings, sessionmaker, worker_id="comms-stakeholders")


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "sev2", **fields}
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def logged(session: AsyncSession, kind: str) -> list[Any]:
    """(recipients, audience, text) of the log entries of one kind, in order."""
    columns = (CommsLogEntry.recipients, CommsLogEntry.audience, CommsLogEntry.text)
    rows = list(
        (
            await session.execute(
                sa.select(*columns).where(CommsLogEntry.kind == kind).order_by(CommsLogEntry.seq)
            )
        ).all()
    )
    await session.rollback()
    return rows


async def test_each_executive_gets_one_brief_per_threshold_crossed_with_why(
    client: AsyncClient,
    session: AsyncSession,
    world: dict[str, Caller],
    clock: FrozenClock,
    worker: Worker,
) -> None:
    # SEV2 policy: revenue 25,000/h; 500 customers; media inquiry; data exposure; pci/gdpr tags.
    ref = await declare(client, world["responder"], revenue_per_hour=30000, customers_affected=20)
    checked = await client.post(
        f"{API}/{ref}/comms/executive-briefs/check", headers=world["communicator"].headers
    )
    assert checked.status_code == 200, checked.text
    briefs = checked.json()
    assert {(b["threshold"], b["executive"]) for b in briefs} == {
        ("financial.revenue_per_hour", "ceo@example.test"),
        ("financial.revenue_per_hour", "cfo@example.test"),
    }
    assert "30,000/h reaches the threshold of 25,000/h" in briefs[0]["why"]

    again = await client.post(
        f"{API}/{ref}/comms/executive-briefs/check", headers=world["communicator"].headers
    )
    assert len(again.json()) == 2  # nothing twice

    inquiry = await client.post(
        MEDIA,
        json={
            "incident": ref,
            "outlet": "Daily Bugle",
            "reporter": "J. Jameson",
            "question": "Are payments down?",
        },
        headers=world["communicator"].headers,
    )
    assert inquiry.status_code == 201, inquiry.text
    briefs = (
        await client.get(
            f"{API}/{ref}/comms/executive-briefs", headers=world["communicator"].headers
        )
    ).json()
    assert [b["threshold"] for b in briefs].count("reputational.media_inquiry") == 2

    entries = await logged(session, "executive_brief")
    assert len(entries) == 4
    assert {e.recipients for e in entries} == {"ceo@example.test", "cfo@example.test"}
    assert all("Why you are told:" in e.text for e in entries)
    # The executive with an account is notified through the outbox, once per threshold.
    jobs = (await session.scalars(sa.select(Job).where(Job.kind == DISPATCH_KIND))).all()
    subjects = [
        j.payload["notification"]["dedup_key"]
        for j in jobs
        if j.payload["notification"]["source"] == "comms.stakeholders"
    ]
    await session.rollback()
    assert sorted(subjects) == [
        "comms-brief-1-financial.revenue_per_hour",
        "comms-brief-1-reputational.media_inquiry",
    ]


async def test_media_statements_come_only_from_a_spokesperson_and_are_logged(
    client: AsyncClient, session: AsyncSession, world: dict[str, Caller]
) -> None:
    ref = await declare(client, world["responder"])
    bad = await client.post(
        MEDIA,
        json={"outlet": "", "reporter": "x", "question": "y"},
        headers=world["communicator"].headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("outlet")
    created = await client.post(
        MEDIA,
        json={
            "incident": ref,
            "outlet": "Tech Weekly",
            "reporter": "A. Writer",
            "question": "What happened?",
            "deadline": "2026-01-05T12:00:00Z",
        },
        headers=world["communicator"].headers,
    )
    inquiry = created.json()
    assert inquiry["status"] == "open"
    jobs = (await session.scalars(sa.select(Job).where(Job.kind == DISPATCH_KIND))).all()
    routed = [j for j in jobs if j.payload["notification"]["source"] == "comms.media"]
    assert len(routed) == 1  # to the one spokesperson
    await session.rollback()

    answer = {"statement": "Payments were briefly unavailable; all is well now."}
    refused = await client.post(
        f"{MEDIA}/{inquiry['id']}/answer", json=answer, headers=world["communicator"].headers
    )
    assert refused.status_code == 403
    assert "spokesperson" in refused.json()["detail"]
    answered = await client.post(
        f"{MEDIA}/{inquiry['id']}/answer", json=answer, headers=world["press"].headers
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "answered"
    entries = await logged(session, "media_statement")
    assert [(e.text, e.recipients) for e in entries] == [
        (answer["statement"], "A. Writer (Tech Weekly)")
    ]
    twice = await client.post(
        f"{MEDIA}/{inquiry['id']}/answer", json=answer, headers=world["press"].headers
    )
    assert twice.status_code == 409


async def test_one_approved_statement_versioned_with_diffs_and_acknowledgements(
    client: AsyncClient, session: AsyncSession, world: dict[str, Caller]
) -> None:
    ref = await declare(client, world["responder"])
    url = f"{API}/{ref}/comms/statement"
    responder = world["responder"].headers
    communicator = world["communicator"].headers
    assert (await client.post(url, json={"text": "x"}, headers=responder)).status_code == 403

    v1 = await client.post(
        url, json={"text": "Payments are failing.\nWe are on it."}, headers=communicator
    )
    assert v1.status_code == 201
    assert v1.json()["unacknowledged"] == ["support", "sales", "account_management"]
    ack = await client.post(f"{url}/1/acknowledge", json={"team": "support"}, headers=responder)
    assert ack.json()["unacknowledged"] == ["sales", "account_management"]
    bad = await client.post(f"{url}/1/acknowledge", json={"team": "marketing"}, headers=responder)
    assert bad.status_code == 422

    v2 = await client.post(
        url, json={"text": "Payments are failing.\nA fix is rolling out."}, headers=communicator
    )
    body = v2.json()
    assert body["version"] == 2
    assert "-We are on it." in body["diff"] and "+A fix is rolling out." in body["diff"]
    assert body["unacknowledged"] == ["support", "sales", "account_management"]
    same = await client.post(
        url, json={"text": "Payments are failing.\nA fix is rolling out."}, headers=communicator
    )
    assert same.status_code == 422

    history = (await client.get(url, headers=responder)).json()
    assert [h["version"] for h in history] == [2, 1]
    assert [a["team"] for a in history[1]["acknowledged"]] == ["support"]
    entries = await logged(session, "statement")
    assert sorted(e.audience for e in entries) == sorted(
        ["support", "sales", "account_management"] * 2
    )


async def test_the_timer_briefs_executives_when_the_running_impact_reaches_the_amount(
    client: AsyncClient,
    session: AsyncSession,
    world: dict[str, Caller],
    clock: FrozenClock,
    worker: Worker,
) -> None:
    stored = await policy.get_policy(session, "sev2")
    data = stored.model_dump(mode="json")
    data["executive_notification"]["financial"] = {"total_revenue_impact": 20000}
    from tocsin.audit.service import Actor
    from tocsin.policy.schemas import SeverityPolicyIn

    fields = {k: data[k] for k in SeverityPolicyIn.model_fields if k in data}
    await policy.set_policy(
        session, Actor.system("test"), "sev2", SeverityPolicyIn.model_validate(fields)
    )
    await session.commit()
    ref = await declare(client, world["responder"], revenue_per_hour=10000)
    # The first communication starts the timer.
    await client.post(
        f"{API}/{ref}/comms/updates",
        json={"customer_experience": "slow checkout"},
        headers=world["communicator"].headers,
    )
    clock.advance(timedelta(minutes=90))
    await worker.run_once()
    assert await logged(session, "executive_brief") == []
    clock.advance(timedelta(minutes=35))  # 2 h 05 min at 10,000/h
    await worker.run_once()
    entries = await logged(session, "executive_brief")
    assert len(entries) == 2
    assert "reaching the threshold of 20,000" in entries[0].text


async def test_inquiries_and_briefs_about_a_private_incident_do_not_leak(
    client: AsyncClient, session: AsyncSession, world: dict[str, Caller]
) -> None:
    ref = await declare(
        client,
        world["responder"],
        visibility="private",
        title="Acquisition leak",
        revenue_per_hour=50000,
    )
    created = await client.post(
        MEDIA,
        json={"incident": ref, "outlet": "Wire", "reporter": "R", "question": "Secret deal?"},
        headers=world["responder"].headers,
    )
    assert created.status_code == 201, created.text
    outsider = await client.get(MEDIA, headers=world["communicator"].headers)
    assert outsider.json() == []
    insider = await client.get(MEDIA, headers=world["responder"].headers)
    assert [i["outlet"] for i in insider.json()] == ["Wire"]
    refused = await client.post(
        MEDIA,
        json={"incident": ref, "outlet": "Wire", "reporter": "R", "question": "?"},
        headers=world["communicator"].headers,
    )
    assert refused.status_code == 404
    briefs = await logged(session, "executive_brief")
    assert briefs and all("Acquisition leak" not in text for _, _, text in briefs)
