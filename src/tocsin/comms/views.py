"""Communications pages: the panel on an incident page (cadence per group, messages and their
approval and delivery, writing an update with a preview per audience), its own page for
browsers without scripts, audience templates (versions, editing, preview against an incident),
stakeholder groups' addresses, media inquiries with the spokesperson's statement, and the comms
log page for admins. Forms go through the same use cases as the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.comms import delivery, log, service, stakeholders
from tocsin.comms.schemas import (
    GroupIn,
    InquiryAnswer,
    InquiryIn,
    MessageIn,
    PreviewIn,
    Rendering,
    TemplatePreviewIn,
)
from tocsin.comms.templates import Audience
from tocsin.db.session import get_session
from tocsin.incidents import service as incidents
from tocsin.policy import service as policy
from tocsin.web import forms
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.COMMS_WRITE))
APPROVE = Depends(Requires(Permission.COMMS_APPROVE))
AUDIT = Depends(Requires(Permission.COMMS_AUDIT))
DB = Depends(get_session)

UPDATE_FIELDS = ("technical_details", "customers_affected", "customer_experience", "workaround")
MESSAGE_FIELDS = ("audience", "channel", "recipients", "text")


async def _panel(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    *,
    errors: forms.FormErrors | None = None,
    values: dict[str, str] | None = None,
    previews: list[Rendering] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    incident = await incidents.get_incident(session, principal, ref)
    name = "comms/_incident_panel.html" if is_htmx(request) else "comms/incident_page.html"
    return render(
        request,
        name,
        status_code=status_code,
        incident=incident,
        cadence=await service.cadence(session, principal, ref),
        messages=await service.list_messages(session, principal, ref),
        deliveries=(
            await delivery.list_deliveries(session, principal, ref)
            if principal.can(Permission.COMMS_WRITE)
            else []
        ),
        may_write=principal.can(Permission.COMMS_WRITE),
        may_approve=principal.can(Permission.COMMS_APPROVE),
        audiences=list(Audience),
        errors=errors or forms.FormErrors(),
        values=values or {},
        previews=previews or [],
    )


@router.get("/incidents/{ref}/comms")
async def incident_panel(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page (and its live refresh), else a page of its own."""
    return await _panel(request, session, principal, ref)


@router.post("/incidents/{ref}/comms/preview")
async def preview_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    """Preview the update for every audience; with `save`, store it too."""
    form = await request.form()
    values = {name: forms.text(form, name) for name in UPDATE_FIELDS}

    async def _preview() -> list[Rendering]:
        body = PreviewIn.model_validate(values)
        if forms.text(form, "save"):
            await service.add_update(session, principal, ref, body)
        return await service.preview(session, principal, ref, body)

    previews, errors = await forms.attempt(session, _preview)
    return await _panel(
        request,
        session,
        principal,
        ref,
        errors=errors,
        values=values,
        previews=previews,
        status_code=422 if errors else 200,
    )


@router.post("/incidents/{ref}/comms/messages")
async def message_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    form = await request.form()
    values = {name: forms.text(form, name) for name in MESSAGE_FIELDS}

    async def _create() -> Any:
        return await service.create_message(
            session, principal, ref, MessageIn.model_validate(values)
        )

    _, errors = await forms.attempt(session, _create)
    if errors:
        return await _panel(
            request, session, principal, ref, errors=errors, values=values, status_code=422
        )
    return RedirectResponse(f"/incidents/{ref}/comms", status_code=303)


async def _act(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    action: Callable[[], Awaitable[Any]],
) -> Response:
    _, errors = await forms.attempt(session, action)
    if errors:
        return await _panel(request, session, principal, ref, errors=errors, status_code=409)
    return RedirectResponse(f"/incidents/{ref}/comms", status_code=303)


@router.post("/incidents/{ref}/comms/messages/{message_id}/approve")
async def approve_submit(
    request: Request,
    ref: str,
    message_id: int,
    principal: Principal = APPROVE,
    session: AsyncSession = DB,
) -> Response:
    return await _act(
        request,
        session,
        principal,
        ref,
        lambda: service.approve_message(session, principal, ref, message_id),
    )


@router.post("/incidents/{ref}/comms/messages/{message_id}/publish")
async def publish_submit(
    request: Request,
    ref: str,
    message_id: int,
    principal: Principal = WRITE,
    session: AsyncSession = DB,
) -> Response:
    """External audiences need `comms:approve` too; the use case checks it."""
    return await _act(
        request,
        session,
        principal,
        ref,
        lambda: service.publish_message(session, principal, ref, message_id),
    )


@router.get("/comms/log")
async def log_page(
    request: Request, principal: Principal = AUDIT, session: AsyncSession = DB
) -> HTMLResponse:
    """Newest first, with the chain's verdict."""
    count, broken = await log.verify(session)
    entries = list(reversed(await log.entries(session)))[:500]
    return render(request, "comms/log.html", entries=entries, count=count, broken=broken)


# --- audience templates ---------------------------------------------------------------------


def _templates_url(audience: Audience, severity: str) -> str:
    query = f"?severity={quote(severity)}" if severity else ""
    return f"/comms/templates/{audience.value}{query}"


@router.get("/comms/templates")
async def templates_page(
    request: Request,
    severity: str = Query(default="", max_length=50),
    principal: Principal = WRITE,
    session: AsyncSession = DB,
) -> HTMLResponse:
    """The template each audience uses now, for one severity or for all."""
    return render(
        request,
        "comms/templates.html",
        templates=await service.list_templates(session, severity),
        severity=severity,
        severities=await policy.list_severities(session),
    )


async def _template_page(
    request: Request,
    session: AsyncSession,
    audience: Audience,
    severity: str,
    *,
    body: str | None = None,
    incident: str = "",
    errors: forms.FormErrors | None = None,
    preview: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    versions = await service.template_versions(session, audience, severity)
    if body is None:
        body = (await service.current_template(session, audience, severity))[1]
    return render(
        request,
        "comms/template.html",
        status_code=status_code,
        audience=audience,
        severity=severity,
        versions=versions,
        body=body,
        incident=incident,
        errors=errors or forms.FormErrors(),
        preview=preview,
    )


@router.get("/comms/templates/{audience}")
async def template_page(
    request: Request,
    audience: Audience,
    severity: str = Query(default="", max_length=50),
    principal: Principal = WRITE,
    session: AsyncSession = DB,
) -> HTMLResponse:
    """Its versions, newest first, and a form to write the next one."""
    return await _template_page(request, session, audience, severity)


@router.post("/comms/templates/{audience}")
async def template_save(
    request: Request, audience: Audience, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    form = await request.form()
    body, severity = _raw(form, "body"), forms.text(form, "severity")[:50]

    async def _save() -> Any:
        return await service.save_template(session, principal, audience, severity, body)

    _, errors = await forms.attempt(session, _save)
    if errors:
        return await _template_page(
            request,
            session,
            audience,
            severity,
            body=body,
            incident=forms.text(form, "incident"),
            errors=errors,
            status_code=422,
        )
    return RedirectResponse(_templates_url(audience, severity), status_code=303)


@router.post("/comms/templates/{audience}/preview")
async def template_preview(
    request: Request, audience: Audience, principal: Principal = WRITE, session: AsyncSession = DB
) -> HTMLResponse:
    """The template as written in the form, rendered with the incident's latest update."""
    form = await request.form()
    body, severity = _raw(form, "body"), forms.text(form, "severity")[:50]
    ref = forms.text(form, "incident")

    async def _preview() -> Any:
        values = TemplatePreviewIn.model_validate({"body": body, "incident": ref})
        return await service.preview_template(
            session, principal, audience, values.body, values.incident
        )

    preview, errors = await forms.attempt(session, _preview)
    return await _template_page(
        request,
        session,
        audience,
        severity,
        body=body,
        incident=ref,
        errors=errors,
        preview=preview,
        status_code=422 if errors else 200,
    )


def _raw(form: Any, name: str) -> str:
    """A template's text exactly as typed: its whitespace is part of the message."""
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


# --- stakeholder groups ---------------------------------------------------------------------


async def _groups_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    errors: forms.FormErrors | None = None,
    failed: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "comms/groups.html",
        status_code=status_code,
        groups=await delivery.list_groups(session),
        may_approve=principal.can(Permission.COMMS_APPROVE),
        errors=errors or forms.FormErrors(),
        failed=failed,
        values=values or {},
    )


@router.get("/comms/groups")
async def groups_page(
    request: Request, principal: Principal = WRITE, session: AsyncSession = DB
) -> HTMLResponse:
    """Where each group's published messages are delivered."""
    return await _groups_page(request, session, principal)


@router.post("/comms/groups/{audience}")
async def group_save(
    request: Request, audience: Audience, principal: Principal = APPROVE, session: AsyncSession = DB
) -> Response:
    form = await request.form()
    values = {
        "emails": forms.text(form, "emails"),
        "chat_channel": forms.text(form, "chat_channel"),
    }

    async def _save() -> Any:
        body = GroupIn.model_validate(
            {"emails": forms.split_list(values["emails"]), "chat_channel": values["chat_channel"]}
        )
        return await delivery.save_group(session, principal, audience, body)

    _, errors = await forms.attempt(session, _save)
    if errors:
        return await _groups_page(
            request,
            session,
            principal,
            errors=errors,
            failed=audience.value,
            values=values,
            status_code=422,
        )
    return RedirectResponse("/comms/groups", status_code=303)


# --- media inquiries ----------------------------------------------------------------------------

INQUIRY_FIELDS = ("incident", "outlet", "reporter", "question", "deadline")


async def _media_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    errors: forms.FormErrors | None = None,
    values: dict[str, str] | None = None,
    answering: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    inquiries = await stakeholders.list_inquiries(session, principal)
    far = datetime.max.replace(tzinfo=UTC)
    # Open ones first, the nearest deadline on top: that is the order they must be answered in.
    inquiries.sort(key=lambda i: (i.status != "open", i.deadline or far))
    return render(
        request,
        "comms/media.html",
        status_code=status_code,
        inquiries=inquiries,
        spokesperson=stakeholders.is_spokesperson(principal),
        now=utcnow(),
        errors=errors or forms.FormErrors(),
        values=values or {},
        answering=answering,
    )


@router.get("/comms/media-inquiries")
async def media_page(
    request: Request, principal: Principal = WRITE, session: AsyncSession = DB
) -> HTMLResponse:
    """Press inquiries with their deadlines and answers, and the intake form."""
    return await _media_page(request, session, principal)


def _utc_input(value: str) -> str | None:
    """A `datetime-local` input carries no zone; the form asks for UTC."""
    if not value:
        return None
    if value.endswith("Z") or "+" in value[10:] or "-" in value[10:]:
        return value
    return value + "Z"


@router.post("/comms/media-inquiries")
async def media_submit(
    request: Request, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    form = await request.form()
    values = {name: forms.text(form, name) for name in INQUIRY_FIELDS}

    async def _log() -> Any:
        body = InquiryIn.model_validate(
            {
                **values,
                "incident": values["incident"] or None,
                "deadline": _utc_input(values["deadline"]),
            }
        )
        return await stakeholders.log_inquiry(session, principal, body)

    _, errors = await forms.attempt(session, _log)
    if errors:
        return await _media_page(
            request, session, principal, errors=errors, values=values, status_code=422
        )
    return RedirectResponse("/comms/media-inquiries", status_code=303)


@router.post("/comms/media-inquiries/{inquiry_id}/answer")
async def media_answer(
    request: Request, inquiry_id: int, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    """Only a designated spokesperson: anyone else gets 403 from the use case."""
    form = await request.form()
    statement = forms.text(form, "statement")

    async def _answer() -> Any:
        body = InquiryAnswer.model_validate({"statement": statement})
        return await stakeholders.answer_inquiry(session, principal, inquiry_id, body.statement)

    _, errors = await forms.attempt(session, _answer)
    if errors:
        return await _media_page(
            request,
            session,
            principal,
            errors=errors,
            values={"statement": statement},
            answering=inquiry_id,
            status_code=errors.status,
        )
    return RedirectResponse(f"/comms/media-inquiries#inquiry-{inquiry_id}", status_code=303)
