"""API shapes of jobs and their attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from tocsin.jobs.models import AttemptOutcome, JobStatus
from tocsin.schemas import Output


class AttemptOut(Output):
    attempt: int
    worker_id: str
    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome
    error: str | None


class JobOut(Output):
    id: int
    kind: str
    status: JobStatus
    run_at: datetime = Field(description="When the job is due: scheduled time or next retry.")
    priority: int = Field(description="Due jobs are claimed lowest value first (urgent: -10).")
    idempotency_key: str | None
    attempts: int
    max_attempts: int
    claimed_by: str | None = Field(description="The worker that last claimed the job.")
    claimed_at: datetime | None
    locked_until: datetime | None = Field(
        description="While running: when the lease expires if the worker stops reporting."
    )
    last_error: str | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


class JobDetailOut(JobOut):
    payload: dict[str, Any] | None = Field(
        description="Shown only to callers with jobs:manage; payloads can name private things."
    )
    attempt_log: list[AttemptOut]
