"""Shared set-up of the alert pipeline tests: post alerts the way Prometheus does, and run
the pipeline's durable jobs with a real worker, moving the frozen clock instead of sleeping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller
from tocsin.alerts import handlers
from tocsin.alerts.models import Alert
from tocsin.config import Settings
from tocsin.jobs.models import Job
from tocsin.jobs.registry import HandlerSpec, Registry
from tocsin.jobs.worker import Worker

PIPELINE_KINDS = {
    "alerts.process": handlers.process_alert,
    "alerts.reevaluate": handlers.reevaluate,
    "alerts.heartbeat_check": handlers.heartbeat_check,
    "alerts.expire": handlers.expire_alerts,
}


def pipeline_registry() -> Registry:
    """Only the pipeline's handlers: paging itself belongs to the on-call area, so its jobs
    are looked at, not run."""
    found = Registry()
    for kind, handler in PIPELINE_KINDS.items():
        found.register(HandlerSpec(kind, handler))
    return found


async def run_pipeline(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Run every job due now, again and again, until a pass finds nothing left to run."""
    worker = Worker(settings, sessionmaker, registry=pipeline_registry(), worker_id="pipeline")
    total = 0
    for _ in range(20):
        ran = await worker.run_once()
        total += ran
        if not ran:
            break
    return total


async def put_rule(client: AsyncClient, caller: Caller, **rule: Any) -> dict[str, Any]:
    """Create or replace a correlation rule through the API."""
    response = await client.put("/api/v1/correlation-rules", json=rule, headers=caller.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def post_alerts(client: AsyncClient, key: str, *alerts: dict[str, Any]) -> None:
    """Alertmanager API v2, as Prometheus posts it."""
    response = await client.post(
        "/api/v2/alerts", json=list(alerts), headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text


def firing(name: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, **labels}, "annotations": {"summary": f"{name} fires"}}


def resolved(name: str, at: datetime, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} fires"},
        "startsAt": at.isoformat(),
        "endsAt": at.isoformat(),
    }


async def alerts_named(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> list[Alert]:
    async with sessionmaker() as session:
        rows = list(await session.scalars(sa.select(Alert).order_by(Alert.id)))
    return [r for r in rows if r.labels.get("alertname") == name]


async def alert_named(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> Alert:
    [row] = await alerts_named(sessionmaker, name)
    return row


async def page_jobs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Job]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(sa.select(Job).where(Job.kind == "oncall.page").order_by(Job.id))
        )
