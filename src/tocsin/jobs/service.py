"""Use cases of the job queue: enqueue (the outbox), inspect, retry, cancel, prune.

`enqueue` is the one domains call. It writes into the caller's open transaction and never
commits, so a state change and the outbound effect it implies (a page, a chat message, a
timer) are stored together or not at all. The worker only ever sees committed jobs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.clock import ensure_utc, utcnow
from tocsin.config import get_settings
from tocsin.db import bulk, dialect
from tocsin.errors import Conflict, Invalid, NotFound
from tocsin.jobs import doorbell
from tocsin.jobs.models import Job, JobStatus, Priority

WAKE_CHANNEL = "tocsin_jobs"
"""PostgreSQL channel that tells workers a job was committed."""

MAX_KIND_LENGTH = 100
MAX_KEY_LENGTH = 200
PRIORITY_RANGE = 1000


@dataclass(frozen=True)
class NewJob:
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    run_at: datetime | None = None
    """None means now"""
    idempotency_key: str | None = None
    max_attempts: int | None = None
    """None means settings.job_max_attempts"""
    priority: int = Priority.NORMAL
    """lower runs sooner (see `Priority`)"""


def _row(spec: NewJob, now: datetime, default_attempts: int) -> dict[str, Any]:
    if not spec.kind or len(spec.kind) > MAX_KIND_LENGTH:
        raise Invalid("kind", f"must be 1 to {MAX_KIND_LENGTH} characters")
    if spec.idempotency_key is not None and not 0 < len(spec.idempotency_key) <= MAX_KEY_LENGTH:
        raise Invalid("idempotency_key", f"must be 1 to {MAX_KEY_LENGTH} characters")
    if spec.max_attempts is not None and spec.max_attempts < 1:
        raise Invalid("max_attempts", "must be at least 1")
    if not isinstance(spec.priority, int) or not -PRIORITY_RANGE <= spec.priority <= PRIORITY_RANGE:
        raise Invalid("priority", f"must be an integer from {-PRIORITY_RANGE} to {PRIORITY_RANGE}")
    try:
        json.dumps(spec.payload)
    except (TypeError, ValueError) as exc:
        raise Invalid("payload", f"must be JSON-serialisable: {exc}") from None
    return {
        "kind": spec.kind,
        "payload": spec.payload,
        "status": JobStatus.QUEUED.value,
        "run_at": now if spec.run_at is None else ensure_utc(spec.run_at),
        "idempotency_key": spec.idempotency_key,
        "attempts": 0,
        "max_attempts": spec.max_attempts or default_attempts,
        "priority": int(spec.priority),
        "created_at": now,
        "updated_at": now,
    }


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    max_attempts: int | None = None,
    priority: int = Priority.NORMAL,
) -> Job:
    """Add a job to the caller's transaction (no commit here).

    With an idempotency key, a second enqueue of the same key, in this transaction or any
    other, returns the job already stored instead of adding another: retried requests and
    reactions that run on several nodes produce one job. A job whose effect a person waits
    for (a page) takes `priority=Priority.URGENT`, so that it overtakes a backlog.
    """
    spec = NewJob(kind, payload or {}, run_at, idempotency_key, max_attempts, priority)
    row = _row(spec, utcnow(), get_settings().job_max_attempts)
    if idempotency_key is None:
        job = Job(**row)
        session.add(job)
        await session.flush()
    else:
        stmt = dialect.insert_ignoring_conflicts(session, Job, ["idempotency_key"])
        inserted = await session.scalar(stmt.values(**row).returning(Job))
        if inserted is None:
            existing = await find_by_key(session, idempotency_key)
            if existing is None:  # pragma: no cover - the conflicting row vanished (pruned)
                raise Conflict("a job with this idempotency key was just removed; try again")
            return existing
        job = inserted
    await _announce(session)
    return job


async def enqueue_many(session: AsyncSession, specs: Sequence[NewJob]) -> list[int]:
    """Add many jobs in one statement (fan-out); returns the ids of the jobs actually added,
    leaving out those whose idempotency key already existed."""
    if not specs:
        return []
    now, default_attempts = utcnow(), get_settings().job_max_attempts
    rows = [_row(spec, now, default_attempts) for spec in specs]
    table = cast(sa.Table, Job.__table__)
    if dialect.is_postgres(session):  # one statement text whatever the number of jobs
        ids = await bulk.insert_returning_ids(
            session, table, rows, skip_conflicts_on=("idempotency_key",)
        )
    else:
        stmt = dialect.insert_ignoring_conflicts(session, table, ["idempotency_key"])
        result = await session.execute(stmt.returning(table.c.id), rows)
        ids = [int(i) for i in result.scalars().all()]
    if ids:
        await _announce(session)
    return ids


async def schedule(
    session: AsyncSession, kind: str, payload: dict[str, Any] | None = None, **options: Any
) -> Job:
    """Enqueue and commit: for callers that have no other change to make."""
    job = await enqueue(session, kind, payload, **options)
    await session.commit()
    return job


async def find_by_key(session: AsyncSession, idempotency_key: str) -> Job | None:
    return await session.scalar(sa.select(Job).where(Job.idempotency_key == idempotency_key))


async def get_job(session: AsyncSession, job_id: int, *, with_attempts: bool = False) -> Job:
    stmt = sa.select(Job).where(Job.id == job_id)
    if with_attempts:
        stmt = stmt.options(selectinload(Job.attempt_log))
    job = await session.scalar(stmt)
    if job is None:
        raise NotFound("job", job_id)
    return job


async def list_jobs(
    session: AsyncSession,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Job]:
    stmt = sa.select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Job.status == status.value)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    if before_id:
        stmt = stmt.where(Job.id < before_id)
    return list((await session.scalars(stmt)).all())


async def _locked(session: AsyncSession, job_id: int) -> Job:
    # The row lock makes a concurrent claim skip this job while a person changes it.
    job = await session.scalar(sa.select(Job).where(Job.id == job_id).with_for_update())
    if job is None:
        raise NotFound("job", job_id)
    return job


async def retry_job(session: AsyncSession, actor: Actor, job_id: int) -> Job:
    """Give a dead job a fresh set of attempts, due now."""
    job = await _locked(session, job_id)
    if job.status != JobStatus.DEAD:
        problem = Conflict(f"only dead jobs can be retried; job {job_id} is {job.status}", "status")
        await session.rollback()
        raise problem
    before = snapshot(job)
    now = utcnow()
    job.status = JobStatus.QUEUED.value
    job.run_at = now
    job.attempts = 0
    job.finished_at = None
    job.claimed_by = None
    job.claimed_at = None
    job.locked_until = None
    await session.flush()
    audit.record(session, actor, "job.retry", "job", job.id, before=before, after=snapshot(job))
    await _announce(session)
    await session.commit()
    return job


async def cancel_job(session: AsyncSession, actor: Actor, job_id: int) -> Job:
    """Withdraw a job that has not started; a running one cannot be stopped from here."""
    job = await _locked(session, job_id)
    if job.status != JobStatus.QUEUED:
        problem = Conflict(
            f"only queued jobs can be cancelled; job {job_id} is {job.status}", "status"
        )
        await session.rollback()
        raise problem
    before = snapshot(job)
    job.status = JobStatus.CANCELLED.value
    job.finished_at = utcnow()
    await session.flush()
    audit.record(session, actor, "job.cancel", "job", job.id, before=before, after=snapshot(job))
    await session.commit()
    return job


FINISHED = (JobStatus.SUCCEEDED.value, JobStatus.CANCELLED.value)


async def prune(
    session: AsyncSession, actor: Actor, *, older_than: timedelta, include_dead: bool = False
) -> int:
    """Delete finished jobs (and their attempts) to keep the queue table small.

    An idempotency key is forgotten with its job: keys only protect against duplicates
    within the retention period.
    """
    statuses = [*FINISHED, JobStatus.DEAD.value] if include_dead else list(FINISHED)
    cutoff = utcnow() - older_than
    result = await session.execute(
        sa.delete(Job).where(Job.status.in_(statuses), Job.finished_at < cutoff).returning(Job.id)
    )
    count = len(result.all())
    audit.record(
        session,
        actor,
        "job.prune",
        "job",
        None,
        after={"deleted": count, "finished_before": cutoff.isoformat(), "statuses": statuses},
    )
    await session.commit()
    return count


# --- waking workers ----------------------------------------------------------------------

_ANNOUNCE_KEY = "tocsin.jobs.enqueued"
_local_wakers: set[Callable[[], None]] = set()


async def _announce(session: AsyncSession) -> None:
    """Wake workers when (and only if) the transaction commits.

    Other nodes hear a PostgreSQL notification, which the server delivers at commit. Workers
    in this process are woken by the commit hook below, and on SQLite the workers of other
    processes by its doorbell.
    """
    if not session.info.get(_ANNOUNCE_KEY):
        await dialect.notify(session, WAKE_CHANNEL)
        session.info[_ANNOUNCE_KEY] = True


def add_local_waker(waker: Callable[[], None]) -> None:
    _local_wakers.add(waker)


def remove_local_waker(waker: Callable[[], None]) -> None:
    _local_wakers.discard(waker)


@event.listens_for(Session, "after_commit")
def _wake_local_workers(session: Session) -> None:
    if session.info.pop(_ANNOUNCE_KEY, False):
        for waker in list(_local_wakers):
            waker()
        doorbell.ring(session.get_bind().engine.url)


@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_announcement(session: Session, *_: Any) -> None:
    session.info.pop(_ANNOUNCE_KEY, None)
