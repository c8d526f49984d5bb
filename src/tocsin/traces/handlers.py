"""Job handler of traces: the hourly retention prune, which queues its own next run."""

from __future__ import annotations

from typing import Any

from tocsin.config import get_settings
from tocsin.jobs.registry import JobContext, job_handler
from tocsin.traces import service


@job_handler(service.PRUNE_KIND, timeout_seconds=600)
async def prune_spans(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.prune(ctx.session, get_settings().traces_retention_hours)
    await service.schedule_prune(ctx.session)
