"""The jobs API: who may look, who may retry or cancel, and what an operator sees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import make_caller
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.jobs import service
from tocsin.jobs.models import Job, JobStatus
from tocsin.jobs.registry import JobContext, Registry, job_handler
from tocsin.jobs.worker import Worker


async def dead_job(
    session: AsyncSession, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> Job:
    """A job whose only attempt failed: what an operator is asked to look at."""
    handlers = Registry()

    @job_handler("webhook.post", into=handlers)
    async def post(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise ConnectionRefusedError("hooks.example.test refused the connection")

    job = await service.schedule(
        session, "webhook.post", {"url": "https://hooks.example.test/x"}, max_attempts=1
    )
    job_id = job.id
    await Worker(settings, sessionmaker, registry=handlers, worker_id="w1").run_once()
    session.expire_all()
    dead = await service.get_job(session, job_id)
    await session.commit()
    return dead


async def test_listing_jobs_filters_by_status(
    client: AsyncClient,
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    dead = await dead_job(session, settings, sessionmaker)
    queued = await service.schedule(session, "later", run_at=clock.now() + timedelta(hours=1))
    everything = await client.get("/api/v1/jobs", headers=caller.headers)
    assert everything.status_code == 200
    assert [j["id"] for j in everything.json()] == [queued.id, dead.id]
    only_dead = (await client.get("/api/v1/jobs?status=dead", headers=caller.headers)).json()
    assert [(j["id"], j["status"], j["attempts"]) for j in only_dead] == [(dead.id, "dead", 1)]
    assert only_dead[0]["last_error"].startswith("ConnectionRefusedError: hooks.example.test")
    assert "payload" not in only_dead[0]
    bad = await client.get("/api/v1/jobs?status=stuck", headers=caller.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"


async def test_job_detail_shows_every_attempt_and_the_payload_only_to_managers(
    client: AsyncClient,
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    admin = await make_caller(session, Role.ADMIN)
    job = await dead_job(session, settings, sessionmaker)
    seen = (await client.get(f"/api/v1/jobs/{job.id}", headers=responder.headers)).json()
    assert seen["payload"] is None
    [attempt] = seen["attempt_log"]
    assert attempt["outcome"] == "failed"
    assert attempt["worker_id"] == "w1"
    assert "refused the connection" in attempt["error"]
    managed = (await client.get(f"/api/v1/jobs/{job.id}", headers=admin.headers)).json()
    assert managed["payload"] == {"url": "https://hooks.example.test/x"}
    missing = await client.get("/api/v1/jobs/999999", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.STAKEHOLDER, Role.COMMUNICATOR])
async def test_roles_without_jobs_read_cannot_see_the_queue(
    client: AsyncClient, session: AsyncSession, role: Role
) -> None:
    caller = await make_caller(session, role)
    assert (await client.get("/api/v1/jobs", headers=caller.headers)).status_code == 403


async def test_admin_retries_a_dead_job_and_the_audit_trail_records_it(
    client: AsyncClient,
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    email = admin.user.email
    job = await dead_job(session, settings, sessionmaker)
    clock.advance(timedelta(minutes=30))
    response = await client.post(f"/api/v1/jobs/{job.id}/retry", headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["attempts"], body["finished_at"]) == ("queued", 0, None)
    assert body["run_at"].startswith(clock.now().isoformat()[:19])
    assert len(body["attempt_log"]) == 1  # history is kept
    audit = (
        await client.get(f"/api/v1/audit?object_type=job&object_id={job.id}", headers=admin.headers)
    ).json()
    [entry] = audit
    assert entry["action"] == "job.retry"
    assert entry["actor_label"].startswith(email)
    assert (entry["before"]["status"], entry["after"]["status"]) == ("dead", "queued")


async def test_only_dead_jobs_can_be_retried(
    client: AsyncClient, session: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    job = await service.schedule(session, "pending")
    response = await client.post(f"/api/v1/jobs/{job.id}/retry", headers=admin.headers)
    assert response.status_code == 409
    assert "only dead jobs" in response.json()["detail"]
    await session.refresh(job)
    assert job.status == JobStatus.QUEUED


async def test_queued_job_can_be_cancelled_but_a_finished_one_cannot(
    client: AsyncClient,
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    queued = await service.schedule(session, "reminder", run_at=clock.now() + timedelta(days=1))
    cancelled = await client.post(f"/api/v1/jobs/{queued.id}/cancel", headers=admin.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    dead = await dead_job(session, settings, sessionmaker)
    refused = await client.post(f"/api/v1/jobs/{dead.id}/cancel", headers=admin.headers)
    assert refused.status_code == 409
    actions = [
        e["action"]
        for e in (await client.get("/api/v1/audit?object_type=job", headers=admin.headers)).json()
    ]
    assert actions == ["job.cancel"]


async def test_responder_may_look_but_not_retry_or_cancel(
    client: AsyncClient,
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    job = await dead_job(session, settings, sessionmaker)
    for action in ("retry", "cancel"):
        response = await client.post(f"/api/v1/jobs/{job.id}/{action}", headers=responder.headers)
        assert response.status_code == 403
    await session.refresh(job)
    assert job.status == JobStatus.DEAD
    job_entries = await session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.object_type == "job")
    )
    assert job_entries == 0


async def test_metrics_report_queue_depth_dead_letters_and_lag(
    client: AsyncClient,
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    await dead_job(session, settings, sessionmaker)
    await service.schedule(session, "overdue", run_at=clock.now() - timedelta(seconds=90))
    await service.schedule(session, "future", run_at=clock.now() + timedelta(hours=1))
    text = (await client.get("/metrics")).text
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }
    assert values["tocsin_jobs_queued"] == 2
    assert values["tocsin_jobs_dead"] == 1
    assert values["tocsin_job_lag_seconds"] == 90
    executed = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tocsin_jobs_executed_total"
    }
    assert executed["failed"] >= 1
