"""REST routes to watch the queue and to act on dead or unwanted jobs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.jobs import metrics as _metrics  # noqa: F401  (registers the queue gauges)
from tocsin.jobs import service
from tocsin.jobs.models import Job, JobStatus
from tocsin.jobs.schemas import AttemptOut, JobDetailOut, JobOut

router = APIRouter(prefix="/api/v1", tags=["jobs"])


def detail(job: Job, principal: Principal) -> JobDetailOut:
    return JobDetailOut(
        **JobOut.model_validate(job).model_dump(),
        payload=job.payload if principal.can(Permission.JOBS_MANAGE) else None,
        attempt_log=[AttemptOut.model_validate(a) for a in job.attempt_log],
    )


@router.get("/jobs", response_model=list[JobOut])
async def list_jobs(
    status: JobStatus | None = None,
    kind: str | None = Query(default=None, max_length=100),
    before_id: int | None = Query(default=None, description="Page backwards from this id."),
    limit: int = Query(default=100, ge=1, le=1000),
    _: Principal = Depends(Requires(Permission.JOBS_READ)),
    session: AsyncSession = Depends(get_session),
) -> list[JobOut]:
    """Newest first; filter by status (e.g. `dead`) or kind."""
    jobs = await service.list_jobs(
        session, status=status, kind=kind, before_id=before_id, limit=limit
    )
    return [JobOut.model_validate(job) for job in jobs]


@router.get("/jobs/{job_id}", response_model=JobDetailOut)
async def get_job(
    job_id: int,
    principal: Principal = Depends(Requires(Permission.JOBS_READ)),
    session: AsyncSession = Depends(get_session),
) -> JobDetailOut:
    """One job with every attempt to run it."""
    return detail(await service.get_job(session, job_id, with_attempts=True), principal)


@router.post("/jobs/{job_id}/retry", response_model=JobDetailOut)
async def retry_job(
    job_id: int,
    principal: Principal = Depends(Requires(Permission.JOBS_MANAGE)),
    session: AsyncSession = Depends(get_session),
) -> JobDetailOut:
    """Put a dead job back in the queue, due now, with a fresh set of attempts."""
    job = await service.retry_job(session, principal.actor, job_id)
    return detail(await service.get_job(session, job.id, with_attempts=True), principal)


@router.post("/jobs/{job_id}/cancel", response_model=JobDetailOut)
async def cancel_job(
    job_id: int,
    principal: Principal = Depends(Requires(Permission.JOBS_MANAGE)),
    session: AsyncSession = Depends(get_session),
) -> JobDetailOut:
    """Withdraw a queued job before it runs."""
    job = await service.cancel_job(session, principal.actor, job_id)
    return detail(await service.get_job(session, job.id, with_attempts=True), principal)
