"""The coordination and vendor panels of the incident page, and their forms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import browser_login, make_caller, make_user
from tests.test_incident_coordination import declare, world  # noqa: F401  (fixture)
from tests.test_incident_vendors import world as vendor_world  # noqa: F401  (fixture)
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock

HTMX = {"HX-Request": "true"}


@pytest.mark.usefixtures("world")
async def test_a_commander_settles_a_conflict_from_the_incident_page(
    client: AsyncClient, session: AsyncSession
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, owner)
    ic = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, ic.email)
    page = await client.get(f"/incidents/{ref}")
    assert f'hx-get="/incidents/{ref}/coordination"' in page.text

    for title, team in (("Roll back release", "payments"), ("Migrate forward", "database")):
        added = await client.post(
            f"/incidents/{ref}/coordination/tasks",
            data={"csrf_token": csrf, "title": title, "team": team, "priority": "P1"},
        )
        assert added.status_code == 303
    refused = await client.post(
        f"/incidents/{ref}/coordination/tasks",
        data={"csrf_token": csrf, "title": "x", "team": "nobody"},
    )
    assert refused.status_code == 422 and "no team" in refused.text

    panel = await client.get(f"/incidents/{ref}/coordination", headers=HTMX)
    assert "Roll back release" in panel.text and "No open conflicts" in panel.text
    tasks = (await client.get(f"/api/v1/incidents/{ref}/tasks", headers=owner.headers)).json()
    raised = await client.post(
        f"/incidents/{ref}/coordination/conflicts",
        data={
            "csrf_token": csrf,
            "task_id": str(tasks[0]["id"]),
            "other_task_id": str(tasks[1]["id"]),
            "note": "opposite schema changes",
        },
    )
    assert raised.status_code == 303
    panel = await client.get(f"/incidents/{ref}/coordination", headers=HTMX)
    assert "opposite schema changes" in panel.text and "Decide and close the conflict" in panel.text
    conflict = (
        await client.get(f"/api/v1/incidents/{ref}/conflicts", headers=owner.headers)
    ).json()

    resolved = await client.post(
        f"/incidents/{ref}/coordination/conflicts/{conflict[0]['id']}/resolve",
        data={
            "csrf_token": csrf,
            "decision": "Roll back now",
            "options": "Roll back, then migrate\nMigrate forward",
            "rationale": "tested path",
            "dissent": "database team: loses an hour of writes",
        },
    )
    assert resolved.status_code == 303
    panel = await client.get(f"/incidents/{ref}/coordination", headers=HTMX)
    assert "No open conflicts" in panel.text
    assert "Roll back, then migrate · Migrate forward" in panel.text
    assert "database team: loses an hour of writes" in panel.text


@pytest.mark.usefixtures("world")
async def test_a_viewer_sees_the_panels_without_forms(
    client: AsyncClient, session: AsyncSession
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, owner)
    viewer = await make_user(session, Role.VIEWER)
    await browser_login(client, viewer.email)
    panel = await client.get(f"/incidents/{ref}/coordination")
    assert panel.status_code == 200 and "Record a decision" not in panel.text
    vendors = await client.get(f"/incidents/{ref}/vendors")
    assert vendors.status_code == 200 and "Engage vendor" not in vendors.text


@pytest.mark.usefixtures("vendor_world")
async def test_a_vendor_is_engaged_and_acknowledged_from_the_incident_page(
    client: AsyncClient, session: AsyncSession, clock: FrozenClock
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, owner)
    ic = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, ic.email)
    engaged = await client.post(
        f"/incidents/{ref}/vendors",
        data={"csrf_token": csrf, "vendor": "cloudco", "case_id": "CASE-7"},
    )
    assert engaged.status_code == 303
    clock.advance(timedelta(minutes=10))
    panel = await client.get(f"/incidents/{ref}/vendors", headers=HTMX)
    assert "CloudCo · case CASE-7" in panel.text
    assert "Open a P1 case and quote the account id" in panel.text
    assert "Duty manager" in panel.text and "running" in panel.text
    engagement = (
        await client.get(f"/api/v1/incidents/{ref}/vendors", headers=owner.headers)
    ).json()
    acked = await client.post(
        f"/incidents/{ref}/vendors/{engagement[0]['id']}",
        data={"csrf_token": csrf, "case_id": "CASE-7", "acknowledged": "1", "notes": ""},
    )
    assert acked.status_code == 303
    panel = await client.get(f"/incidents/{ref}/vendors", headers=HTMX)
    assert ">met<" in panel.text


@pytest.mark.usefixtures("world")
async def test_the_panels_of_a_private_incident_are_hidden_from_non_participants(
    client: AsyncClient, session: AsyncSession
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    ref = await declare(client, owner, title="Breach", type="security", visibility="private")
    outsider = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, outsider.email)
    for path in ("coordination", "vendors"):
        assert (await client.get(f"/incidents/{ref}/{path}")).status_code == 404
    peek = await client.post(
        f"/incidents/{ref}/coordination/decisions", data={"csrf_token": csrf, "decision": "x"}
    )
    assert peek.status_code == 404
    decisions = await client.get(f"/api/v1/incidents/{ref}/decisions", headers=owner.headers)
    assert decisions.json() == []
