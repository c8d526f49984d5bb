"""When the expiry sweep runs: durable sweep jobs on a fixed grid, kept off the hot path.

A firing alert posted through Alertmanager's API v2 resolves by itself at its `expires_at`
unless the sender repeats it (see `expiry`). Prometheus repeats thousands of alerts every
15 to 60 s, and each repeat moves `expires_at` forward, so a timer per alert (or per repeat)
would cost a job insert per request for moments that almost never come. Instead one sweep
resolves everything whose moment has passed, and sweeps are jobs (`alerts.expire`) due on a
grid of `SLOT` with the grid point as idempotency key: every process and every worker asking
for the same point gets the same single job.

What keeps it correct without a job per alert: whenever a transaction stores firing alerts
with an expiry, a sweep is queued due no later than the grid point after the earliest of
them (but never less than one `SLOT` ahead), in that same transaction (or already
committed); and every sweep, once done, does the same for the earliest expiry still pending.
So any pending expiry has a sweep at or before its grid point, chained sweep to sweep, and
nothing depends on a process staying up: a sweep that runs late (no worker for an hour)
resolves everything overdue at once, each alert at its own `expires_at`.

What keeps it cheap: each process remembers the sweeps it saw committed (only after the
commit: a rolled-back transaction queued nothing). A sweep due at least one `SLOT` from now
and no later than the one needed will see this transaction's alerts and chain on from them,
so nothing is queued; under a steady flow of repeats a process queues about one sweep per
expiry horizon (the 4 to 5 minutes a repeat looks ahead) instead of one statement per request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.clock import utcnow
from tocsin.db.committed import Committed
from tocsin.jobs import service as jobs

SWEEP_JOB = "alerts.expire"
SLOT = timedelta(seconds=15)
"""The sweep grid: at most one sweep per step is ever queued, and an alert resolves within
two steps (usually one) of its `expires_at`, plus the worker's pick-up: a sweep is never
queued due less than a step ahead, so that it cannot start before the transaction that
stored the alert commits."""
REMEMBERED = 64
"""Sweeps a process remembers; forgetting one only means asking for it again."""

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _keep_coming(sweeps: dict[datetime, datetime], _latest: Any) -> dict[datetime, datetime]:
    """The next `REMEMBERED` sweeps: past ones can no longer cover anything."""
    now = utcnow()
    return {at: at for at in sorted(at for at in sweeps if at >= now)[:REMEMBERED]}


_sweeps: Committed[datetime, datetime] = Committed("alerts.expiry_sweeps", _keep_coming)
"""The due times of sweeps this process queued (and of those its transaction queues)."""


def slot_at_or_after(moment: datetime) -> datetime:
    steps = -(-(moment - _EPOCH) // SLOT)
    return _EPOCH + steps * SLOT


def sweep_key(due: datetime) -> str:
    return f"{SWEEP_JOB}:{due.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


async def ensure_sweep(session: AsyncSession, earliest: datetime | None, now: datetime) -> None:
    """Make sure, in the caller's transaction, that a sweep will resolve an expiry at
    `earliest` (the earliest firing alert's `expires_at` the transaction stores) on time.

    The sweep is due at least one `SLOT` from now, so that it cannot start before this
    transaction commits and miss its alerts."""
    if earliest is None:
        return
    due = slot_at_or_after(max(earliest, now + SLOT))
    lead = now + SLOT
    if any(lead <= at <= due for at in _sweeps.known(session)):
        return
    await jobs.enqueue_many(
        session, [jobs.NewJob(SWEEP_JOB, {}, run_at=due, idempotency_key=sweep_key(due))]
    )
    _sweeps.note(session, due, due)
