"""Job handlers of notifications: expanding a notification, then sending each step."""

from __future__ import annotations

from typing import Any

from tocsin.config import get_settings
from tocsin.jobs.registry import JobContext, job_handler
from tocsin.notifications import service
from tocsin.notifications.message import Notification


@job_handler(service.DISPATCH_KIND, timeout_seconds=60)
async def dispatch(ctx: JobContext, payload: dict[str, Any]) -> None:
    method_id = payload.get("method_id")
    await service.dispatch(
        ctx.session,
        int(payload["user_id"]),
        Notification.from_payload(payload["notification"]),
        method_id=None if method_id is None else int(method_id),
    )


@job_handler(service.DELIVER_KIND, timeout_seconds=90)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.deliver(
        ctx.session,
        get_settings(),
        int(payload["delivery_id"]),
        Notification.from_payload(payload["notification"]),
    )
