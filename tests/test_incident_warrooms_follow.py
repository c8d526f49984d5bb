"""War rooms following their incident on Slack: news posted, pin by reaction, archive on
close, back on re-open, and a private turn — against the local Slack Web API server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from tests.chat.slack import BOT, TOKEN, FakeSlack
from tests.conftest import Configure
from tests.factories import Caller, make_caller
from tests.test_incident_api import API, BUSINESS, TECHNICAL, declare, move, tick, world  # noqa: F401
from tests.test_incident_warrooms_slack import room_of, run_jobs, settings, slack  # noqa: F401
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.incidents.service.common import finish, note
from tocsin.incidents.warrooms import announce, outbox
from tocsin.incidents.warrooms.slack_events import signature, verified
from tocsin.jobs.models import Job

pytestmark = pytest.mark.usefixtures("world")
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EVENTS = "/api/v1/chat/slack/events"


@pytest.fixture
def chat_env(
    slack: tuple[FakeSlack, str],  # noqa: F811
    configure: Configure,
) -> None:
    configure(
        {
            "TOCSIN_WARROOM_PLATFORMS": '["web", "slack"]',
            "TOCSIN_WARROOM_SLACK_BOT_TOKEN": TOKEN,
            "TOCSIN_WARROOM_SLACK_API_BASE_URL": slack[1] + "/api",
            "TOCSIN_WARROOM_SLACK_SIGNING_SECRET": SECRET,
        }
    )


async def opened(
    client: AsyncClient, fake: FakeSlack, caller: Caller, run: Any, **fields: Any
) -> tuple[str, Any]:
    ref = (await declare(client, caller, **fields))["ref"]
    await run()
    channel = next(
        c for c in fake.channels.values() if not c.is_archived and c.topic.startswith(ref + ":")
    )
    return ref, channel


def signed(body: dict[str, Any], at: datetime, secret: str = SECRET) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    stamp = str(int(at.timestamp()))
    return {
        "content": raw,
        "headers": {
            "content-type": "application/json",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signature(secret, stamp, raw),
        },
    }


def reaction(channel: str, ts: str, emoji: str = "pushpin") -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": "T0001",
        "event_id": f"Ev{ts.replace('.', '')}{emoji}",
        "event": {
            "type": "reaction_added",
            "user": "U0042",
            "reaction": emoji,
            "item_user": "U0042",
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": "1700000000.000100",
        },
    }


async def test_incident_news_is_posted_to_the_room_once_each(
    client: AsyncClient,
    session: AsyncSession,
    slack: tuple[FakeSlack, str],  # noqa: F811
    run_jobs: Any,  # noqa: F811
) -> None:
    fake, _ = slack
    owner = await make_caller(session, Role.RESPONDER)
    lead = await make_caller(session, Role.RESPONDER)
    ref, channel = await opened(client, fake, owner, run_jobs, title="Payments failing")
    assert fake.texts(channel) == []  # declaring opened the room; nothing else happened yet

    assert (await move(client, owner, ref, "investigating")).status_code == 200
    patched = await client.patch(
        f"{API}/{ref}",
        json={"severity": "sev2", "reason": "one region only"},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    update = await client.post(
        f"{API}/{ref}/updates",
        json={
            "current_status": "Card payments fail in eu-west",
            "actions": "Failing over to eu-central",
            "next_steps": "Verify settlement",
        },
        headers=owner.headers,
    )
    assert update.status_code == 201, update.text
    for who in (owner, lead):  # an assignment, then a hand-over
        assigned = await client.put(
            f"{API}/{ref}/roles",
            json={"role": "incident-commander", "user": who.user.email},
            headers=owner.headers,
        )
        assert assigned.status_code == 200, assigned.text
    # What the alert router writes when an alert joins the incident.
    incident = await session.get(Incident, int(ref.split("-")[1]))
    assert incident is not None
    note(
        session,
        incident,
        Actor.system("alert router"),
        "alert.attached",
        "Alert attached: p99 > 2s",
    )
    await finish(session, incident, "incident.alert_attached")
    assert fake.texts(channel) == []  # nothing is sent inside the requests

    await run_jobs()
    posted = fake.texts(channel)
    assert len(posted) == 6, posted
    assert posted[0].startswith(f"[{ref}] Status: Status declared → investigating")
    assert posted[1].startswith(f"[{ref}] Severity: Severity sev1 → sev2")
    assert posted[2].startswith(f"[{ref}] Update from ")
    assert "Card payments fail in eu-west" in posted[2]
    assert "Actions under way: Failing over to eu-central" in posted[2]
    assert "Next steps: Verify settlement" in posted[2]
    assert f"Role: Incident Commander: {owner.user.email}" in posted[3]
    assert f"Hand-over: Incident Commander: {owner.user.email} → {lead.user.email}" in posted[4]
    assert posted[5] == f"[{ref}] Alert: Alert attached: p99 > 2s (alert router)"

    # One job per event and room, whatever else runs: nothing is posted twice.
    await run_jobs()
    assert len(fake.texts(channel)) == 6
    await session.rollback()
    keys = list(
        await session.scalars(
            sa.select(Job.idempotency_key).where(Job.kind == "incident.warroom.post")
        )
    )
    assert len(keys) == len(set(keys)) == 6


async def test_a_slack_outage_delays_posts_without_losing_them(
    client: AsyncClient,
    session: AsyncSession,
    slack: tuple[FakeSlack, str],  # noqa: F811
    run_jobs: Any,  # noqa: F811
    clock: FrozenClock,
) -> None:
    fake, _ = slack
    owner = await make_caller(session, Role.RESPONDER)
    ref, channel = await opened(client, fake, owner, run_jobs)
    fake.down = True
    assert (await move(client, owner, ref, "investigating")).status_code == 200
    await run_jobs()
    assert fake.texts(channel) == []
    fake.down = False
    clock.advance(timedelta(hours=1))
    await run_jobs()
    [posted] = fake.texts(channel)
    assert posted.startswith(f"[{ref}] Status: Status declared → investigating ({owner.user.email}")


async def close(client: AsyncClient, caller: Caller, ref: str) -> None:
    current = (await client.get(f"{API}/{ref}", headers=caller.headers)).json()["status"]
    for status in ("investigating", "monitoring")[1 if current == "investigating" else 0 :]:
        assert (await move(client, caller, ref, status)).status_code == 200
    await tick(client, caller, ref, "technical", TECHNICAL)
    assert (await move(client, caller, ref, "resolved")).status_code == 200
    await tick(client, caller, ref, "business", BUSINESS)
    assert (await move(client, caller, ref, "business_resolved")).status_code == 200
    closed = await move(client, caller, ref, "closed")
    assert closed.status_code == 200, closed.text


async def test_closing_posts_a_summary_and_archives_and_reopening_brings_the_room_back(
    client: AsyncClient,
    session: AsyncSession,
    slack: tuple[FakeSlack, str],  # noqa: F811
    run_jobs: Any,  # noqa: F811
    clock: FrozenClock,
) -> None:
    fake, _ = slack
    owner = await make_caller(session, Role.RESPONDER)
    email = owner.user.email
    fake.add_user(email)
    ref, channel = await opened(client, fake, owner, run_jobs, title="Search is slow")
    await client.put(
        f"{API}/{ref}/roles",
        json={"role": "incident-commander", "user": owner.user.email},
        headers=owner.headers,
    )
    clock.advance(timedelta(minutes=95))
    await close(client, owner, ref)
    await run_jobs()

    assert channel.is_archived
    summary = fake.texts(channel)[-1]
    assert summary.startswith(f"[{ref}] Closed: Search is slow (sev1)")
    assert "Impact lasted 1h 35m" in summary
    assert f"Incident Commander: {owner.user.email}" in summary
    assert (await room_of(session, ref))["status"] == "archived"
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    assert "war_room_archived" in [e["kind"] for e in timeline]
    room = (await client.get(f"{API}/{ref}/war-room", headers=owner.headers)).json()["rooms"][0]
    assert room["status"] == "archived"

    # Re-opening unarchives the channel, says so, and the room hears the news again.
    posts = len(fake.texts(channel))
    reopened = await move(client, owner, ref, "investigating", "the fix did not hold")
    assert reopened.status_code == 200, reopened.text
    await run_jobs()
    assert not channel.is_archived
    assert fake.texts(channel)[posts].startswith(
        f"[{ref}] Re-opened: Status closed → investigating"
    )
    assert (await room_of(session, ref))["status"] == "open"
    assert fake.users[email] in channel.members
    assert (await move(client, owner, ref, "identified")).status_code == 200
    await run_jobs()
    assert fake.texts(channel)[-1].startswith(f"[{ref}] Status: Status investigating → identified")


async def test_a_pushpin_reaction_pins_the_message_when_slack_signed_the_event(
    client: AsyncClient,
    session: AsyncSession,
    slack: tuple[FakeSlack, str],  # noqa: F811
    run_jobs: Any,  # noqa: F811
    clock: FrozenClock,
) -> None:
    fake, _ = slack
    owner = await make_caller(session, Role.RESPONDER)
    ref, channel = await opened(client, fake, owner, run_jobs)
    ts = fake.say(channel, "U0042", "rolled back release 4.2")
    await session.commit()

    challenge = await client.post(
        EVENTS, **signed({"type": "url_verification", "challenge": "c4t"}, clock.now())
    )
    assert challenge.status_code == 200 and challenge.json() == {"challenge": "c4t"}

    forged = await client.post(EVENTS, **signed(reaction(channel.id, ts), clock.now(), "wrong"))
    assert forged.status_code == 401
    replayed = await client.post(
        EVENTS, **signed(reaction(channel.id, ts), clock.now() - timedelta(minutes=6))
    )
    assert replayed.status_code == 401
    tampered = signed(reaction(channel.id, ts), clock.now())
    tampered["content"] = tampered["content"].replace(b"pushpin", b"pushpix")
    assert (await client.post(EVENTS, **tampered)).status_code == 401
    other = await client.post(EVENTS, **signed(reaction(channel.id, ts, "eyes"), clock.now()))
    assert other.status_code == 204
    elsewhere = await client.post(EVENTS, **signed(reaction("CNOTOURS", ts), clock.now()))
    assert elsewhere.status_code == 204
    await session.rollback()
    assert (
        await session.scalar(
            sa.select(sa.func.count()).select_from(Job).where(Job.kind == "incident.warroom.pin")
        )
        == 0
    )
    await session.rollback()

    for _ in range(2):  # Slack retries a delivery it thinks failed: one pin all the same
        accepted = await client.post(EVENTS, **signed(reaction(channel.id, ts), clock.now()))
        assert accepted.status_code == 202, accepted.text
    await run_jobs()
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    pinned = [e for e in timeline if e["kind"] == "message_pinned"]
    assert len(pinned) == 1
    assert "rolled back release 4.2" in pinned[0]["text"]
    assert "U0042" in pinned[0]["actor"]
    assert ts in channel.pins


async def test_an_incident_made_private_moves_to_a_private_channel_of_its_participants(
    client: AsyncClient,
    session: AsyncSession,
    slack: tuple[FakeSlack, str],  # noqa: F811
    run_jobs: Any,  # noqa: F811
) -> None:
    fake, _ = slack
    owner = await make_caller(session, Role.RESPONDER)
    email = owner.user.email
    fake.add_user(email)
    ref, public = await opened(client, fake, owner, run_jobs, title="Strange logins")
    public.members.add("UBYSTANDER")
    assert not public.is_private

    made = await client.patch(
        f"{API}/{ref}",
        json={"visibility": "private", "reason": "looks like a breach"},
        headers=owner.headers,
    )
    assert made.status_code == 200, made.text
    # Posted in the same breath: the public channel must not hear it.
    assert (await move(client, owner, ref, "investigating")).status_code == 200
    await run_jobs()

    assert public.is_archived
    assert not any("investigating" in t for t in fake.texts(public))
    private = next(c for c in fake.channels.values() if c.is_private)
    assert private.name == f"{public.name}-2"
    assert private.members == {BOT, fake.users[email]}
    row = await room_of(session, ref)
    assert (row["status"], row["external_id"]) == ("open", private.id)
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    assert "war_room_private" in [e["kind"] for e in timeline]

    assert (await move(client, owner, ref, "identified")).status_code == 200
    await run_jobs()
    assert fake.texts(private)[-1].startswith(f"[{ref}] Status: Status investigating → identified")


# --- pure parts ------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@given(
    secret=st.text(min_size=1, max_size=40),
    body=st.binary(max_size=200),
    skew=st.integers(min_value=-900, max_value=900),
)
def test_only_a_fresh_signature_of_exactly_this_body_is_accepted(
    secret: str, body: bytes, skew: int
) -> None:
    stamp = str(int(NOW.timestamp()) + skew)
    good = signature(secret, stamp, body)
    assert verified(secret, stamp, body, good, NOW) == (abs(skew) <= 300)
    assert not verified(secret, stamp, body + b"x", good, NOW)
    assert not verified(secret + "x", stamp, body, good, NOW)
    assert not verified(secret, "not-a-time", body, good, NOW)


def test_slack_documented_signature_example() -> None:
    """The worked example of Slack's request-signing guide."""
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert signature(SECRET, "1531420618", body) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


@given(st.integers(min_value=0, max_value=10**7))
def test_durations_read_back_to_the_minute(seconds: int) -> None:
    text = announce.duration(timedelta(seconds=seconds))
    units = {"d": 1440, "h": 60, "m": 1}
    assert sum(int(p[:-1]) * units[p[-1]] for p in text.split()) == seconds // 60


@given(
    kind=st.sampled_from(sorted(announce.HEADINGS)),
    text=st.text(max_size=100),
    author=st.text(min_size=1, max_size=30),
)
def test_every_post_names_its_incident_first(kind: str, text: str, author: str) -> None:
    assert announce.event_message("INC-7", kind, text, {}, author).startswith("[INC-7] ")


STATUSES = ["declared", "investigating", "identified", "monitoring", "resolved", "closed"]


@given(
    kind=st.sampled_from([*sorted(outbox.POSTED), "updated", "note", "declared", "escalated"]),
    before=st.sampled_from(STATUSES),
    after=st.sampled_from(STATUSES),
    fields=st.lists(st.sampled_from(["title", "visibility", "severity"]), max_size=3),
)
def test_each_timeline_event_asks_the_rooms_for_at_most_one_thing(
    kind: str, before: str, after: str, fields: list[str]
) -> None:
    event = TimelineEvent(kind=kind, data={"from": before, "to": after, "fields": fields})
    asked = outbox.reaction(event)
    if kind == "status_changed" and after == "closed":
        assert asked == outbox.ARCHIVE_KIND
    elif kind == "reopened" and before == "closed":
        assert asked == outbox.UNARCHIVE_KIND
    elif kind == "updated":
        assert asked == (outbox.PRIVATE_KIND if "visibility" in fields else None)
    else:
        assert asked == (outbox.POST_KIND if kind in outbox.POSTED else None)
