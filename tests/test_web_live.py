"""Live updates over SSE: a connected page hears the events it may see, and only those."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.server import running_server
from tests.factories import make_caller
from tocsin import events
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Permission, Role
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import ServiceCreate, ServiceUpdate, Tier
from tocsin.config import Settings
from tocsin.web import live

STREAM_TIMEOUT = 10.0


class Stream:
    """Reads a text/event-stream line by line, the way EventSource does."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def _line(self) -> str:
        return await anext(self._lines)

    async def comment(self, startswith: str) -> str:
        async with asyncio.timeout(STREAM_TIMEOUT):
            while True:
                line = await self._line()
                if line.startswith(": " + startswith):
                    return line

    async def next_event(self) -> dict[str, Any]:
        """The next `tocsin` event (pings and other comments are skipped)."""
        kind = data = None
        async with asyncio.timeout(STREAM_TIMEOUT):
            while True:
                line = await self._line()
                if line.startswith("event:"):
                    kind = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data = line.partition(":")[2].strip()
                elif line == "" and data is not None:
                    assert kind == live.SSE_EVENT
                    return dict(json.loads(data))


@asynccontextmanager
async def open_stream(base_url: str, headers: dict[str, str]) -> AsyncIterator[Stream]:
    async with (
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=STREAM_TIMEOUT) as client,
        client.stream("GET", "/events/stream") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        await stream.comment("subscribed")
        yield stream


async def test_a_connected_page_receives_events_it_may_see_but_not_others(
    settings: Settings, session: AsyncSession
) -> None:
    viewer = await make_caller(session, Role.VIEWER)
    admin = await make_caller(session, Role.ADMIN)
    async with (
        running_server(settings) as base_url,
        open_stream(base_url, viewer.headers) as viewer_stream,
        open_stream(base_url, admin.headers) as admin_stream,
    ):
        # Published first: if filtering failed, the viewer would read this one first.
        await events.publish("audit.entry.recorded", {"id": 7}, audience="audit:read")
        await events.publish("incident.private.updated", {"id": 9}, audience="private:9")
        await events.publish("catalog.service.updated", {"slug": "checkout"}, "catalog:read")

        seen_by_viewer = await viewer_stream.next_event()
        assert seen_by_viewer["name"] == "catalog.service.updated"
        assert seen_by_viewer["data"] == {"slug": "checkout"}

        names = [(await admin_stream.next_event())["name"] for _ in range(3)]
        assert names == [
            "audit.entry.recorded",
            "incident.private.updated",
            "catalog.service.updated",
        ]


async def test_a_catalog_change_reaches_a_connected_page(
    settings: Settings, session: AsyncSession
) -> None:
    viewer = await make_caller(session, Role.VIEWER)
    system = Actor.system("test")
    await catalog.create_service(session, system, ServiceCreate(slug="search", name="Search"))
    await session.rollback()
    async with running_server(settings) as base_url, open_stream(base_url, viewer.headers) as s:
        await catalog.update_service(session, system, "search", ServiceUpdate(tier=Tier.TIER_1))
        event = await s.next_event()
    assert event["name"] == "catalog.service.updated"
    assert event["data"] == {"slug": "search"}


async def test_an_idle_stream_gets_keep_alive_pings(
    settings: Settings, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "PING_SECONDS", 0.05)
    caller = await make_caller(session, Role.VIEWER)
    async with running_server(settings) as base_url, open_stream(base_url, caller.headers) as s:
        assert (await s.comment("ping")).startswith(": ping")


async def test_the_stream_is_for_signed_in_callers_only(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/events/stream")
    assert anonymous.status_code == 401
    from_browser = await client.get(
        "/events/stream", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert from_browser.status_code == 303
    assert from_browser.headers["location"].startswith("/login")


def _principal(role: Role) -> Principal:
    return Principal.for_user(
        user_id=1, email="p@example.test", name="p", role=role, team_ids=frozenset(), via="token"
    )


@given(role=st.sampled_from(Role), permission=st.sampled_from(Permission))
def test_a_permission_audience_reaches_exactly_those_holding_it(
    role: Role, permission: Permission
) -> None:
    principal = _principal(role)
    assert live.may_see(principal, permission.value) == principal.can(permission)


@given(
    role=st.sampled_from(Role),
    audience=st.text(max_size=30).filter(lambda a: a not in {p.value for p in Permission}),
)
def test_an_unknown_audience_reaches_admins_only(role: Role, audience: str) -> None:
    assert live.may_see(_principal(role), audience) == (role is Role.ADMIN)
