"""Job handler of vendor engagements: the contractual response deadline."""

from __future__ import annotations

from typing import Any

from tocsin.incidents.vendors import service
from tocsin.jobs.registry import JobContext, job_handler


@job_handler(service.DEADLINE_KIND, timeout_seconds=60)
async def vendor_deadline(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.check_deadline(ctx.session, int(payload["engagement_id"]))
