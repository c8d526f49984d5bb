"""Job handlers of synthetic checks: one run of a check, and the daily retention prune."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tocsin.checks import service
from tocsin.config import get_settings
from tocsin.jobs.registry import JobContext, job_handler


@job_handler(service.RUN_KIND, timeout_seconds=180)
async def run_check(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.run_job(ctx.session, payload, worker_location=get_settings().worker_location)


@job_handler(service.PRUNE_KIND, timeout_seconds=600)
async def prune_results(ctx: JobContext, payload: dict[str, Any]) -> None:
    days = get_settings().checks_retention_days
    await service.prune(ctx.session, retention=timedelta(days=days))
    await service.ensure_prune_job(ctx.session)
