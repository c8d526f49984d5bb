"""Routing rules that open private incidents, on a real database with the real pipeline jobs.

A private routed incident belongs to the members of the team that owns the service (and
whoever the service's escalation policy pages); everyone else is told it does not exist, in
the API and in the web pages alike.
"""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import test_alert_routing as routing
from tests.factories import Caller, browser_login, make_caller, make_user
from tests.test_alert_ingest_helpers import make_integration, make_service
from tests.test_alert_pipeline_helpers import alerts_named, firing, page_jobs, post_alerts
from tocsin.alerts.normalized import SourceKind
from tocsin.auth.permissions import Role
from tocsin.config import Settings

pytestmark = pytest.mark.asyncio
# The routing tests' admin caller fixture.
admin = routing.admin


async def test_a_routed_private_incident_is_seen_by_the_owning_team_only(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    admin: Caller,
) -> None:
    member = await make_user(session, Role.RESPONDER)
    outsider = await make_user(session, Role.RESPONDER)
    member_api = await make_caller(session, Role.RESPONDER)
    await session.commit()
    created = await client.post(
        "/api/v1/teams", json={"slug": "payments", "name": "Payments"}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    for email in (member.email, member_api.user.email):
        added = await client.post(
            "/api/v1/teams/payments/members", json={"email": email}, headers=admin.headers
        )
        assert added.status_code == 200, added.text
    await make_service(session, "billing", owner_team="payments")
    key = (await make_integration(session, SourceKind.ALERTMANAGER, service="billing")).key
    await session.commit()
    await routing.put_rule(
        client, admin, slug="fraud", service="billing", action="incident", visibility="private"
    )
    listed = (await client.get("/api/v1/routing-rules", headers=admin.headers)).json()
    assert listed[0]["visibility"] == "private"

    await post_alerts(client, key, firing("CardFraudSpike", severity="critical"))
    await routing.run_jobs(settings, sessionmaker)

    [incident] = await routing.incidents(sessionmaker)
    assert incident.visibility == "private"
    ref = f"INC-{incident.id}"
    [page] = await page_jobs(sessionmaker)
    assert page.payload["incident_id"] == incident.id, "private or not, the on-call is paged"
    [row] = await alerts_named(sessionmaker, "CardFraudSpike")
    assert row.decision == "incident" and "a private incident" in row.decision_reason
    assert ref not in row.decision_reason, "the alert's reason does not name it either"

    # A team member sees it through the API ...
    mine = await client.get("/api/v1/incidents", headers=member_api.headers)
    assert [i["ref"] for i in mine.json()] == [ref]
    assert (await client.get(f"/api/v1/incidents/{ref}", headers=member_api.headers)).is_success

    # ... and in the web pages; someone outside the team does not, anywhere.
    await browser_login(client, member.email)
    assert "CardFraudSpike" in (await client.get("/incidents")).text
    client.cookies.clear()
    await browser_login(client, outsider.email)
    assert "CardFraudSpike" not in (await client.get("/incidents")).text
    assert (await client.get(f"/incidents/{ref}")).status_code == 404
    client.cookies.clear()
    stranger = await make_caller(session, Role.RESPONDER)
    await session.commit()
    assert (await client.get("/api/v1/incidents", headers=stranger.headers)).json() == []
    hidden = await client.get(f"/api/v1/incidents/{ref}", headers=stranger.headers)
    assert hidden.status_code == 404
