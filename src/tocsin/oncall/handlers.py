"""Job handlers of on-call: opening a page (enqueued by the alert pipeline), the per-step
escalation timer, and the hand-off check that lets whoever comes on call into a private
incident."""

from __future__ import annotations

from typing import Any

from tocsin import events
from tocsin.jobs.registry import JobContext, job_handler
from tocsin.oncall import handoffs, service


@job_handler(service.PAGE_KIND, timeout_seconds=60)
async def page(ctx: JobContext, payload: dict[str, Any]) -> None:
    opened = await service.open_page(
        ctx.session,
        service.PageRequest(
            service_id=int(payload["service_id"]),
            title=str(payload.get("title") or "Page"),
            summary=str(payload.get("summary") or ""),
            dedup_key=str(payload["dedup_key"]),
            incident_id=payload.get("incident_id"),
            alert_group_id=payload.get("alert_group_id"),
        ),
    )
    page_id, status = opened.id, opened.status
    await ctx.session.commit()
    await events.publish("oncall.page", {"page": page_id, "status": status})


@job_handler(service.ESCALATE_KIND, timeout_seconds=60)
async def escalate(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.escalate(ctx.session, int(payload["page_id"]), int(payload["generation"]))


@job_handler(handoffs.HANDOFF_KIND, timeout_seconds=60)
async def hand_off(ctx: JobContext, payload: dict[str, Any]) -> None:
    await handoffs.hand_off(ctx.session, int(payload["page_id"]))
