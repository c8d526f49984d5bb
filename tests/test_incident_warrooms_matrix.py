"""Matrix war rooms, against a real Synapse homeserver started for the test session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.chat.synapse import SERVER_NAME, Homeserver, homeserver
from tests.conftest import Configure
from tests.factories import Caller, make_caller
from tests.test_incident_api import API, declare, move, world  # noqa: F401  (fixture)
from tests.test_incident_warrooms_follow import close
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings, load_settings
from tocsin.incidents.warrooms.models import WarRoom
from tocsin.jobs.worker import Worker

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    try:
        started = homeserver(tmp_path_factory.mktemp("synapse"))
        server = next(started)
    except RuntimeError as exc:
        pytest.fail(f"the Synapse homeserver for Matrix tests did not start: {exc}")
    yield server
    next(started, None)


@pytest.fixture
def chat_env(synapse: Homeserver, configure: Configure) -> None:
    configure(
        {
            "TOCSIN_WARROOM_PLATFORMS": '["web", "matrix"]',
            "TOCSIN_WARROOM_MATRIX_HOMESERVER_URL": synapse.url,
            "TOCSIN_WARROOM_MATRIX_ACCESS_TOKEN": synapse.bot_token,
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


def matrix_id(caller: Caller) -> str:
    return f"@{caller.user.email.split('@')[0]}:{SERVER_NAME}"


async def matrix_user(session: AsyncSession, synapse: Homeserver) -> tuple[Caller, str]:
    """A Tocsin responder with a Matrix account of the same local part; returns its token."""
    caller = await make_caller(session, Role.RESPONDER)
    _, token = synapse.register(caller.user.email.split("@")[0])
    return caller, token


def matrix(synapse: Homeserver, token: str, method: str, path: str, **body: Any) -> Any:
    response = httpx.request(
        method,
        f"{synapse.url}/_matrix/client/v3{path}",
        json=body or None,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def members(synapse: Homeserver, room_id: str) -> set[str]:
    chunk = matrix(synapse, synapse.bot_token, "GET", f"/rooms/{quote(room_id)}/members")["chunk"]
    return {
        e["state_key"]
        for e in chunk
        if e["content"]["membership"] in {"join", "invite"} and e["state_key"] != synapse.bot_user
    }


async def open_room(sessionmaker: async_sessionmaker[AsyncSession], ref: str) -> tuple[str, str]:
    async with sessionmaker() as fresh:
        row = await fresh.scalar(
            sa.select(WarRoom).where(WarRoom.incident_id == int(ref.split("-")[1]))
        )
        assert row is not None and row.status == "open", row and row.last_error
        return str(row.external_id), str(row.name)


async def test_a_private_incident_gets_an_invite_only_room_of_exactly_its_participants(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    synapse: Homeserver,
    run_jobs: Any,
) -> None:
    owner, _ = await matrix_user(session, synapse)
    helper, _ = await matrix_user(session, synapse)
    outsider, _ = await matrix_user(session, synapse)
    ref = (await declare(client, owner, title="Leaked keys", visibility="private"))["ref"]
    await run_jobs()
    room_id, alias = await open_room(sessionmaker, ref)
    assert alias.startswith("#inc-") and alias.endswith(f"-sev1-leaked-keys:{SERVER_NAME}")
    join_rule = matrix(
        synapse, synapse.bot_token, "GET", f"/rooms/{quote(room_id)}/state/m.room.join_rules"
    )
    assert join_rule["join_rule"] == "invite"
    assert members(synapse, room_id) == {matrix_id(owner)}
    resolved = matrix(synapse, synapse.bot_token, "GET", f"/directory/room/{quote(alias)}")
    assert resolved["room_id"] == room_id

    assigned = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "scribe", "user": helper.user.email},
        headers=owner.headers,
    )
    assert assigned.status_code == 200
    await run_jobs()
    assert members(synapse, room_id) == {matrix_id(owner), matrix_id(helper)}

    # Someone let in by hand is removed at the next membership change.
    matrix(
        synapse,
        synapse.bot_token,
        "POST",
        f"/rooms/{quote(room_id)}/invite",
        user_id=matrix_id(outsider),
    )
    third, _ = await matrix_user(session, synapse)
    added = await client.post(
        f"{API}/{ref}/participants", json={"user": third.user.email}, headers=owner.headers
    )
    assert added.status_code == 200, added.text
    await run_jobs()
    assert members(synapse, room_id) == {matrix_id(c) for c in (owner, helper, third)}


async def test_a_matrix_message_is_pinned_to_the_timeline_by_its_permalink(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    synapse: Homeserver,
    run_jobs: Any,
) -> None:
    owner, token = await matrix_user(session, synapse)
    ref = (await declare(client, owner, title="Disk full"))["ref"]
    await run_jobs()
    room_id, _ = await open_room(sessionmaker, ref)
    matrix(synapse, token, "POST", f"/join/{quote(room_id)}")
    sent = matrix(
        synapse,
        token,
        "PUT",
        f"/rooms/{quote(room_id)}/send/m.room.message/t1",
        msgtype="m.text",
        body="freed 40 GB by rotating logs",
    )
    permalink = f"https://matrix.to/#/{quote(room_id)}/{quote(sent['event_id'])}?via={SERVER_NAME}"
    queued = await client.post(
        f"{API}/{ref}/war-room/pins",
        json={"platform": "matrix", "permalink": permalink},
        headers=owner.headers,
    )
    assert queued.status_code == 202, queued.text
    await run_jobs()
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    pinned = [e for e in timeline if e["kind"] == "message_pinned"]
    assert len(pinned) == 1
    assert "freed 40 GB by rotating logs" in pinned[0]["text"]
    assert matrix_id(owner) in pinned[0]["text"]


def bot_said(synapse: Homeserver, room_id: str) -> list[str]:
    """What the bot posted in the room, oldest first."""
    chunk = matrix(
        synapse,
        synapse.bot_token,
        "GET",
        f"/rooms/{quote(room_id)}/messages?dir=b&limit=100",
    )["chunk"]
    return [
        e["content"]["body"]
        for e in reversed(chunk)
        if e["type"] == "m.room.message" and e["sender"] == synapse.bot_user
    ]


def topic(synapse: Homeserver, room_id: str) -> str:
    path = f"/rooms/{quote(room_id)}/state/m.room.topic"
    return str(matrix(synapse, synapse.bot_token, "GET", path)["topic"])


def react(synapse: Homeserver, token: str, room_id: str, event_id: str, key: str) -> None:
    matrix(
        synapse,
        token,
        "PUT",
        f"/rooms/{quote(room_id)}/send/m.reaction/{quote(event_id + key)}",
        **{"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
    )


async def test_the_room_hears_the_news_pins_by_reaction_and_is_archived_on_close(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    synapse: Homeserver,
    run_jobs: Any,
    clock: FrozenClock,
) -> None:
    owner, token = await matrix_user(session, synapse)
    owner_id = matrix_id(owner)
    ref = (await declare(client, owner, title="Queue backlog"))["ref"]
    await run_jobs()
    room_id, _ = await open_room(sessionmaker, ref)
    matrix(synapse, token, "POST", f"/join/{quote(room_id)}")

    assert (await move(client, owner, ref, "investigating")).status_code == 200
    update = await client.post(
        f"{API}/{ref}/updates",
        json={"current_status": "Consumers restarted", "next_steps": "Watch lag"},
        headers=owner.headers,
    )
    assert update.status_code == 201
    await run_jobs()
    said = bot_said(synapse, room_id)
    assert said[0].startswith(f"[{ref}] Status: Status declared → investigating")
    assert said[1].startswith(f"[{ref}] Update from ") and "Next steps: Watch lag" in said[1]
    assert len(said) == 2

    # A pushpin reaction pins the message at the next read of the room; other reactions don't.
    sent = matrix(
        synapse,
        token,
        "PUT",
        f"/rooms/{quote(room_id)}/send/m.room.message/m1",
        msgtype="m.text",
        body="lag is back under a minute",
    )
    other = matrix(
        synapse,
        token,
        "PUT",
        f"/rooms/{quote(room_id)}/send/m.room.message/m2",
        msgtype="m.text",
        body="lunch?",
    )
    react(synapse, token, room_id, sent["event_id"], "\N{PUSHPIN}")
    react(synapse, token, room_id, other["event_id"], "\N{EYES}")
    clock.advance(timedelta(seconds=31))
    await run_jobs()
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    pinned = [e for e in timeline if e["kind"] == "message_pinned"]
    assert [p["text"] for p in pinned] == [f"{owner_id}: lag is back under a minute"]
    assert owner_id in pinned[0]["actor"]
    clock.advance(timedelta(seconds=31))  # read again: nothing new, nothing pinned twice
    await run_jobs()
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=owner.headers)).json()
    assert len([e for e in timeline if e["kind"] == "message_pinned"]) == 1

    await close(client, owner, ref)
    await run_jobs()
    assert bot_said(synapse, room_id)[-1].startswith(f"[{ref}] Closed: Queue backlog (sev1)")
    assert topic(synapse, room_id) == f"[closed] {ref}: Queue backlog"
    assert members(synapse, room_id) == set()

    reopened = await move(client, owner, ref, "investigating", "backlog is growing again")
    assert reopened.status_code == 200, reopened.text
    await run_jobs()
    assert topic(synapse, room_id) == f"{ref}: Queue backlog"
    assert members(synapse, room_id) == {owner_id}
    assert bot_said(synapse, room_id)[-1].startswith(f"[{ref}] Re-opened: Status closed")


async def test_an_incident_made_private_closes_its_room_to_everyone_else(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    synapse: Homeserver,
    run_jobs: Any,
) -> None:
    owner, _ = await matrix_user(session, synapse)
    bystander, bystander_token = await matrix_user(session, synapse)
    owner_id, bystander_id = matrix_id(owner), matrix_id(bystander)
    ref = (await declare(client, owner, title="Odd admin logins"))["ref"]
    await run_jobs()
    room_id, _ = await open_room(sessionmaker, ref)
    join_rule = f"/rooms/{quote(room_id)}/state/m.room.join_rules"
    assert matrix(synapse, synapse.bot_token, "GET", join_rule)["join_rule"] == "public"
    matrix(synapse, bystander_token, "POST", f"/join/{quote(room_id)}")
    assert bystander_id in members(synapse, room_id)

    made = await client.patch(
        f"{API}/{ref}",
        json={"visibility": "private", "reason": "possible breach"},
        headers=owner.headers,
    )
    assert made.status_code == 200, made.text
    await run_jobs()
    assert matrix(synapse, synapse.bot_token, "GET", join_rule)["join_rule"] == "invite"
    assert members(synapse, room_id) == {owner_id}
    async with httpx.AsyncClient(timeout=30) as outside:
        refused = await outside.post(
            f"{synapse.url}/_matrix/client/v3/join/{quote(room_id)}",
            json={},
            headers={"Authorization": f"Bearer {bystander_token}"},
        )
    assert refused.status_code == 403
    room = (await client.get(f"{API}/{ref}/war-room", headers=owner.headers)).json()["rooms"][0]
    assert room["private"] is True and room["status"] == "open"
