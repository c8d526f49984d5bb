"""The worker's side of the queue table: claim, complete, recover, extend and release.

Each function runs a handful of set-based statements in the caller's transaction, so a worker
pays a few round trips per batch of jobs rather than per job. Completions are fenced by
(id, attempt): a worker whose lease expired and whose job was claimed again cannot overwrite
the newer attempt's result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.db.dialect import lock_skip_locked
from tocsin.jobs.models import AttemptOutcome, Job, JobAttempt, JobStatus

jobs = cast(sa.Table, Job.__table__)
attempts = cast(sa.Table, JobAttempt.__table__)

QUEUED = JobStatus.QUEUED.value
RUNNING = JobStatus.RUNNING.value
MAX_ERROR_LENGTH = 4000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    run_at: datetime
    idempotency_key: str | None
    priority: int = 0

    @property
    def order(self) -> tuple[int, datetime, int]:
        """Claim order: priority (lower first), then due time, then age."""
        return (self.priority, self.run_at, self.id)


@dataclass(frozen=True, slots=True)
class Result:
    job: ClaimedJob
    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome
    error: str | None = None
    retry_at: datetime | None = None
    """when to try again; None with a failure means the job is dead"""

    @property
    def status(self) -> JobStatus:
        if self.outcome == AttemptOutcome.SUCCEEDED:
            return JobStatus.SUCCEEDED
        return JobStatus.QUEUED if self.retry_at is not None else JobStatus.DEAD


async def claim(
    session: AsyncSession,
    worker_id: str,
    *,
    limit: int,
    now: datetime,
    locked_until: datetime,
    due_by: datetime | None = None,
    up_to_priority: int | None = None,
) -> list[ClaimedJob]:
    """Take up to `limit` jobs due by `due_by` (default: now), the lowest priority value
    first and then the oldest due, and hold them until `locked_until`. `up_to_priority`
    claims only jobs at least that urgent: a busy worker still takes a page at once."""
    due = (
        sa.select(jobs.c.id)
        .where(jobs.c.status == QUEUED, jobs.c.run_at <= (due_by or now))
        .order_by(jobs.c.priority, jobs.c.run_at)
        .limit(limit)
    )
    if up_to_priority is not None:
        due = due.where(jobs.c.priority <= up_to_priority)
    stmt = (
        sa.update(jobs)
        .where(jobs.c.id.in_(lock_skip_locked(session, due)))
        .values(
            status=RUNNING,
            attempts=jobs.c.attempts + 1,
            claimed_by=worker_id,
            claimed_at=now,
            locked_until=locked_until,
            updated_at=now,
        )
        .returning(
            jobs.c.id,
            jobs.c.kind,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.max_attempts,
            jobs.c.run_at,
            jobs.c.idempotency_key,
            jobs.c.priority,
        )
    )
    rows = (await session.execute(stmt)).all()
    claimed = [ClaimedJob(*row) for row in rows]
    claimed.sort(key=lambda job: job.order)
    return claimed


def _fence(batch: Sequence[ClaimedJob]) -> sa.ColumnElement[bool]:
    return sa.and_(
        jobs.c.status == RUNNING,
        sa.tuple_(jobs.c.id, jobs.c.attempts).in_([(job.id, job.attempt) for job in batch]),
    )


async def complete(
    session: AsyncSession, worker_id: str, results: Sequence[Result], *, now: datetime
) -> list[Result]:
    """Store the outcome of finished attempts; returns those that still held their job."""
    if not results:
        return []
    kept: set[int] = set()
    succeeded = [r.job for r in results if r.outcome == AttemptOutcome.SUCCEEDED]
    if succeeded:
        stmt = (
            sa.update(jobs)
            .where(_fence(succeeded))
            .values(
                status=JobStatus.SUCCEEDED.value,
                finished_at=now,
                locked_until=None,
                last_error=None,
                updated_at=now,
            )
            .returning(jobs.c.id)
        )
        kept.update((await session.execute(stmt)).scalars().all())
    for result in results:
        if result.outcome == AttemptOutcome.SUCCEEDED:
            continue
        dead = result.retry_at is None
        stmt = (
            sa.update(jobs)
            .where(_fence([result.job]))
            .values(
                status=result.status.value,
                run_at=jobs.c.run_at if dead else result.retry_at,
                finished_at=now if dead else None,
                locked_until=None,
                last_error=result.error,
                updated_at=now,
            )
            .returning(jobs.c.id)
        )
        kept.update((await session.execute(stmt)).scalars().all())
    recorded = [r for r in results if r.job.id in kept]
    if recorded:
        await session.execute(
            sa.insert(attempts),
            [
                {
                    "job_id": r.job.id,
                    "attempt": r.job.attempt,
                    "worker_id": worker_id,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "outcome": r.outcome.value,
                    "error": r.error,
                }
                for r in recorded
            ],
        )
    return recorded


async def recover_expired(session: AsyncSession, *, now: datetime) -> list[tuple[int, str]]:
    """Put jobs whose lease ran out back in the queue (or dead-letter them when that was
    their last attempt), recording the lost attempt. Returns (job id, new status) pairs."""
    exhausted = jobs.c.attempts >= jobs.c.max_attempts
    stmt = (
        sa.update(jobs)
        .where(jobs.c.status == RUNNING, jobs.c.locked_until <= now)
        .values(
            status=sa.case((exhausted, JobStatus.DEAD.value), else_=QUEUED),
            finished_at=sa.case((exhausted, now), else_=None),
            locked_until=None,
            last_error=sa.literal("the lease of worker ")
            + sa.func.coalesce(jobs.c.claimed_by, "?")
            + sa.literal(" expired before it reported a result"),
            updated_at=now,
        )
        .returning(jobs.c.id, jobs.c.status, jobs.c.attempts, jobs.c.claimed_by, jobs.c.claimed_at)
    )
    rows = (await session.execute(stmt)).all()
    if rows:
        await session.execute(
            sa.insert(attempts),
            [
                {
                    "job_id": job_id,
                    "attempt": attempt,
                    "worker_id": claimed_by or "?",
                    "started_at": claimed_at or now,
                    "finished_at": now,
                    "outcome": AttemptOutcome.EXPIRED.value,
                    "error": "lease expired: the worker crashed, hung or lost the database",
                }
                for job_id, _status, attempt, claimed_by, claimed_at in rows
            ],
        )
    return [(row[0], row[1]) for row in rows]


async def extend_leases(
    session: AsyncSession, worker_id: str, job_ids: Sequence[int], *, locked_until: datetime
) -> int:
    """Heartbeat: a live worker keeps its jobs, however long they take."""
    if not job_ids:
        return 0
    stmt = (
        sa.update(jobs)
        .where(
            jobs.c.status == RUNNING,
            jobs.c.claimed_by == worker_id,
            jobs.c.id.in_(list(job_ids)),
        )
        .values(locked_until=locked_until)
        .returning(jobs.c.id)
    )
    return len((await session.execute(stmt)).all())


async def release(session: AsyncSession, batch: Sequence[ClaimedJob], *, now: datetime) -> None:
    """Hand back claimed jobs that never started (the worker is stopping): not an attempt."""
    if not batch:
        return
    await session.execute(
        sa.update(jobs)
        .where(_fence(batch))
        .values(
            status=QUEUED,
            attempts=jobs.c.attempts - 1,
            claimed_by=None,
            claimed_at=None,
            locked_until=None,
            updated_at=now,
        )
    )


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest queued job is due: how long an idle worker may sleep."""
    value = await session.scalar(sa.select(sa.func.min(Job.run_at)).where(Job.status == QUEUED))
    return value


def describe_error(exc: BaseException) -> str:
    """The exception's type and message first (what a list shows), then the traceback."""
    import traceback

    head = f"{type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(exc))
    text = f"{head}\n\n{trace}"
    if len(text) <= MAX_ERROR_LENGTH:
        return text
    keep = MAX_ERROR_LENGTH - len(head) - 10
    return f"{head}\n\n…{trace[-keep:]}" if keep > 0 else head[:MAX_ERROR_LENGTH]
