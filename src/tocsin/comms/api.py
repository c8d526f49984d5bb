"""REST routes of communications: an incident's updates, previews, messages, deliveries and
cadence (/api/v1/incidents/{ref}/comms/…), audience templates (/api/v1/comms/templates),
stakeholder groups (/api/v1/comms/groups) and the comms log for auditors (/api/v1/comms/log)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.comms import delivery, log, service, stakeholders
from tocsin.comms import handlers as _handlers  # noqa: F401  (the cadence timer)
from tocsin.comms.chain import CHAINED_FIELDS, canonical_time
from tocsin.comms.schemas import (
    BriefOut,
    DeliveryOut,
    GroupCadence,
    GroupIn,
    GroupOut,
    InquiryAnswer,
    InquiryIn,
    InquiryOut,
    LogEntryOut,
    MessageEdit,
    MessageIn,
    MessageOut,
    PreviewIn,
    Rendering,
    StatementAckIn,
    StatementIn,
    StatementOut,
    TemplateIn,
    TemplateOut,
    TemplatePreviewIn,
    TemplatePreviewOut,
    UpdateIn,
    UpdateOut,
    VerifyOut,
)
from tocsin.comms.templates import Audience
from tocsin.db.session import get_session
from tocsin.errors import Invalid

router = APIRouter(prefix="/api/v1", tags=["communications"])

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.COMMS_WRITE))
APPROVE = Depends(Requires(Permission.COMMS_APPROVE))
AUDIT = Depends(Requires(Permission.COMMS_AUDIT))
DB = Depends(get_session)
INCIDENT = "/incidents/{ref}/comms"


@router.get(INCIDENT + "/updates", response_model=list[UpdateOut])
async def list_updates(
    ref: str, who: Principal = WRITE, session: AsyncSession = DB
) -> list[UpdateOut]:
    """Newest first; they carry technical details, so only communicators and responders."""
    return await service.list_updates(session, who, ref)


@router.post(INCIDENT + "/updates", response_model=UpdateOut, status_code=201)
async def add_update(
    ref: str, body: UpdateIn, who: Principal = WRITE, session: AsyncSession = DB
) -> UpdateOut:
    return await service.add_update(session, who, ref, body)


@router.post(INCIDENT + "/preview", response_model=list[Rendering])
async def preview(
    ref: str, body: PreviewIn, who: Principal = WRITE, session: AsyncSession = DB
) -> list[Rendering]:
    """Each audience's rendering of an update as written in the body; nothing is stored."""
    return await service.preview(session, who, ref, body)


@router.get(INCIDENT + "/messages", response_model=list[MessageOut])
async def list_messages(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> list[MessageOut]:
    return await service.list_messages(session, who, ref)


@router.post(INCIDENT + "/messages", response_model=MessageOut, status_code=201)
async def create_message(
    ref: str, body: MessageIn, who: Principal = WRITE, session: AsyncSession = DB
) -> MessageOut:
    """A draft for one audience: the given text, or the audience's rendering of an update."""
    return await service.create_message(session, who, ref, body)


@router.patch(INCIDENT + "/messages/{message_id}", response_model=MessageOut)
async def edit_message(
    ref: str, message_id: int, body: MessageEdit, who: Principal = WRITE, session: AsyncSession = DB
) -> MessageOut:
    """An approved message that is edited goes back to draft and needs approval again."""
    return await service.edit_message(session, who, ref, message_id, body)


@router.post(INCIDENT + "/messages/{message_id}/approve", response_model=MessageOut)
async def approve_message(
    ref: str, message_id: int, who: Principal = APPROVE, session: AsyncSession = DB
) -> MessageOut:
    return await service.approve_message(session, who, ref, message_id)


@router.post(INCIDENT + "/messages/{message_id}/publish", response_model=MessageOut)
async def publish_message(
    ref: str, message_id: int, who: Principal = WRITE, session: AsyncSession = DB
) -> MessageOut:
    """External audiences need an approved message and `comms:approve`; the exact text goes
    to the comms log."""
    return await service.publish_message(session, who, ref, message_id)


@router.get(INCIDENT + "/cadence", response_model=list[GroupCadence])
async def cadence(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> list[GroupCadence]:
    """Per stakeholder group of the severity policy: next update due, overdue, adherence."""
    return await service.cadence(session, who, ref)


@router.get(INCIDENT + "/executive-briefs", response_model=list[BriefOut])
async def list_briefs(
    ref: str, who: Principal = WRITE, session: AsyncSession = DB
) -> list[BriefOut]:
    """Briefs sent: one per executive and threshold crossed, with why."""
    return await stakeholders.list_briefs(session, who, ref)


@router.post(INCIDENT + "/executive-briefs/check", response_model=list[BriefOut])
async def check_briefs(
    ref: str, who: Principal = WRITE, session: AsyncSession = DB
) -> list[BriefOut]:
    """Look at the executive thresholds now (the timer also does, while the incident is open)."""
    return await stakeholders.check_briefs(session, who, ref)


@router.get(INCIDENT + "/statement", response_model=list[StatementOut])
async def statement_history(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> list[StatementOut]:
    """Every version of the approved statement, newest first, with diffs and which teams
    have not acknowledged it."""
    return await stakeholders.statement_history(session, who, ref)


@router.post(INCIDENT + "/statement", response_model=StatementOut, status_code=201)
async def publish_statement(
    ref: str, body: StatementIn, who: Principal = APPROVE, session: AsyncSession = DB
) -> StatementOut:
    return await stakeholders.publish_statement(session, who, ref, body)


@router.post(INCIDENT + "/statement/{version}/acknowledge", response_model=StatementOut)
async def acknowledge_statement(
    ref: str,
    version: int,
    body: StatementAckIn,
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> StatementOut:
    return await stakeholders.acknowledge(session, who, ref, version, body.team)


@router.get("/comms/media-inquiries", response_model=list[InquiryOut])
async def list_inquiries(who: Principal = WRITE, session: AsyncSession = DB) -> list[InquiryOut]:
    return await stakeholders.list_inquiries(session, who)


@router.post("/comms/media-inquiries", response_model=InquiryOut, status_code=201)
async def log_inquiry(
    body: InquiryIn, who: Principal = WRITE, session: AsyncSession = DB
) -> InquiryOut:
    """Record a press inquiry and route it to the designated spokespeople."""
    return await stakeholders.log_inquiry(session, who, body)


@router.post("/comms/media-inquiries/{inquiry_id}/answer", response_model=InquiryOut)
async def answer_inquiry(
    inquiry_id: int, body: InquiryAnswer, who: Principal = WRITE, session: AsyncSession = DB
) -> InquiryOut:
    """Only a designated spokesperson may publish the media statement."""
    return await stakeholders.answer_inquiry(session, who, inquiry_id, body.statement)


@router.get("/comms/templates", response_model=list[TemplateOut])
async def list_templates(
    severity: str = Query(default="", max_length=50),
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> list[TemplateOut]:
    """The template each audience uses now (for `?severity=`, else the general ones)."""
    return await service.list_templates(session, severity)


@router.get("/comms/templates/{audience}", response_model=list[TemplateOut])
async def template_versions(
    audience: Audience,
    severity: str = Query(default="", max_length=50),
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> list[TemplateOut]:
    """Every stored version, newest first."""
    return await service.template_versions(session, audience, severity)


@router.put("/comms/templates/{audience}", response_model=TemplateOut)
async def save_template(
    audience: Audience,
    body: TemplateIn,
    severity: str = Query(default="", max_length=50),
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> TemplateOut:
    """Store a new version; refused (422, field `body`) when it cannot render."""
    return await service.save_template(session, who, audience, severity, body.body)


@router.post("/comms/templates/{audience}/preview", response_model=TemplatePreviewOut)
async def preview_template(
    audience: Audience, body: TemplatePreviewIn, who: Principal = WRITE, session: AsyncSession = DB
) -> TemplatePreviewOut:
    """Render a template as edited with the incident's latest update; nothing is stored.
    Refused (422, field `body`) when it cannot render for the audience."""
    return await service.preview_template(session, who, audience, body.body, body.incident)


@router.get(INCIDENT + "/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    ref: str, who: Principal = WRITE, session: AsyncSession = DB
) -> list[DeliveryOut]:
    """Where each published message and brief went, and whether it arrived."""
    return await delivery.list_deliveries(session, who, ref)


@router.get("/comms/groups", response_model=list[GroupOut])
async def list_groups(who: Principal = WRITE, session: AsyncSession = DB) -> list[GroupOut]:
    """The stakeholder groups Tocsin delivers to, with their addresses and chat channel."""
    return await delivery.list_groups(session)


@router.put("/comms/groups/{audience}", response_model=GroupOut)
async def save_group(
    audience: Audience, body: GroupIn, who: Principal = APPROVE, session: AsyncSession = DB
) -> GroupOut:
    """Replace the group's e-mail addresses and chat channel."""
    return await delivery.save_group(session, who, audience, body)


@router.get("/comms/log", response_model=list[LogEntryOut])
async def export_log(
    since: datetime | None = Query(default=None, alias="from"),
    until: datetime | None = Query(default=None, alias="to"),
    format: Literal["json", "csv"] = Query(default="json"),
    who: Principal = AUDIT,
    session: AsyncSession = DB,
) -> Response | list[LogEntryOut]:
    """Entries from `from` (inclusive) to `to` (exclusive), in chain order, with their hashes
    so the chain can be re-checked outside Tocsin (see docs/communications.md)."""
    if since is not None and until is not None and until <= since:
        raise Invalid("to", "must be after from")
    rows = [
        LogEntryOut.model_validate({**log.entry_fields(r), "at": canonical_time(r.at)})
        for r in await log.entries(session, since, until)
    ]
    if format == "json":
        return rows
    out = io.StringIO()
    writer = csv.writer(out)
    columns = [*CHAINED_FIELDS, "hash"]
    writer.writerow(columns)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow(["" if data[c] is None else data[c] for c in columns])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="comms-log.csv"'},
    )


@router.get("/comms/log/verify", response_model=VerifyOut)
async def verify_log(who: Principal = AUDIT, session: AsyncSession = DB) -> VerifyOut:
    count, broken = await log.verify(session)
    return VerifyOut(
        ok=broken is None,
        entries=count,
        first_break_seq=broken.seq if broken else None,
        reason=broken.reason if broken else None,
    )
