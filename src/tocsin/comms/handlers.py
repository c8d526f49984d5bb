"""Job handlers of communications: the per-group update cadence timer, and delivering what
was published."""

from __future__ import annotations

from typing import Any

from tocsin.comms import delivery, service
from tocsin.config import get_settings
from tocsin.jobs.registry import JobContext, job_handler


@job_handler(service.CHECK_KIND, timeout_seconds=60)
async def check_cadence(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.check(ctx.session, int(payload["incident_id"]))


@job_handler(delivery.DELIVER_KIND, timeout_seconds=90)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    await delivery.deliver(ctx.session, get_settings(), int(payload["delivery_id"]))
