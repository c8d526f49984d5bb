"""One incident from declaration to close through the HTTP API, with the process restarted in
the middle: the bridge reminder, the escalation of a second missed update to the policy's
targets, a duration rule crossed while nothing was running, and the resolution checklists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Caller, make_caller, make_user
from tocsin.app import create_app
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.db.engine import make_engine, make_sessionmaker
from tocsin.jobs.worker import Worker
from tocsin.policy import service as policy

API = "/api/v1/incidents"
TECHNICAL = ["impact-ended", "fix-verified", "alerts-clear"]
BUSINESS = ["customers-notified", "failed-work-reprocessed", "support-briefed"]


@dataclass
class Process:
    """What one running Tocsin process has: its application and its worker."""

    client: AsyncClient
    worker: Worker


@asynccontextmanager
async def running(settings: Settings, name: str) -> AsyncIterator[Process]:
    app = create_app(settings)
    engine = make_engine(settings)
    try:
        async with (
            LifespanManager(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
        ):
            yield Process(client, Worker(settings, make_sessionmaker(engine), worker_id=name))
    finally:
        await engine.dispose()


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def kinds(client: AsyncClient, caller: Caller, ref: str) -> list[str]:
    events = await ok(await client.get(f"{API}/{ref}/timeline", headers=caller.headers))
    return [e["kind"] for e in events]


async def test_declare_to_close_with_a_restart_in_the_middle(
    session: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    responder = await make_caller(session)
    ic = await make_caller(session)
    tech = await make_user(session, Role.RESPONDER, email="tech.lead@example.test", password=None)
    await make_user(session, Role.RESPONDER, email="vp@example.test", password=None)
    await policy.ensure_default_policies(session)  # what `tocsin init` sets up
    await session.commit()

    async with running(settings, "first") as first:
        api = first.client
        await ok(
            await api.patch(
                "/api/v1/policies/sev2",
                json={
                    "escalation": {
                        "technical": {"users": ["tech.lead@example.test"], "mode": "page"},
                        "executive": {"users": ["vp@example.test"], "mode": "notify"},
                        "rules": [
                            {"id": "long", "when": {"duration_minutes": 100}, "to": ["executive"]}
                        ],
                    }
                },
                headers=admin.headers,
            )
        )
        incident = await ok(
            await api.post(
                API,
                json={"title": "Checkout errors", "severity": "sev2", "services": []},
                headers=responder.headers,
            ),
            201,
        )
        ref = incident["ref"]
        for role, who in [("incident-commander", ic), ("scribe", responder)]:
            await ok(
                await api.put(
                    f"{API}/{ref}/roles",
                    json={"role": role, "user": who.user.email},
                    headers=responder.headers,
                )
            )
        bridge = await ok(await api.get(f"{API}/{ref}/bridge", headers=responder.headers))
        cadence = timedelta(minutes=bridge["cadence_minutes"])  # SEV2: an hour

        clock.advance(cadence + timedelta(minutes=1))  # the first update is missed
        await first.worker.run_once()
        assert "update.reminder" in await kinds(api, responder, ref)
        assert "update.escalated" not in await kinds(api, responder, ref)
        view = await ok(await api.get(f"{API}/{ref}/escalations", headers=responder.headers))
        assert view["escalations"] == []
        assert view["commander"]["missing"] is False

    # The process stops; time passes: the second miss and the 100-minute rule fall due meanwhile.
    clock.advance(cadence)

    async with running(settings, "second") as second:
        api = second.client
        ran = await second.worker.run_once()
        assert ran >= 2
        timeline = await kinds(api, responder, ref)
        assert timeline.count("update.escalated") == 1
        view = await ok(await api.get(f"{API}/{ref}/escalations", headers=responder.headers))
        sent = {e["kind"]: e for e in view["escalations"]}
        assert set(sent) == {"bridge", "threshold"}
        assert sent["bridge"]["recipients"] == [
            {"email": "tech.lead@example.test", "groups": ["technical"], "mode": "page"}
        ]
        assert sent["threshold"]["rule"] == "long"
        assert sent["threshold"]["recipients"][0]["email"] == "vp@example.test"
        jobs = await ok(
            await api.get(
                "/api/v1/jobs", params={"kind": "notifications.dispatch"}, headers=admin.headers
            )
        )
        keys = {j["idempotency_key"] for j in jobs}
        assert any(
            k.startswith(f"notifications.dispatch:{tech.id}:") and "bridge" in k for k in keys
        )

        await second.worker.run_once()  # running again escalates nothing twice
        again = await ok(await api.get(f"{API}/{ref}/escalations", headers=responder.headers))
        assert len(again["escalations"]) == 2

        move = lambda status: api.post(  # noqa: E731
            f"{API}/{ref}/status", json={"status": status}, headers=responder.headers
        )
        await ok(await move("monitoring"))  # mitigated
        for checklist, items in (("technical", TECHNICAL), ("business", BUSINESS)):
            for item in items:
                await ok(
                    await api.put(
                        f"{API}/{ref}/checklists",
                        json={"checklist": checklist, "item": item, "state": "done"},
                        headers=responder.headers,
                    )
                )
            await ok(await move("resolved" if checklist == "technical" else "business_resolved"))
        closed = await ok(await move("closed"))
        assert closed["status"] == "closed"
        assert {"mitigated", "resolved", "business_resolved", "closed"} <= set(closed["milestones"])

        clock.advance(timedelta(hours=6))  # a closed incident's timers end quietly
        await second.worker.run_once()
        final = await ok(await api.get(f"{API}/{ref}/escalations", headers=responder.headers))
        assert len(final["escalations"]) == 2 and final["next_crossing_at"] is None
