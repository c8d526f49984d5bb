"""Job handlers of the status page: fan-out of an update, a batch of sends, a confirmation."""

from __future__ import annotations

from typing import Any

from tocsin.jobs.registry import JobContext, PermanentError, job_handler
from tocsin.notifications.channels import ChannelError
from tocsin.statuspage import delivery, service


@job_handler(service.FANOUT_KIND, timeout_seconds=300)
async def fan_out(ctx: JobContext, payload: dict[str, Any]) -> None:
    await delivery.fan_out(ctx.session, int(payload["update_id"]))


@job_handler(service.DELIVER_KIND, timeout_seconds=600)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    if "confirm" in payload:
        try:
            await delivery.send_confirmation(ctx.session, int(payload["confirm"]))
        except ChannelError as exc:
            if exc.permanent:
                raise PermanentError(str(exc)) from None
            raise
        return
    await delivery.deliver_batch(ctx.session, payload)
