"""Pages of notifications: "how I am notified" (contact methods, rules, a test button and my
recent deliveries) and the admin list of every delivery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.notifications import handlers as _handlers  # noqa: F401  (dispatch and deliver)
from tocsin.notifications import service
from tocsin.notifications.message import Urgency
from tocsin.notifications.models import Channel, DeliveryStatus
from tocsin.notifications.schemas import ContactMethodIn, RuleIn, VerifyIn
from tocsin.web import forms
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

OWN = Depends(Requires(Permission.AUTHENTICATED))
ADMIN = Depends(Requires(Permission.NOTIFICATIONS_ADMIN))
DB = Depends(get_session)


async def _page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
    created_secret: str | None = None,
) -> HTMLResponse:
    user_id = service.resolve_user(principal, "me")
    methods = await service.list_contact_methods(session, user_id)
    return render(
        request,
        "notifications/page.html",
        status_code=status_code,
        methods=methods,
        method_names={m.id: m.label or f"{m.channel.value} {m.address}" for m in methods},
        rules=await service.list_rules(session, user_id),
        deliveries=await service.list_deliveries(session, user_id=user_id, limit=50),
        channels=list(Channel),
        urgencies=list(Urgency),
        errors=errors or forms.FormErrors(),
        created_secret=created_secret,
        notice=request.query_params.get("notice"),
    )


@router.get("/notifications")
async def notifications_page(
    request: Request, principal: Principal = OWN, session: AsyncSession = DB
) -> HTMLResponse:
    return await _page(request, session, principal)


async def _act(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    action: Callable[[FormData, int], Awaitable[Any]],
    notice: str = "saved",
) -> Response:
    form = await request.form()
    me = service.resolve_user(principal, "me")
    result, errors = await forms.attempt(session, lambda: action(form, me))
    if errors:
        return await _page(request, session, principal, errors, 422)
    if isinstance(result, str):
        # A webhook secret is shown once, on the page that answers the form.
        return await _page(request, session, principal, created_secret=result, status_code=201)
    return RedirectResponse(f"/notifications?notice={notice}", status_code=303)


@router.post("/notifications/contact-methods")
async def add_method_submit(
    request: Request, principal: Principal = OWN, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData, user_id: int) -> str | None:
        body = ContactMethodIn.model_validate(
            {
                "channel": forms.text(form, "channel"),
                "address": forms.text(form, "address"),
                "label": forms.text(form, "label"),
            }
        )
        created = await service.create_contact_method(session, principal, user_id, body)
        return created.secret

    return await _act(request, session, principal, go)


@router.post("/notifications/contact-methods/{method_id}/delete")
async def delete_method_submit(
    request: Request, method_id: int, principal: Principal = OWN, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData, user_id: int) -> None:
        await service.delete_contact_method(session, principal, user_id, method_id)

    return await _act(request, session, principal, go, "deleted")


@router.post("/notifications/contact-methods/{method_id}/test")
async def test_method_submit(
    request: Request, method_id: int, principal: Principal = OWN, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData, user_id: int) -> None:
        await service.send_test(session, principal, user_id, method_id)

    return await _act(request, session, principal, go, "test-sent")


@router.post("/notifications/contact-methods/{method_id}/verification")
async def start_verification_submit(
    request: Request, method_id: int, principal: Principal = OWN, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData, user_id: int) -> None:
        await service.start_verification(session, principal, user_id, method_id)

    return await _act(request, session, principal, go, "code-sent")


@router.post("/notifications/contact-methods/{method_id}/verify")
async def verify_submit(
    request: Request, method_id: int, principal: Principal = OWN, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData, user_id: int) -> None:
        body = VerifyIn.model_validate({"code": forms.text(form, "code")})
        await service.verify(session, principal, user_id, method_id, body)

    return await _act(request, session, principal, go, "verified")


@router.post("/notifications/rules")
async def add_rule_submit(
    request: Request, principal: Principal = OWN, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData, user_id: int) -> None:
        body = RuleIn.model_validate(
            {
                "contact_method_id": forms.text(form, "contact_method_id"),
                "urgency": forms.text(form, "urgency"),
                "delay_minutes": forms.text(form, "delay_minutes") or "0",
            }
        )
        await service.create_rule(session, principal, user_id, body)

    return await _act(request, session, principal, go)


@router.post("/notifications/rules/{rule_id}/delete")
async def delete_rule_submit(
    request: Request, rule_id: int, principal: Principal = OWN, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData, user_id: int) -> None:
        await service.delete_rule(session, principal, user_id, rule_id)

    return await _act(request, session, principal, go, "deleted")


@router.get("/admin/notifications")
async def admin_deliveries_page(
    request: Request,
    status: DeliveryStatus | None = None,
    principal: Principal = ADMIN,
    session: AsyncSession = DB,
) -> HTMLResponse:
    return render(
        request,
        "notifications/admin.html",
        deliveries=await service.list_deliveries(session, status=status, limit=200),
        statuses=list(DeliveryStatus),
        status=status,
    )
