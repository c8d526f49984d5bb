"""Private incidents exist only for their participants and admins: API, pages and live stream."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.server import running_server
from tests.factories import make_caller
from tests.test_incident_api import API, declare, world  # noqa: F401  (fixture)
from tests.test_web_live import open_stream
from tocsin.auth.permissions import Role
from tocsin.config import Settings

pytestmark = pytest.mark.usefixtures("world")


async def test_a_private_incident_is_invisible_to_non_participants_everywhere(
    client: AsyncClient, session: AsyncSession
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    stakeholder = await make_caller(session, Role.STAKEHOLDER)
    admin = await make_caller(session, Role.ADMIN)
    public = await declare(client, owner, title="Public one")
    secret = await declare(client, owner, title="Breach", type="security", visibility="private")
    ref = secret["ref"]

    for caller in (outsider, stakeholder):
        listed = await client.get(API, headers=caller.headers)
        assert [i["ref"] for i in listed.json()] == [public["ref"]]
        filtered = await client.get(API, params={"service": "checkout"}, headers=caller.headers)
        assert [i["ref"] for i in filtered.json()] == [public["ref"]]
        for path in ("", "/timeline", "/roles", "/checklists"):
            hidden = await client.get(f"{API}/{ref}{path}", headers=caller.headers)
            assert hidden.status_code == 404, path
        page = await client.get(f"/incidents/{ref}", headers=caller.headers)
        assert page.status_code == 404
        assert "Breach" not in (await client.get("/incidents", headers=caller.headers)).text
    for write in (
        client.post(
            f"{API}/{ref}/status", json={"status": "investigating"}, headers=outsider.headers
        ),
        client.post(f"{API}/{ref}/timeline", json={"text": "peek"}, headers=outsider.headers),
        client.patch(f"{API}/{ref}", json={"title": "x"}, headers=outsider.headers),
    ):
        assert (await write).status_code == 404

    for caller in (owner, admin):
        assert (await client.get(f"{API}/{ref}", headers=caller.headers)).status_code == 200
        refs = [i["ref"] for i in (await client.get(API, headers=caller.headers)).json()]
        assert ref in refs
        assert "Breach" in (await client.get("/incidents", headers=caller.headers)).text

    # taking a role makes the outsider a participant, who then sees it
    assigned = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "technical-lead", "user": outsider.user.email},
        headers=owner.headers,
    )
    assert assigned.status_code == 200
    assert (await client.get(f"{API}/{ref}", headers=outsider.headers)).status_code == 200
    assert (await client.get(f"/incidents/{ref}", headers=outsider.headers)).status_code == 200


async def test_private_incident_events_reach_participants_and_admins_only(
    settings: Settings, session: AsyncSession
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    admin = await make_caller(session, Role.ADMIN)
    async with (
        running_server(settings) as base_url,
        AsyncClient(base_url=base_url) as http,
        open_stream(base_url, owner.headers) as owner_stream,
        open_stream(base_url, outsider.headers) as outsider_stream,
        open_stream(base_url, admin.headers) as admin_stream,
    ):
        secret = await declare(http, owner, title="Breach", visibility="private")
        public = await declare(http, owner, title="Public one")
        # The outsider's first event is the public declaration: the private one never came.
        heard = await outsider_stream.next_event()
        assert (heard["name"], heard["data"]["ref"]) == ("incident.declared", public["ref"])
        for stream in (owner_stream, admin_stream):
            first = await stream.next_event()
            assert (first["name"], first["data"]["ref"]) == ("incident.declared", secret["ref"])
        # Given a role, the outsider becomes a participant and hears the incident from then on.
        assigned = await http.put(
            f"{API}/{secret['ref']}/roles",
            json={"role": "scribe", "user": outsider.user.email},
            headers=owner.headers,
        )
        assert assigned.status_code == 200
        heard = await outsider_stream.next_event()
        assert (heard["name"], heard["data"]["ref"]) == ("incident.roles_changed", secret["ref"])
