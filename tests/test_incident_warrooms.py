"""The built-in web war room: chat on the incident page, live to who may see it, pinning."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.server import running_server
from tests.factories import browser_login, make_caller, make_user
from tests.test_incident_api import API, declare, world  # noqa: F401  (fixture)
from tests.test_web_live import open_stream
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Role
from tocsin.config import Settings
from tocsin.incidents.warrooms.models import WarRoom, WarRoomMessage
from tocsin.jobs.models import Job

pytestmark = pytest.mark.usefixtures("world")


async def say(client: AsyncClient, headers: dict[str, str], ref: str, text: str) -> dict:  # type: ignore[type-arg]
    response = await client.post(
        f"{API}/{ref}/war-room/messages", json={"body": text}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_responders_chat_in_the_incident_and_pin_a_message_to_the_timeline(
    client: AsyncClient, session: AsyncSession
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, responder))["ref"]
    first = await say(client, responder.headers, ref, "rolling back deploy 1234")
    await say(client, responder.headers, ref, "error rate back to normal")

    room = (await client.get(f"{API}/{ref}/war-room", headers=responder.headers)).json()
    assert room["platforms"] == ["web"]
    assert room["rooms"] == []  # the web room needs no chat platform
    assert [m["body"] for m in room["messages"]] == [
        "rolling back deploy 1234",
        "error rate back to normal",
    ]
    assert room["messages"][0]["author"] in {responder.user.name, responder.user.email}

    pinned = await client.post(
        f"{API}/{ref}/war-room/messages/{first['id']}/pin", headers=responder.headers
    )
    assert pinned.status_code == 200
    assert pinned.json()["pinned_at"] is not None
    # Pinning twice leaves one timeline entry.
    await client.post(f"{API}/{ref}/war-room/messages/{first['id']}/pin", headers=responder.headers)
    timeline = (await client.get(f"{API}/{ref}/timeline", headers=responder.headers)).json()
    pins = [e for e in timeline if e["kind"] == "message_pinned"]
    assert len(pins) == 1
    assert "rolling back deploy 1234" in pins[0]["text"]
    audited = await session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.action.like("incident.warroom.%"))
    )
    assert sorted(audited) == [
        "incident.warroom.message",
        "incident.warroom.message",
        "incident.warroom.pin",
    ]


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    client: AsyncClient, session: AsyncSession
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    viewer = await make_caller(session, Role.VIEWER)
    ref = (await declare(client, responder))["ref"]
    empty = await client.post(
        f"{API}/{ref}/war-room/messages", json={"body": "   "}, headers=responder.headers
    )
    assert empty.status_code == 422
    assert empty.headers["content-type"].startswith("application/problem+json")
    assert any("body" in str(e.get("field", e)) for e in empty.json()["errors"])
    no_platform = await client.post(
        f"{API}/{ref}/war-room", json={"platform": "slack"}, headers=responder.headers
    )
    assert no_platform.status_code == 422
    assert "platform" in no_platform.text
    unknown = await client.post(
        f"{API}/{ref}/war-room", json={"platform": "irc"}, headers=responder.headers
    )
    assert unknown.status_code == 422
    forbidden = await client.post(
        f"{API}/{ref}/war-room/messages", json={"body": "hi"}, headers=viewer.headers
    )
    assert forbidden.status_code == 403
    missing = await client.post(f"{API}/{ref}/war-room/messages/999/pin", headers=responder.headers)
    assert missing.status_code == 404
    assert await session.scalar(sa.select(sa.func.count()).select_from(WarRoomMessage)) == 0
    assert await session.scalar(sa.select(sa.func.count()).select_from(WarRoom)) == 0
    assert (
        await session.scalar(
            sa.select(sa.func.count()).select_from(Job).where(Job.kind.like("incident.warroom%"))
        )
        == 0
    )


async def test_a_private_incidents_chat_reaches_only_its_participants(
    settings: Settings, session: AsyncSession
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    async with (
        running_server(settings) as base_url,
        AsyncClient(base_url=base_url) as http,
        open_stream(base_url, owner.headers) as owner_stream,
        open_stream(base_url, outsider.headers) as outsider_stream,
    ):
        secret = (await declare(http, owner, title="Breach", visibility="private"))["ref"]
        public = (await declare(http, owner, title="Public"))["ref"]
        await say(http, owner.headers, secret, "the attacker used key 77")
        await say(http, owner.headers, public, "public news")
        # The outsider hears the public incident's chat, never the private one's.
        heard = await outsider_stream.next_event()
        assert heard["data"]["ref"] == public
        heard = await outsider_stream.next_event()
        assert (heard["name"], heard["data"]["message"]["body"]) == (
            "incident.warroom.message",
            "public news",
        )
        names = [(await owner_stream.next_event())["name"] for _ in range(3)]
        assert names == ["incident.declared", "incident.declared", "incident.warroom.message"]
        # Nor can the outsider read or write it: it does not exist for them.
        for response in (
            await http.get(f"{API}/{secret}/war-room", headers=outsider.headers),
            await http.get(f"/incidents/{secret}/war-room/messages", headers=outsider.headers),
            await http.post(
                f"{API}/{secret}/war-room/messages", json={"body": "x"}, headers=outsider.headers
            ),
        ):
            assert response.status_code == 404
            assert "key 77" not in response.text


async def test_the_incident_page_has_a_chat_that_a_browser_can_use(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.RESPONDER)
    caller = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, caller))["ref"]
    csrf = await browser_login(client, user.email)
    page = await client.get(f"/incidents/{ref}")
    assert f'hx-get="/incidents/{ref}/war-room"' in page.text
    sent = await client.post(
        f"/incidents/{ref}/war-room/messages", data={"body": "from the page", "csrf_token": csrf}
    )
    assert sent.status_code == 303
    panel = await client.get(f"/incidents/{ref}/war-room", headers={"HX-Request": "true"})
    assert "from the page" in panel.text
    assert "Pin to timeline" in panel.text
    message_id = await session.scalar(sa.select(WarRoomMessage.id))
    await session.rollback()  # end the read so the app may write
    pinned = await client.post(
        f"/incidents/{ref}/war-room/messages/{message_id}/pin", data={"csrf_token": csrf}
    )
    assert pinned.status_code == 303
    chat = await client.get(f"/incidents/{ref}/war-room/messages")
    assert "pinned" in chat.text
    assert "Pin to timeline" not in chat.text
    empty = await client.post(
        f"/incidents/{ref}/war-room/messages", data={"body": "", "csrf_token": csrf}
    )
    assert empty.status_code == 422
    assert "body" in empty.text
