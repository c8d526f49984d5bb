"""The page of routing: the rules in the order they are tried, and the tickets they opened,
with a button to close a ticket (the same service function as the API)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.routing import service, tickets
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.ALERTS_READ))
MANAGE = Depends(Requires(Permission.ALERTS_MANAGE))
DB = Depends(get_session)


@router.get("/alert-routing")
async def routing_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return render(
        request,
        "alerts/routing.html",
        rules=await service.list_rules(session),
        tickets=await tickets.list_tickets(session),
        may_manage=principal.can(Permission.ALERTS_MANAGE),
    )


@router.post("/alert-tickets/{ticket_id}/close")
async def close_ticket_form(
    ticket_id: int, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    try:
        await tickets.close_ticket(session, principal, ticket_id)
    except ProblemError as exc:
        if exc.status != 409:  # closed by someone else meanwhile: nothing left to do
            raise
        await session.rollback()
    return RedirectResponse("/alert-routing", status_code=303)
