"""Job handlers of the alert pipeline.

For now the pipeline has one stage after ingestion: the alert is marked as received by the
pipeline. Grouping, correlation, silences and paging will replace this decision with what
they decide; until then the alert says plainly that nothing more was done with it.
"""

from __future__ import annotations

from typing import Any

from tocsin.alerts.service import PROCESS_JOB, RECEIVED, record_decision
from tocsin.jobs.registry import JobContext, job_handler


@job_handler(PROCESS_JOB)
async def process_alert(context: JobContext, payload: dict[str, Any]) -> None:
    await record_decision(
        context.session,
        int(payload["alert_id"]),
        RECEIVED,
        f"received ({payload.get('change', 'changed')}); no grouping, correlation or "
        "paging is configured yet",
    )
