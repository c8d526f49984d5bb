"""The job queue and the record of every attempt to run a job."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.db.base import Base, IdMixin, TimestampMixin


class JobStatus(StrEnum):
    QUEUED = "queued"
    """waiting for its run_at (or for a retry)"""
    RUNNING = "running"
    """claimed by a worker that holds a lease until locked_until"""
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    """gave up: attempts exhausted, a permanent error, or no handler for its kind"""
    CANCELLED = "cancelled"


class Priority(IntEnum):
    """Named claim priorities; any integer works, lower runs sooner."""

    URGENT = -10
    """a person is waiting for it: pages and their notifications"""
    NORMAL = 0
    BACKGROUND = 10


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    """the worker's lease ran out (it crashed or lost the database) before it reported back"""


class Job(IdMixin, TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # Claims walk this index: due queued jobs, most urgent first, then in due order.
        sa.Index("ix_jobs_status_priority_run_at", "status", "priority", "run_at"),
        # The earliest due time (how long an idle worker may sleep) reads this one.
        sa.Index("ix_jobs_status_run_at", "status", "run_at"),
        # Recovery of expired leases walks this one.
        sa.Index("ix_jobs_status_locked_until", "status", "locked_until"),
    )

    kind: Mapped[str] = mapped_column(sa.String(100))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(16), default=JobStatus.QUEUED.value)
    run_at: Mapped[datetime]
    """when the job is due: the scheduled time, then the time of the next retry"""
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    """lower runs sooner, as with `nice`: due jobs are claimed by priority, then by due time,
    so a page (URGENT) overtakes a backlog of ordinary jobs"""
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    claimed_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[datetime | None]

    attempt_log: Mapped[list[JobAttempt]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="JobAttempt.id",
        lazy="raise",
    )


class JobAttempt(IdMixin, Base):
    __tablename__ = "job_attempts"

    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    worker_id: Mapped[str] = mapped_column(sa.String(120))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(sa.String(16))
    error: Mapped[str | None] = mapped_column(sa.Text)

    job: Mapped[Job] = relationship(back_populates="attempt_log", lazy="raise")
