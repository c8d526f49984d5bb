"""The bridge panel on the incident page: link, next update due, adherence and the update form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import browser_login, make_caller, make_user
from tests.test_incident_bridge import declare, post_update
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.policy import service as policy

HTMX = {"HX-Request": "true"}


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> None:
    await policy.ensure_default_policies(session)
    await session.commit()


async def test_the_incident_page_loads_the_bridge_panel_and_posts_updates(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    user = await make_user(session, Role.RESPONDER)
    api = await make_caller(session)
    csrf = await browser_login(client, user.email)
    ref = await declare(client, api)

    page = await client.get(f"/incidents/{ref}")
    assert f'hx-get="/incidents/{ref}/bridge"' in page.text
    panel = await client.get(f"/incidents/{ref}/bridge", headers=HTMX)
    assert panel.status_code == 200
    assert "<html" not in panel.text
    assert f"https://meet.example.com/{ref}" in panel.text
    assert "every 60 min" in panel.text

    refused = await client.post(
        f"/incidents/{ref}/updates", data={"csrf_token": csrf, "current_status": ""}
    )
    assert refused.status_code == 422 and "field-error" in refused.text

    posted = await client.post(
        f"/incidents/{ref}/updates",
        data={
            "csrf_token": csrf,
            "current_status": "Error rate falling",
            "actions": "Failing over to the standby database",
            "next_steps": "Confirm replication lag",
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303
    panel = await client.get(f"/incidents/{ref}/bridge", headers=HTMX)
    assert "Failing over to the standby database" in panel.text
    assert "1 due: 1 on time, 0 late, 0 missed" in panel.text
    assert "overdue" not in panel.text

    clock.advance(timedelta(minutes=75))
    full = await client.get(f"/incidents/{ref}/bridge")
    assert "<html" in full.text
    assert "overdue by 15 min" in full.text
    assert "2 due: 1 on time, 0 late, 1 missed" in full.text


async def test_the_bridge_page_of_a_private_incident_is_hidden_from_outsiders(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    owner = await make_caller(session)
    outsider = await make_user(session, Role.RESPONDER)
    ref = await declare(client, owner, visibility="private")
    await post_update(client, owner, ref, current_status="Secret status")
    csrf = await browser_login(client, outsider.email)
    hidden = await client.get(f"/incidents/{ref}/bridge", headers=HTMX)
    assert hidden.status_code == 404 and "Secret status" not in hidden.text
    posted = await client.post(
        f"/incidents/{ref}/updates", data={"csrf_token": csrf, "current_status": "x"}
    )
    assert posted.status_code == 404
