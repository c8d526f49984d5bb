"""Slack war rooms, against a local server speaking Slack's documented Web API shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.chat.serving import serving
from tests.chat.slack import BOT, TOKEN, FakeSlack
from tests.conftest import Configure
from tests.factories import make_caller
from tests.test_incident_api import API, declare, world  # noqa: F401  (fixture)
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings, load_settings
from tocsin.incidents.warrooms.models import WarRoom
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
async def slack() -> AsyncIterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    async with serving(fake.app()) as base:
        yield fake, base


@pytest.fixture
def chat_env(slack: tuple[FakeSlack, str], configure: Configure) -> None:
    configure(
        {
            "TOCSIN_WARROOM_PLATFORMS": '["web", "slack"]',
            "TOCSIN_WARROOM_SLACK_BOT_TOKEN": TOKEN,
            "TOCSIN_WARROOM_SLACK_API_BASE_URL": slack[1] + "/api",
        }
    )


@pytest.fixture
def settings(database_url: str, chat_env: None) -> Settings:
    return load_settings(database_url=database_url, log_level="warning")


@pytest.fixture
def run_jobs(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async def run() -> None:
        worker = Worker(settings, sessionmaker, worker_id="test-worker")
        while await worker.run_once():
            pass

    return run


async def room_of(session: AsyncSession, ref: str) -> dict[str, Any]:
    """The stored room, read in a transaction of its own so the app and worker may write."""
    await session.rollback()
    row = await session.scalar(
        sa.select(WarRoom).where(WarRoom.incident_id == int(ref.split("-")[1]))
    )
    assert row is not None
    values = {c: getattr(row, c) for c in ("status", "external_id", "last_error", "name")}
    await session.rollback()
    return values


async def test_declaring_opens_a_private_channel_holding_exactly_the_participants(
    client: AsyncClient,
    session: AsyncSession,
    slack: tuple[FakeSlack, str],
    run_jobs: Any,
    clock: FrozenClock,
) -> None:
    fake, _ = slack
    owner = await make_caller(session, Role.RESPONDER)
    helper = await make_caller(session, Role.RESPONDER)
    fake.add_user(owner.user.email)
    helper_id = fake.add_user(helper.user.email)
    # Someone already took the conventional name: the new channel gets a suffix.
    day = clock.now().strftime("%Y%m%d")
    fake.m_conversations_create({"name": f"inc-{day}-sev1-card-data-exposed"})

    incident = await declare(client, owner, title="Card data exposed", visibility="private")
    ref = incident["ref"]
    pending = (await client.get(f"{API}/{ref}/war-room", headers=owner.headers)).json()
    assert [(r["platform"], r["status"]) for r in pending["rooms"]] == [("slack", "pending")]

    await run_jobs()
    channel = fake.by_name(f"inc-{day}-sev1-card-data-exposed-2")
    assert channel.is_private
    assert channel.members == {BOT, fake.users[owner.user.email]}
    room = (await client.get(f"{API}/{ref}/war-room", headers=owner.headers)).json()["rooms"][0]
    assert room["status"] == "open"
    assert room["url"] == f"https://slack.com/app_redirect?channel={channel.id}"
    detail = (await client.get(f"{API}/{ref}", headers=owner.headers)).json()
    assert room["url"] in [link["url"] for link in detail["links"]]
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    assert "war_room_opened" in [e["kind"] for e in timeline]

    # Membership follows the incident: a new role holder is invited...
    assigned = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "scribe", "user": helper.user.email},
        headers=owner.headers,
    )
    assert assigned.status_code == 200
    await run_jobs()
    assert helper_id in channel.members
    # ...and someone who is not a participant is removed at the next sync.
    channel.members.add("UOUTSIDER")
    await client.post(
        f"{API}/{ref}/participants", json={"user": helper.user.email}, headers=owner.headers
    )
    other = await make_caller(session, Role.RESPONDER)
    fake.add_user(other.user.email)
    await client.post(
        f"{API}/{ref}/participants", json={"user": other.user.email}, headers=owner.headers
    )
    await run_jobs()
    assert channel.members == {BOT, *(fake.users[c.user.email] for c in (owner, helper, other))}


async def test_a_slack_outage_never_blocks_declaring_and_the_room_follows_later(
    client: AsyncClient,
    session: AsyncSession,
    slack: tuple[FakeSlack, str],
    run_jobs: Any,
    clock: FrozenClock,
) -> None:
    fake, _ = slack
    owner = await make_caller(session, Role.RESPONDER)
    fake.down = True
    ref = (await declare(client, owner, title="Slack is down too"))["ref"]
    await run_jobs()
    row = await room_of(session, ref)
    assert (row["status"], row["external_id"]) == ("pending", None)
    assert "503" in (row["last_error"] or "")

    fake.down = False
    clock.advance(timedelta(hours=1))  # past the retry's back-off
    await run_jobs()
    row = await room_of(session, ref)
    assert row["status"] == "open"
    assert not fake.by_name(row["name"] or "").is_private  # a public incident: a public channel
    assert row["last_error"] is None


async def test_a_slack_message_is_pinned_to_the_timeline_by_permalink(
    client: AsyncClient, session: AsyncSession, slack: tuple[FakeSlack, str], run_jobs: Any
) -> None:
    fake, _ = slack
    owner = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, owner, title="Pin me"))["ref"]
    await run_jobs()
    channel = next(iter(fake.channels.values()))
    ts = fake.say(channel, "U0042", "root cause: expired certificate")
    link = fake.m_chat_getPermalink({"channel": channel.id, "message_ts": ts})["permalink"]

    queued = await client.post(
        f"{API}/{ref}/war-room/pins",
        json={"platform": "slack", "permalink": link},
        headers=owner.headers,
    )
    assert queued.status_code == 202, queued.text
    await run_jobs()
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    pinned = [e for e in timeline if e["kind"] == "message_pinned"]
    assert len(pinned) == 1
    assert "root cause: expired certificate" in pinned[0]["text"]
    assert ts in channel.pins
    # Pinning the same message again (by id this time) adds nothing.
    again = await client.post(
        f"{API}/{ref}/war-room/pins",
        json={"platform": "slack", "message_id": ts},
        headers=owner.headers,
    )
    assert again.status_code == 202
    await run_jobs()
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    assert len([e for e in timeline if e["kind"] == "message_pinned"]) == 1
    room = (await client.get(f"{API}/{ref}/war-room", headers=owner.headers)).json()
    assert [(m["platform"], m["permalink"]) for m in room["messages"]] == [("slack", link)]

    neither = await client.post(
        f"{API}/{ref}/war-room/pins", json={"platform": "slack"}, headers=owner.headers
    )
    assert neither.status_code == 422
    assert "message_id" in neither.text
    jobs = await session.scalar(
        sa.select(sa.func.count()).select_from(Job).where(Job.kind == "incident.warroom.pin")
    )
    assert jobs == 2
