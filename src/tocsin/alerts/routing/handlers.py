"""Jobs of routing: file a ticket in its external tracker, and tell the tracker when the
ticket's alerts resolve. A refusal is written on the ticket, then raised so the queue retries
with back-off; a permanent one dead-letters the job at once. A filing waiting for the
tracker's search to catch up is retried when it must have, through the same attempts."""

from __future__ import annotations

from typing import Any, NoReturn

from tocsin.alerts.routing import external
from tocsin.alerts.routing.ticketing import TrackerError
from tocsin.clock import utcnow
from tocsin.config import get_settings
from tocsin.jobs.registry import JobContext, PermanentError, RetryLater, job_handler


async def _failed(ctx: JobContext, ticket_id: int, error: TrackerError) -> NoReturn:
    last = ctx.attempt >= ctx.max_attempts
    await external.record_failure(ctx.session, ticket_id, error, last=last)
    if error.permanent:
        raise PermanentError(str(error)) from error
    raise error


@job_handler(external.FILE_KIND, timeout_seconds=120)
async def file_ticket(ctx: JobContext, payload: dict[str, Any]) -> None:
    ticket_id = int(payload["ticket_id"])
    try:
        await external.file(ctx.session, ticket_id, get_settings())
    except TrackerError as exc:
        await _failed(ctx, ticket_id, exc)
    except external.AwaitingSearch as wait:
        if ctx.attempt >= ctx.max_attempts:
            gave_up = f"{wait}; no attempt left (retrying the job looks again)"
            await _failed(ctx, ticket_id, TrackerError(gave_up))
        seconds = (wait.until - utcnow()).total_seconds()
        raise RetryLater(str(wait), seconds) from None


@job_handler(external.RESOLVE_KIND, timeout_seconds=120)
async def resolve_ticket(ctx: JobContext, payload: dict[str, Any]) -> None:
    ticket_id = int(payload["ticket_id"])
    try:
        await external.resolve(ctx.session, ticket_id, get_settings())
    except TrackerError as exc:
        await _failed(ctx, ticket_id, exc)
