"""Job handlers of escalation: the evaluation timer."""

from __future__ import annotations

from typing import Any

from tocsin.incidents.escalation import service
from tocsin.jobs.registry import JobContext, job_handler


@job_handler(service.EVALUATE_KIND, timeout_seconds=60)
async def evaluate(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.evaluate(ctx.session, int(payload["incident_id"]))
