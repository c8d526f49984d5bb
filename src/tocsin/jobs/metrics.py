"""Prometheus metrics of the queue: depth and lag from the database, outcomes from workers.

The gauges are read from the database when /metrics is scraped, so any app node reports the
whole queue. The outcome counter counts what this process's worker did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter, Gauge

from tocsin.clock import utcnow
from tocsin.jobs.models import Job, JobStatus
from tocsin.jobs.queue import Result
from tocsin.observability import add_metrics_refresher

QUEUED = Gauge("tocsin_jobs_queued", "Jobs waiting to run, due or scheduled for later")
RUNNING = Gauge("tocsin_jobs_running", "Jobs claimed by a worker")
DEAD = Gauge("tocsin_jobs_dead", "Dead-lettered jobs waiting for a person")
LAG = Gauge(
    "tocsin_job_lag_seconds", "How long the oldest due job has been waiting to start (0: none)"
)
EXECUTED = Counter(
    "tocsin_jobs_executed", "Job attempts finished by this process's worker", ["outcome"]
)


def count_attempts(results: Sequence[Result]) -> None:
    for result in results:
        EXECUTED.labels(result.outcome.value).inc()


def count_expired(count: int) -> None:
    EXECUTED.labels("expired").inc(count)


async def refresh(sessionmaker: Any) -> None:
    now = utcnow()
    async with sessionmaker() as session:
        # Finished jobs pile up; only the statuses counted here are read (through the index).
        watched = [JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.DEAD.value]
        counted = await session.execute(
            sa.select(Job.status, sa.func.count())
            .where(Job.status.in_(watched))
            .group_by(Job.status)
        )
        counts = {status: count for status, count in counted.all()}
        oldest = await session.scalar(
            sa.select(sa.func.min(Job.run_at)).where(
                Job.status == JobStatus.QUEUED.value, Job.run_at <= now
            )
        )
        await session.commit()
    QUEUED.set(counts.get(JobStatus.QUEUED.value, 0))
    RUNNING.set(counts.get(JobStatus.RUNNING.value, 0))
    DEAD.set(counts.get(JobStatus.DEAD.value, 0))
    LAG.set(0 if oldest is None else max(0.0, (now - oldest).total_seconds()))


add_metrics_refresher(refresh)
