"""Vendor engagement use cases, and the deadline check the durable timer runs.

Engaging and updating need incident:write (they commit the organisation to a third party);
reading needs incident:read. Each write is on the timeline, in the audit trail and published
after commit. The deadline job is enqueued with the engagement, keyed by its id, so retried
requests and restarts leave exactly one timer per engagement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import VendorOut
from tocsin.clock import utcnow
from tocsin.errors import Invalid, NotFound
from tocsin.incidents.models import Incident
from tocsin.incidents.service.common import Who, actor_of, finish, load, note, record, require
from tocsin.incidents.vendors import response
from tocsin.incidents.vendors.models import IncidentVendorEngagement
from tocsin.incidents.vendors.schemas import (
    ContactProtocolOut,
    EngageIn,
    EngagementOut,
    EngagementPatch,
    ResponseOut,
)
from tocsin.jobs import service as jobs

DEADLINE_KIND = "incident.vendor_deadline"


def deadline_key(engagement_id: int) -> str:
    return f"incident-vendor-engagement-{engagement_id}-deadline"


def _out(row: IncidentVendorEngagement, vendor: VendorOut | None, now: datetime) -> EngagementOut:
    measured = response.measure(row.contacted_at, row.acknowledged_at, row.response_minutes, now)
    contact = None
    if vendor is not None:
        contact = ContactProtocolOut(
            portal_url=vendor.portal_url,
            phone=vendor.phone,
            account_id=vendor.account_id,
            support_email=vendor.support_email,
            contact_instructions=vendor.contact_instructions,
            escalation_contacts=vendor.escalation_contacts,
        )
    return EngagementOut(
        id=row.id,
        vendor=row.vendor_slug,
        vendor_name=vendor.name if vendor else row.vendor_slug,
        contact=contact,
        severity=row.severity,
        response_minutes=row.response_minutes,
        case_id=row.case_id,
        contacted_at=row.contacted_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        notes=row.notes,
        engaged_by=row.engaged_by,
        overdue_at=row.overdue_at,
        response=ResponseOut(
            verdict=measured.verdict.value,
            deadline=measured.deadline,
            seconds_left=None
            if measured.time_left is None
            else int(measured.time_left.total_seconds()),
            seconds_taken=None if measured.took is None else int(measured.took.total_seconds()),
        ),
    )


async def _vendor(session: AsyncSession, slug: str) -> VendorOut | None:
    try:
        return await catalog.get_vendor(session, slug)
    except NotFound:
        return None


async def list_engagements(session: AsyncSession, who: Who, ref: str) -> list[EngagementOut]:
    incident = await load(session, who, ref)
    rows = await session.scalars(
        sa.select(IncidentVendorEngagement)
        .where(IncidentVendorEngagement.incident_id == incident.id)
        .order_by(IncidentVendorEngagement.id)
    )
    now = utcnow()
    return [_out(row, await _vendor(session, row.vendor_slug), now) for row in rows]


async def engage(session: AsyncSession, who: Who, ref: str, body: EngageIn) -> EngagementOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    vendor = await _vendor(session, body.vendor)
    if vendor is None:
        raise Invalid("vendor", f"there is no vendor {body.vendor!r}")
    now = utcnow()
    contacted_at = body.contacted_at or now
    if contacted_at > now:
        raise Invalid("contacted_at", "the vendor cannot have been contacted in the future")
    actor = actor_of(who)
    row = IncidentVendorEngagement(
        incident_id=incident.id,
        vendor_id=vendor.id,
        vendor_slug=vendor.slug,
        severity=incident.severity,
        response_minutes=response.contract_minutes(vendor.response_minutes, incident.severity),
        case_id=body.case_id,
        contacted_at=contacted_at,
        notes=body.notes,
        engaged_by=actor.label,
    )
    session.add(row)
    await session.flush()
    due = response.deadline(row.contacted_at, row.response_minutes)
    if due is not None:
        await jobs.enqueue(
            session,
            DEADLINE_KIND,
            {"engagement_id": row.id},
            run_at=due,
            idempotency_key=deadline_key(row.id),
        )
    text = f"Vendor engaged: {vendor.name}" + (f" (case {row.case_id})" if row.case_id else "")
    data: dict[str, Any] = {"engagement": row.id, "vendor": vendor.slug, "case_id": row.case_id}
    note(session, incident, actor, "vendor_engaged", text, data)
    record(session, actor, "incident.vendor.engage", incident, None, snapshot(row))
    out = _out(row, vendor, now)
    await finish(session, incident, "incident.vendor", engagement=row.id)
    return out


async def _engagement(
    session: AsyncSession, incident: Incident, engagement_id: int
) -> IncidentVendorEngagement:
    row = await session.get(IncidentVendorEngagement, engagement_id)
    if row is None or row.incident_id != incident.id:
        raise NotFound("vendor engagement", str(engagement_id))
    return row


def _moment(
    row: IncidentVendorEngagement, field: str, flag: bool, at: datetime | None, now: datetime
) -> datetime | None:
    """The time a PATCH sets for acknowledged/resolved: explicit, `now` by shortcut, or none."""
    value = at if at is not None else (now if flag else None)
    if value is None:
        return None
    if value > now:
        raise Invalid(f"{field}_at", "this cannot be in the future")
    if value < row.contacted_at:
        raise Invalid(f"{field}_at", "this cannot precede the time the vendor was contacted")
    return value


async def update_engagement(
    session: AsyncSession, who: Who, ref: str, engagement_id: int, body: EngagementPatch
) -> EngagementOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    row = await _engagement(session, incident, engagement_id)
    now = utcnow()
    acknowledged = _moment(row, "acknowledged", body.acknowledged, body.acknowledged_at, now)
    resolved = _moment(row, "resolved", body.resolved, body.resolved_at, now)
    if resolved is not None and (acknowledged or row.acknowledged_at) is None:
        acknowledged = resolved  # a vendor that resolved its side has acknowledged it
    before = snapshot(row)
    if body.case_id is not None:
        row.case_id = body.case_id
    if body.notes is not None:
        row.notes = body.notes
    if acknowledged is not None:
        row.acknowledged_at = acknowledged
    if resolved is not None:
        row.resolved_at = resolved
    await session.flush()
    after = snapshot(row)
    actor = actor_of(who)
    parts = []
    if acknowledged is not None:
        parts.append("acknowledged")
    if resolved is not None:
        parts.append("resolved")
    if body.case_id is not None:
        parts.append(f"case {row.case_id}")
    text = f"Vendor {row.vendor_slug}: " + (", ".join(parts) or "notes updated")
    note(session, incident, actor, "vendor_updated", text, {"engagement": row.id})
    record(session, actor, "incident.vendor.update", incident, before, after)
    out = _out(row, await _vendor(session, row.vendor_slug), now)
    await finish(session, incident, "incident.vendor", engagement=row.id)
    return out


async def check_deadline(session: AsyncSession, engagement_id: int) -> bool:
    """Flag the engagement overdue if its deadline passed unacknowledged; True when flagged.

    Safe to run more than once: an engagement already flagged or acknowledged is left alone.
    """
    row = await session.get(IncidentVendorEngagement, engagement_id)
    if row is None or row.acknowledged_at is not None or row.overdue_at is not None:
        return False
    now = utcnow()
    measured = response.measure(row.contacted_at, None, row.response_minutes, now)
    if measured.verdict is not response.Verdict.BREACHED:
        return False
    incident = await session.get(Incident, row.incident_id)
    if incident is None:
        return False
    before = snapshot(row)
    row.overdue_at = now
    await session.flush()
    actor = Actor.system("vendor response deadline")
    text = (
        f"Vendor {row.vendor_slug} has not acknowledged within its contractual "
        f"{row.response_minutes} minutes"
    )
    note(session, incident, actor, "vendor_overdue", text, {"engagement": row.id})
    record(session, actor, "incident.vendor.overdue", incident, before, snapshot(row))
    await finish(session, incident, "incident.vendor_overdue", engagement=row.id)
    return True
