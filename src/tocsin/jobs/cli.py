"""`tocsin jobs …`: look at the queue and act on it from a shell."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

jobs_app = typer.Typer(
    help="Durable jobs: list, retry dead ones, prune finished ones.", no_args_is_help=True
)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, dead or cancelled.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """Print jobs, newest first: id, status, kind, due time, attempts, last error."""
    from tocsin.cli import fail, run_async, with_session
    from tocsin.jobs import service
    from tocsin.jobs.models import JobStatus

    try:
        wanted = JobStatus(status) if status else None
    except ValueError:
        fail(f"--status must be one of {', '.join(s.value for s in JobStatus)}")
        raise AssertionError from None

    async def _list(session: Any) -> list[Any]:
        return await service.list_jobs(session, status=wanted, limit=limit)

    for job in run_async(lambda s: with_session(s, _list)):
        error = (job.last_error or "").split("\n", 1)[0]
        typer.echo(
            f"{job.id}\t{job.status}\t{job.kind}\t{job.run_at.isoformat()}\t"
            f"{job.attempts}/{job.max_attempts}\t{error}"
        )


@jobs_app.command("retry")
def retry(job_id: Annotated[int, typer.Argument(help="The dead job's id.")]) -> None:
    """Put a dead job back in the queue with a fresh set of attempts."""
    from tocsin.audit.service import Actor
    from tocsin.cli import fail, run_async, with_session
    from tocsin.errors import ProblemError
    from tocsin.jobs import service

    async def _retry(session: Any) -> Any:
        return await service.retry_job(session, Actor.system("cli"), job_id)

    try:
        job = run_async(lambda s: with_session(s, _retry))
    except ProblemError as exc:
        fail(exc.detail or exc.title)
    typer.echo(f"job {job.id} is queued again")


@jobs_app.command("prune")
def prune(
    older_than_days: Annotated[
        int, typer.Option(min=1, help="Delete jobs that finished more than this many days ago.")
    ] = 14,
    include_dead: Annotated[
        bool, typer.Option("--include-dead", help="Also delete dead jobs.")
    ] = False,
) -> None:
    """Delete succeeded and cancelled jobs (and their attempts) past the retention period."""
    from tocsin.audit.service import Actor
    from tocsin.cli import run_async, with_session
    from tocsin.jobs import service

    async def _prune(session: Any) -> int:
        return await service.prune(
            session,
            Actor.system("cli"),
            older_than=timedelta(days=older_than_days),
            include_dead=include_dead,
        )

    count = run_async(lambda s: with_session(s, _prune))
    typer.echo(f"deleted {count} finished jobs")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
