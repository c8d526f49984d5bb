"""Job handlers of traces: the hourly retention prune, which queues its own next run, and
imports from Jaeger."""

from __future__ import annotations

from typing import Any

from tocsin.config import get_settings
from tocsin.jobs.registry import JobContext, job_handler
from tocsin.traces import service


@job_handler(service.PRUNE_KIND, timeout_seconds=600)
async def prune_spans(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.prune(ctx.session, get_settings().traces_retention_hours)
    await service.schedule_prune(ctx.session)


@job_handler(service.JAEGER_KIND, timeout_seconds=120)
async def import_jaeger(ctx: JobContext, payload: dict[str, Any]) -> None:
    settings = get_settings()
    if not settings.traces_jaeger_url:
        return  # switched off since the import was queued
    await service.import_from_jaeger(
        ctx.session, settings.traces_jaeger_url, payload, settings.traces_jaeger_max_traces
    )
