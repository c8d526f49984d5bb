"""Routing rules that open private incidents, on a real database with the real pipeline jobs.

A private routed incident belongs to the members of the team that owns the service (and
whoever the service's escalation policy pages, then or later); everyone else is told it does
not exist, in the API and in the web pages alike.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import test_alert_routing as routing
from tests.factories import Caller, browser_login, make_caller, make_user
from tests.test_alert_ingest_helpers import make_integration, make_service
from tests.test_alert_pipeline_helpers import (
    PIPELINE_KINDS,
    alerts_named,
    firing,
    page_jobs,
    post_alerts,
)
from tocsin.alerts.normalized import SourceKind
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.incidents.models import TimelineEvent
from tocsin.jobs.registry import HandlerSpec, Registry
from tocsin.jobs.worker import Worker
from tocsin.oncall import handlers as oncall_handlers
from tocsin.oncall.models import OncallPage

pytestmark = pytest.mark.asyncio
# The routing tests' admin caller fixture.
admin = routing.admin
ONCALL = "/api/v1/oncall"


def registry() -> Registry:
    """The pipeline, the opening of pages and their escalation timers."""
    found = Registry()
    kinds = {
        **PIPELINE_KINDS,
        "oncall.page": oncall_handlers.page,
        "oncall.escalate": oncall_handlers.escalate,
    }
    for kind, handler in kinds.items():
        found.register(HandlerSpec(kind, handler))
    return found


async def run_jobs(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    worker = Worker(settings, sessionmaker, registry=registry(), worker_id="private")
    for _ in range(20):
        if not await worker.run_once():
            return


async def created(client: AsyncClient, admin: Caller, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"{ONCALL}/{path}", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


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


async def test_whoever_the_escalation_reaches_later_is_let_in_before_being_paged(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    admin: Caller,
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    primary = await make_caller(session, Role.RESPONDER)
    tonight = await make_caller(session, Role.RESPONDER)
    next_up = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    await session.commit()
    team = {"slug": "payments", "name": "Payments"}
    assert (await client.post("/api/v1/teams", json=team, headers=admin.headers)).is_success
    joined = await client.post(
        "/api/v1/teams/payments/members", json={"email": owner.user.email}, headers=admin.headers
    )
    assert joined.status_code == 200, joined.text
    await make_service(session, "billing", owner_team="payments")
    key = (await make_integration(session, SourceKind.ALERTMANAGER, service="billing")).key
    await session.commit()
    # The secondary rotation hands over ten minutes from now (09:10 UTC); the policy reaches
    # it fifteen minutes after the page, if the primary has not acknowledged.
    assert clock.now().strftime("%H:%M") == "09:00"
    handoff = (clock.now() + timedelta(minutes=10)).strftime("%H:%M")
    secondary = await created(
        client,
        admin,
        "schedules",
        {
            "slug": "secondary",
            "name": "Secondary",
            "team": "payments",
            "layers": [
                {
                    "rotation": "daily",
                    "start_date": (clock.now() - timedelta(days=1)).date().isoformat(),
                    "handoff_time": handoff,
                    "members": [tonight.user.id, next_up.user.id],
                }
            ],
        },
    )
    levels = [
        {"timeout_minutes": 15, "targets": [{"type": "user", "id": primary.user.id}]},
        {"timeout_minutes": 15, "targets": [{"type": "schedule", "id": secondary["id"]}]},
    ]
    await created(
        client,
        admin,
        "policies",
        {"slug": "payments", "name": "Payments", "team": "payments", "levels": levels},
    )
    attached = await client.put(
        f"{ONCALL}/services/billing/policy", json={"policy": "payments"}, headers=admin.headers
    )
    assert attached.status_code == 200, attached.text
    await routing.put_rule(
        client, admin, slug="fraud", service="billing", action="incident", visibility="private"
    )

    await post_alerts(client, key, firing("CardFraudSpike", severity="critical"))
    await run_jobs(settings, sessionmaker)

    [incident] = await routing.incidents(sessionmaker)
    ref = f"/api/v1/incidents/INC-{incident.id}"
    for member in (owner, primary, tonight):
        assert (await client.get(ref, headers=member.headers)).is_success
    assert (await client.get(ref, headers=next_up.headers)).status_code == 404, (
        "not on call when it was declared"
    )

    clock.advance(timedelta(minutes=10))  # the secondary rotation hands over
    await post_alerts(client, key, firing("CardFraudSpike", severity="critical"))  # still on
    await run_jobs(settings, sessionmaker)
    assert (await client.get(ref, headers=next_up.headers)).status_code == 404
    clock.advance(timedelta(minutes=5))  # nobody acknowledged: level 2 is paged
    await post_alerts(client, key, firing("CardFraudSpike", severity="critical"))
    await run_jobs(settings, sessionmaker)

    async with sessionmaker() as reading:
        [page] = await reading.scalars(sa.select(OncallPage))
        assert page.level == 1 and page.notified == [next_up.user.id]
        added = list(
            await reading.scalars(
                sa.select(TimelineEvent)
                .where(
                    TimelineEvent.incident_id == incident.id,
                    TimelineEvent.kind == "participants_added",
                )
                .order_by(TimelineEvent.id)
            )
        )
        audited = list(
            await reading.scalars(
                sa.select(AuditEntry).where(AuditEntry.action == "incident.participant_added")
            )
        )
    assert added[-1].data["users"] == [next_up.user.id], "the timeline says who was let in"
    assert [entry.after for entry in audited] == [{"users": [next_up.user.id], "page": page.id}]
    paged_ones = await client.get(ref, headers=next_up.headers)
    assert paged_ones.is_success, "whoever is paged about it can open it"
    assert (await client.get(ref, headers=outsider.headers)).status_code == 404
