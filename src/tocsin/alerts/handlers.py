"""Job handlers of the alert pipeline.

"alerts.process" runs once per state change that ingestion stored (and again when a group
wait ends or something the decision depended on ended); "alerts.reevaluate" re-runs the
decision of every alert suppressed by a silence, maintenance window or upstream alert that
has just ended; "alerts.heartbeat_check" raises the alert of a missed heartbeat;
"alerts.expire" resolves the alerts whose sender stopped repeating them (`expiry`).
"""

from __future__ import annotations

from typing import Any

from tocsin.alerts.models import Integration
from tocsin.alerts.routing import handlers as routing_handlers  # noqa: F401  (its jobs)
from tocsin.alerts.service import expiry, expiry_schedule, heartbeats, pipeline
from tocsin.alerts.service.ingestion import PROCESS_JOB, ingest
from tocsin.jobs.registry import JobContext, job_handler


@job_handler(PROCESS_JOB)
async def process_alert(context: JobContext, payload: dict[str, Any]) -> None:
    ids = payload["alert_ids"] if "alert_ids" in payload else [payload["alert_id"]]
    await pipeline.evaluate_many(
        context.session, [int(i) for i in ids], str(payload.get("change", "changed"))
    )


@job_handler(pipeline.REEVALUATE_JOB)
async def reevaluate(context: JobContext, payload: dict[str, Any]) -> None:
    await pipeline.reevaluate(context.session, str(payload["ref"]))


@job_handler(heartbeats.CHECK_JOB)
async def heartbeat_check(context: JobContext, payload: dict[str, Any]) -> None:
    session = context.session
    integration_id = int(payload["integration_id"])
    missed = await heartbeats.check(session, integration_id)
    row = await session.get(Integration, integration_id)
    if missed is None or row is None:
        return
    await ingest(session, heartbeats.sender_of(row), [missed])


@job_handler(expiry_schedule.SWEEP_JOB, timeout_seconds=600)
async def expire_alerts(context: JobContext, payload: dict[str, Any]) -> None:
    await expiry.sweep(context.session)
