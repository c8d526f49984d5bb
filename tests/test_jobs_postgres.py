"""Several workers and nodes on one PostgreSQL database: row locks and LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import count_rows, until_a_transaction_waits_for_a_lock
from tocsin.config import Settings
from tocsin.db.dialect import psycopg_conninfo
from tocsin.db.engine import make_engine, make_sessionmaker
from tocsin.jobs import service
from tocsin.jobs.models import Job, JobAttempt, JobStatus
from tocsin.jobs.registry import JobContext, Registry, job_handler
from tocsin.jobs.worker import Worker

pytestmark = pytest.mark.postgres_only

JOBS = 600


async def test_two_workers_never_run_one_job_twice(
    settings: Settings, session: AsyncSession
) -> None:
    handlers = Registry()
    runs: Counter[int] = Counter()
    by_worker: Counter[str] = Counter()
    all_ran = asyncio.Event()

    @job_handler("count", into=handlers)
    async def count(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs[ctx.job_id] += 1
        by_worker[ctx.worker_id] += 1
        await asyncio.sleep(0)  # give the other worker's claims a chance to interleave
        if sum(runs.values()) >= JOBS:
            all_ran.set()

    tuned = settings.model_copy(update={"worker_batch_size": 25, "worker_concurrency": 4})
    engines = [make_engine(tuned), make_engine(tuned)]
    workers = [
        Worker(tuned, make_sessionmaker(engine), registry=handlers, worker_id=name)
        for engine, name in zip(engines, ("left", "right"), strict=True)
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await service.enqueue_many(
            session, [service.NewJob("count", {"n": n}) for n in range(JOBS)]
        )
        await session.commit()
        async with asyncio.timeout(60):
            await all_ran.wait()
    finally:
        for worker in workers:
            await worker.stop()
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
        for engine in engines:
            await engine.dispose()

    assert len(runs) == JOBS
    assert set(runs.values()) == {1}, [job for job, n in runs.items() if n > 1]
    assert set(by_worker) == {"left", "right"}  # both really competed for the same rows
    statuses = await session.execute(sa.select(Job.status, sa.func.count()).group_by(Job.status))
    assert {s: n for s, n in statuses.all()} == {JobStatus.SUCCEEDED.value: JOBS}
    assert await count_rows(session, JobAttempt) == JOBS


async def test_concurrent_schedules_with_one_key_store_one_job(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    async with sessionmaker() as first_tx, sessionmaker() as second_tx:
        first = await service.enqueue(first_tx, "page", idempotency_key="incident-7-page")
        second_task = asyncio.create_task(
            service.enqueue(second_tx, "page", idempotency_key="incident-7-page")
        )
        # The second insert waits on the first transaction's uncommitted key.
        await until_a_transaction_waits_for_a_lock(session)
        await first_tx.commit()
        second = await second_task
        await second_tx.commit()
    assert second.id == first.id
    assert await count_rows(session, Job) == 1


async def test_app_node_delivers_events_relayed_from_other_nodes(
    app: Any, settings: Settings
) -> None:
    import psycopg

    from tocsin.events import bus

    conninfo = psycopg_conninfo(settings.database_url)
    assert conninfo is not None
    message = {
        "node": "another-node",
        "name": "service.updated",
        "data": {"id": 3},
        "audience": "catalog:read",
        "at": "2026-01-05T09:00:00+00:00",
    }
    async with bus.stream() as seen:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await conn.execute("SELECT pg_notify('tocsin_events', %s)", (json.dumps(message),))
        async with asyncio.timeout(10):
            event = await seen.get()
    assert (event.name, event.data, event.audience) == (
        "service.updated",
        {"id": 3},
        "catalog:read",
    )
