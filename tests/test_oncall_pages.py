"""The on-call pages a person uses: schedules and their two-week timeline, policies, the
pages list with its acknowledge button, and "my on-call"."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import browser_login, make_caller, make_user
from tests.test_oncall import (
    layer,
    make_policy,
    page,
    people,
    rotation_on_call,
    service_id,
)
from tocsin.auth.permissions import Role
from tocsin.config import Settings
from tocsin.jobs.worker import Worker

__all__ = ["people"]


@pytest.fixture
def run_worker(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async def run() -> int:
        return await Worker(settings, sessionmaker, worker_id="test-worker").run_once()

    return run


async def test_a_responder_sees_the_timeline_and_acknowledges_from_the_pages_list(
    client: AsyncClient, session: AsyncSession, people: dict[str, Any], run_worker: Any
) -> None:
    ada, bob = people["ada"], people["bob"]
    await rotation_on_call(client, people, 5)
    await page(session, await service_id(session))
    await run_worker()

    user = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, user.email)
    home = await client.get("/oncall")
    assert home.status_code == 200
    assert 'href="/oncall/pages"' in home.text and "Primary" in home.text
    timeline = await client.get("/oncall/schedules/primary")
    assert timeline.status_code == 200
    assert timeline.text.count('class="oncall-bar"') >= 14
    for person in (ada.user, bob.user):
        assert (person.name or person.email) in timeline.text
    policies = await client.get("/oncall/policies")
    assert "checkout" in policies.text and "escalates after 5 min" in policies.text

    listing = await client.get("/oncall/pages")
    assert "Database down" in listing.text and "Acknowledge</button>" in listing.text
    done = await client.post(
        "/oncall/pages/1/acknowledge", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    listing = await client.get("/oncall/pages")
    assert "acknowledged" in listing.text and "Acknowledge</button>" not in listing.text


async def test_my_oncall_shows_my_shifts_and_the_pages_that_reached_me(
    client: AsyncClient, session: AsyncSession, people: dict[str, Any], run_worker: Any
) -> None:
    person = await make_user(session, Role.RESPONDER)
    await session.commit()
    caller = await make_caller(session, Role.ADMIN)
    await client.post(
        "/api/v1/oncall/schedules",
        json={"slug": "solo", "name": "Solo", "layers": [{**layer([]), "members": [person.id]}]},
        headers=caller.headers,
    )
    await browser_login(client, person.email)
    mine = await client.get("/oncall/me")
    assert mine.status_code == 200
    assert mine.text.count('class="shift"') == 1 and "Solo" in mine.text


async def test_a_viewer_reads_but_gets_no_acknowledge_button(
    client: AsyncClient, session: AsyncSession, people: dict[str, Any], run_worker: Any
) -> None:
    ada = people["ada"]
    await make_policy(
        client, ada, [{"timeout_minutes": 5, "targets": [{"type": "user", "id": ada.user.id}]}]
    )
    await page(session, await service_id(session))
    await run_worker()
    viewer = await make_user(session, Role.VIEWER)
    csrf = await browser_login(client, viewer.email)
    listing = await client.get("/oncall/pages")
    assert "Database down" in listing.text and "Acknowledge</button>" not in listing.text
    refused = await client.post("/oncall/pages/1/acknowledge", data={"csrf_token": csrf})
    assert refused.status_code == 403


async def test_a_page_of_a_private_incident_keeps_its_title_from_outsiders(
    client: AsyncClient, session: AsyncSession, people: dict[str, Any], run_worker: Any
) -> None:
    ada = people["ada"]
    await make_policy(
        client, ada, [{"timeout_minutes": 5, "targets": [{"type": "user", "id": ada.user.id}]}]
    )
    declared = await client.post(
        "/api/v1/incidents",
        json={
            "title": "Secret breach",
            "severity": "sev1",
            "services": ["checkout"],
            "visibility": "private",
        },
        headers=ada.headers,
    )
    assert declared.status_code == 201, declared.text
    await page(
        session, await service_id(session), incident_id=declared.json()["id"], title="Secret breach"
    )
    await run_worker()
    outsider = people["outsider"]
    listed = await client.get("/api/v1/oncall/pages", headers=outsider.headers)
    assert "Secret breach" not in listed.text and listed.json()[0]["log"] == []
    insider = await client.get("/api/v1/oncall/pages/1", headers=ada.headers)
    assert insider.json()["title"] == "Secret breach"
    await browser_login(client, (await make_user(session, Role.RESPONDER)).email)
    assert "Secret breach" not in (await client.get("/oncall/pages")).text
