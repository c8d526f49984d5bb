"""Use cases of notifications: other domains call `notify_user` inside their own transaction.

The request only records the intent as a durable job (the outbox); the worker expands it by
the user's contact rules into deliveries, so nothing talks to a mail server or a phone
provider while a request holds a transaction.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.jobs.models import Job
from tocsin.jobs.service import enqueue
from tocsin.notifications.message import Notification

DISPATCH_KIND = "notifications.dispatch"


async def notify_user(session: AsyncSession, user_id: int, notification: Notification) -> Job:
    """Queue `notification` for `user_id` in the caller's transaction; idempotent per
    (user, dedup key)."""
    return await enqueue(
        session,
        DISPATCH_KIND,
        {"user_id": user_id, "notification": notification.to_payload()},
        idempotency_key=f"{DISPATCH_KIND}:{user_id}:{notification.dedup_key}",
    )
