"""Job handlers of communications: the per-group update cadence timer."""

from __future__ import annotations

from typing import Any

from tocsin.comms import service
from tocsin.jobs.registry import JobContext, job_handler


@job_handler(service.CHECK_KIND, timeout_seconds=60)
async def check_cadence(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.check(ctx.session, int(payload["incident_id"]))
