"""Published stakeholder messages and executive briefs reach people: by e-mail over a real SMTP
server to the group's addresses and to the group's Slack channel (a local server speaking
Slack's Web API shapes), from the job outbox with retries, each delivery in the comms log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.chat.serving import serving
from tests.chat.slack import BOT, TOKEN, Channel, FakeSlack
from tests.conftest import Configure
from tests.factories import Caller, make_caller
from tests.mail import Mailbox, smtp_server
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.comms.delivery import emails_in
from tocsin.comms.models import CommsDelivery, CommsLogEntry, CommsStakeholderGroup
from tocsin.config import Settings, load_settings
from tocsin.jobs.worker import Worker
from tocsin.policy import service as policy

API = "/api/v1/incidents"
GROUPS = "/api/v1/comms/groups"
SUPPORT_CHANNEL = "C0SUPPORT"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
async def slack() -> AsyncIterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    fake.channels[SUPPORT_CHANNEL] = Channel(SUPPORT_CHANNEL, "support", False, members={BOT})
    async with serving(fake.app()) as base:
        yield fake, base


@pytest.fixture
def env(configure: Configure, mailbox: tuple[Mailbox, int], slack: tuple[FakeSlack, str]) -> None:
    configure(
        {
            "TOCSIN_SMTP_HOST": "127.0.0.1",
            "TOCSIN_SMTP_PORT": str(mailbox[1]),
            "TOCSIN_SMTP_STARTTLS": "false",
            "TOCSIN_SMTP_FROM": "Tocsin <comms@tocsin.example>",
            "TOCSIN_WARROOM_SLACK_BOT_TOKEN": TOKEN,
            "TOCSIN_WARROOM_SLACK_API_BASE_URL": slack[1] + "/api",
            "TOCSIN_COMMS_EXECUTIVES": '["ceo@example.test"]',
        }
    )


@pytest.fixture
def settings(database_url: str, env: None) -> Settings:
    return load_settings(database_url=database_url, log_level="warning")


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> dict[str, Caller]:
    await policy.ensure_default_policies(session)
    people = {
        "writer": await make_caller(session, Role.COMMUNICATOR),
        "approver": await make_caller(session, Role.COMMUNICATOR),
        "responder": await make_caller(session, Role.RESPONDER),
    }
    await session.commit()
    return people


@pytest.fixture
def run_jobs(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async def run() -> None:
        worker = Worker(settings, sessionmaker, worker_id="comms-delivery")
        while await worker.run_once():
            pass

    return run


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "sev2", **fields}
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def publish(
    client: AsyncClient, world: dict[str, Caller], ref: str, **fields: Any
) -> dict[str, Any]:
    """A message drafted by one communicator, approved and published by another."""
    body = {"audience": "support", "channel": "email", "text": "Card payments fail.", **fields}
    drafted = await client.post(
        f"{API}/{ref}/comms/messages", json=body, headers=world["writer"].headers
    )
    assert drafted.status_code == 201, drafted.text
    mid = drafted.json()["id"]
    for verb in ("approve", "publish"):
        done = await client.post(
            f"{API}/{ref}/comms/messages/{mid}/{verb}", headers=world["approver"].headers
        )
        assert done.status_code == 200, done.text
    return dict(done.json())


async def logged(session: AsyncSession) -> list[tuple[str, str, str, str, str]]:
    """(kind, channel, recipients, actor, text) of every comms log entry, in chain order."""
    rows = (
        await session.execute(
            sa.select(
                CommsLogEntry.kind,
                CommsLogEntry.channel,
                CommsLogEntry.recipients,
                CommsLogEntry.actor_label,
                CommsLogEntry.text,
            ).order_by(CommsLogEntry.seq)
        )
    ).all()
    await session.rollback()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def support_group(client: AsyncClient, caller: Caller) -> None:
    saved = await client.put(
        f"{GROUPS}/support",
        json={
            "emails": ["support-leads@example.test", "tier2@example.test"],
            "chat_channel": SUPPORT_CHANNEL,
        },
        headers=caller.headers,
    )
    assert saved.status_code == 200, saved.text


async def test_a_published_message_is_mailed_and_posted_by_jobs_and_each_delivery_is_logged(
    client: AsyncClient,
    session: AsyncSession,
    world: dict[str, Caller],
    mailbox: tuple[Mailbox, int],
    slack: tuple[FakeSlack, str],
    run_jobs: Any,
) -> None:
    box, fake = mailbox[0], slack[0]
    approver_email = world["approver"].user.email
    await support_group(client, world["approver"])
    ref = await declare(client, world["responder"])
    text = "Card payments fail at checkout; advise customers to pay by invoice."
    published = await publish(client, world, ref, text=text, recipients="cc: emea@example.test")

    # Publishing answered without sending anything: the outbox does that.
    assert box.messages == [] and fake.texts(fake.channels[SUPPORT_CHANNEL]) == []
    queued = (
        await client.get(f"{API}/{ref}/comms/deliveries", headers=world["writer"].headers)
    ).json()
    assert {(d["channel"], d["address"], d["status"]) for d in queued} == {
        ("email", "support-leads@example.test", "queued"),
        ("email", "tier2@example.test", "queued"),
        ("email", "emea@example.test", "queued"),
        ("chat", SUPPORT_CHANNEL, "queued"),
    }

    await run_jobs()
    for address in ("support-leads@example.test", "tier2@example.test", "emea@example.test"):
        assert [body.strip() for body in box.text_to(address)] == [text]
    subjects = {str(message["Subject"]) for _, message in box.messages}
    assert subjects == {f"{ref} Checkout errors: update for support"}
    assert fake.texts(fake.channels[SUPPORT_CHANNEL]) == [text]

    delivered = (
        await client.get(f"{API}/{ref}/comms/deliveries", headers=world["writer"].headers)
    ).json()
    assert {d["status"] for d in delivered} == {"sent"}
    entries = await logged(session)
    approver = entries[0][3]  # the publisher: deliveries are made on their behalf
    assert approver.startswith(approver_email)
    assert entries[0] == ("message", "email", "cc: emea@example.test", approver, text)
    assert sorted(entries[1:]) == sorted(
        [
            ("message_delivered", "email", "support-leads@example.test", approver, text),
            ("message_delivered", "email", "tier2@example.test", approver, text),
            ("message_delivered", "email", "emea@example.test", approver, text),
            ("message_delivered", "chat", SUPPORT_CHANNEL, approver, text),
        ]
    )
    assert {d["log_seq"] for d in delivered} == {2, 3, 4, 5}
    assert published["log_seq"] == 1

    await run_jobs()  # nothing is sent twice
    assert len(box.messages) == 3 and len(fake.texts(fake.channels[SUPPORT_CHANNEL])) == 1
    verified = await client.get("/api/v1/comms/log/verify", headers=(await admin(session)).headers)
    assert verified.json() == {"ok": True, "entries": 5, "first_break_seq": None, "reason": None}


async def admin(session: AsyncSession) -> Caller:
    caller = await make_caller(session, Role.ADMIN)
    await session.commit()
    return caller


async def test_an_outage_is_retried_and_a_refused_address_fails_without_a_delivered_entry(
    client: AsyncClient,
    session: AsyncSession,
    world: dict[str, Caller],
    mailbox: tuple[Mailbox, int],
    slack: tuple[FakeSlack, str],
    run_jobs: Any,
    clock: FrozenClock,
) -> None:
    box, fake = mailbox[0], slack[0]
    box.refuse.add("tier2@example.test")
    fake.down = True
    await support_group(client, world["approver"])
    ref = await declare(client, world["responder"])
    await publish(client, world, ref, text="Payments restored.")

    await run_jobs()
    by_address = {
        d["address"]: d
        for d in (
            await client.get(f"{API}/{ref}/comms/deliveries", headers=world["writer"].headers)
        ).json()
    }
    assert by_address["support-leads@example.test"]["status"] == "sent"
    refused = by_address["tier2@example.test"]
    assert refused["status"] == "failed" and "refused tier2@example.test" in refused["error"]
    chat = by_address[SUPPORT_CHANNEL]
    assert chat["status"] == "failed" and "HTTP 503" in chat["error"]

    fake.down = False
    clock.advance(timedelta(hours=1))
    await run_jobs()
    by_address = {
        d["address"]: d
        for d in (
            await client.get(f"{API}/{ref}/comms/deliveries", headers=world["writer"].headers)
        ).json()
    }
    assert by_address[SUPPORT_CHANNEL]["status"] == "sent"
    assert by_address[SUPPORT_CHANNEL]["attempts"] == 2
    assert by_address["tier2@example.test"]["status"] == "failed"  # refused: not retried
    assert by_address["tier2@example.test"]["attempts"] == 1
    assert fake.texts(fake.channels[SUPPORT_CHANNEL]) == ["Payments restored."]
    delivered = [e[2] for e in await logged(session) if e[0] == "message_delivered"]
    assert sorted(delivered) == sorted([SUPPORT_CHANNEL, "support-leads@example.test"])


async def test_an_executive_brief_is_mailed_to_the_executive(
    client: AsyncClient,
    session: AsyncSession,
    world: dict[str, Caller],
    mailbox: tuple[Mailbox, int],
    run_jobs: Any,
) -> None:
    # SEV2 policy: executives hear of 25,000/h of revenue impact.
    ref = await declare(client, world["responder"], revenue_per_hour=30000)
    checked = await client.post(
        f"{API}/{ref}/comms/executive-briefs/check", headers=world["writer"].headers
    )
    assert checked.status_code == 200, checked.text
    await run_jobs()
    [body] = mailbox[0].text_to("ceo@example.test")
    assert "Why you are told: revenue impact 30,000/h" in body
    kinds = [(e[0], e[2]) for e in await logged(session)]
    assert kinds == [
        ("executive_brief", "ceo@example.test"),
        ("executive_brief_delivered", "ceo@example.test"),
    ]


async def test_messages_said_in_person_for_customers_or_to_empty_groups_send_nothing(
    client: AsyncClient,
    session: AsyncSession,
    world: dict[str, Caller],
    mailbox: tuple[Mailbox, int],
    run_jobs: Any,
) -> None:
    ref = await declare(client, world["responder"])
    await publish(client, world, ref, audience="sales")  # the sales group has no addresses
    await publish(client, world, ref, channel="meeting", recipients="leads@example.test")
    # Customers hear through the status page, not from a list of addresses.
    await publish(client, world, ref, audience="customers", recipients="eu@example.test")
    await run_jobs()
    assert mailbox[0].messages == []
    assert (
        await client.get(f"{API}/{ref}/comms/deliveries", headers=world["writer"].headers)
    ).json() == []
    assert [e[0] for e in await logged(session)] == ["message", "message", "message"]


async def test_group_addresses_are_checked_and_only_approvers_change_them(
    client: AsyncClient, session: AsyncSession, world: dict[str, Caller]
) -> None:
    await support_group(client, world["approver"])
    listed = (await client.get(GROUPS, headers=world["writer"].headers)).json()
    assert [g["audience"] for g in listed] == [
        "executives",
        "support",
        "sales",
        "account_management",
    ]
    assert listed[1]["emails"] == ["support-leads@example.test", "tier2@example.test"]

    cases = [
        ("support", {"emails": ["not an address"]}, "emails.0"),
        ("support", {"chat_channel": "#support"}, "chat_channel"),
        ("customers", {"emails": ["x@example.test"]}, "audience"),
    ]
    for audience, body, field in cases:
        refused = await client.put(
            f"{GROUPS}/{audience}", json=body, headers=world["approver"].headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in refused.json()["errors"]]
    responder = await client.put(
        f"{GROUPS}/support", json={"emails": []}, headers=world["responder"].headers
    )
    assert responder.status_code == 403
    stored = await session.scalar(sa.select(CommsStakeholderGroup))
    assert stored is not None and stored.emails == [
        "support-leads@example.test",
        "tier2@example.test",
    ]
    assert await session.scalar(sa.select(sa.func.count()).select_from(CommsDelivery)) == 0


_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=12)
_domain = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)
_address = st.builds(lambda u, d, t: f"{u}@{d}.{t}", _local, _domain, st.sampled_from(["io", "de"]))


@given(
    addresses=st.lists(_address, max_size=6),
    separators=st.lists(st.sampled_from([", ", "; ", "\n", " and ", " "]), min_size=6, max_size=6),
)
def test_every_address_written_in_the_recipients_is_found_once(
    addresses: list[str], separators: list[str]
) -> None:
    written = "To: " + "".join(a + s for a, s in zip(addresses, separators, strict=False))
    found = emails_in(written + " ".join(addresses))
    expected: list[str] = []
    for address in addresses:
        if address not in expected:
            expected.append(address)
    assert found == expected
