"""The second half of the done-when test: the same traced demo system (web → checkout →
inventory, payments; payments failing) probed by a synthetic transaction check. The check must
fail at the buying step with that step's assertion and raise an alert on the `web` service,
and isolation over the check's own failing traces must still point at payments."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.browser.server import running_server
from tests.factories import make_caller
from tests.test_checks import synthetic_alert
from tests.test_traces_e2e import DemoService, checkout, inventory, payments, serving, web
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Permission, Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import ServiceCreate
from tocsin.checks import handlers as _handlers  # noqa: F401
from tocsin.config import Settings
from tocsin.jobs.worker import Worker
from tocsin.policy import service as policy


def browse_then_buy(web_url: str) -> dict[str, Any]:
    return {
        "slug": "web-purchase",
        "name": "Browse and buy",
        "service": "web",
        "kind": "transaction",
        "interval_seconds": 60,
        "jitter_seconds": 0,
        "failure_threshold": 1,
        "spec": {
            "steps": [
                {
                    "name": "browse",
                    "method": "GET",
                    "url": f"{web_url}/browse",
                    "assertions": [
                        {"type": "status", "equals": 200},
                        {"type": "json", "path": "upstream", "equals": 200},
                    ],
                },
                {
                    "name": "buy",
                    "method": "POST",
                    "url": f"{web_url}/buy",
                    "assertions": [{"type": "status", "equals": 200}],
                },
            ]
        },
    }


async def test_the_transaction_check_fails_at_the_buying_step_and_alerts_on_web(
    session: AsyncSession, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await policy.ensure_default_policies(session)
    await catalog.create_service(
        session, Actor.system("test"), ServiceCreate(slug="web", name="Web")
    )
    await session.commit()
    exporter = await make_caller(
        session, Role.RESPONDER, scopes=frozenset({Permission.TRACES_WRITE})
    )
    admin = await make_caller(session, Role.ADMIN)
    await session.rollback()  # SQLite: the server and the worker write from here on
    worker = Worker(settings, sessionmaker, worker_id="probe")

    async with running_server(settings) as tocsin:
        handlers = {"web": web, "checkout": checkout, "payments": payments, "inventory": inventory}
        services = {
            name: DemoService(name, tocsin, exporter.token, handler)
            for name, handler in handlers.items()
        }
        async with (
            contextlib.AsyncExitStack() as stack,
            httpx.AsyncClient(base_url=tocsin, headers=admin.headers, timeout=30) as api,
        ):
            urls = {
                name: await stack.enter_async_context(serving(svc.app))
                for name, svc in services.items()
            }
            for svc in services.values():
                svc.peers = urls

            created = await api.post("/api/v1/checks", json=browse_then_buy(urls["web"]))
            assert created.status_code == 201, created.text
            ran = 0
            while await worker.run_once():
                ran += 1
            assert ran >= 1

            for svc in services.values():
                await svc.flush()
                await svc.close()

            check = (await api.get("/api/v1/checks/web-purchase")).json()
            assert check["status"] == "down"
            [result] = check["results"]
            assert result["ok"] is False
            assert result["failed_step"] == "buy"
            assert result["error"] == "buy: status was 502, expected 200"
            assert [(s["name"], s["ok"], s["status"]) for s in result["steps"]] == [
                ("browse", True, 200),
                ("buy", False, 502),
            ]

            alert = await synthetic_alert(session, "web-purchase")
            assert alert is not None
            assert alert.status == "firing"
            assert alert.labels["service"] == "web"
            assert alert.labels["source"] == "synthetic"
            assert "502" in alert.summary

            # The probe's own requests were traced: its failed purchase is one failing trace,
            # and its origin is the payments service, two calls below what the probe saw.
            isolation = (await api.get("/api/v1/traces/isolation", params={"entry": "web"})).json()
            assert isolation["failing_traces"] == 1
            top = isolation["origins"][0]
            assert (top["service"], top["operation"]) == ("payments", "POST /charge")
            assert top["messages"] == [["card gateway refused the connection", 1]]
            assert set(top["propagated_through"]) == {"checkout", "web"}
