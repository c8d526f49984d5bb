"""REST routes of routing rules and tickets. Thin: `service` (rules) and `tickets` validate,
audit and own the transaction."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.routing import service, tickets
from tocsin.alerts.routing.schemas import RoutingRuleIn, RoutingRuleOut, TicketOut
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session

router = APIRouter(prefix="/api/v1", tags=["alerts"])

READ = Depends(Requires(Permission.ALERTS_READ))
MANAGE = Depends(Requires(Permission.ALERTS_MANAGE))
DB = Depends(get_session)


@router.get("/routing-rules", response_model=list[RoutingRuleOut])
async def list_rules(_: Principal = READ, session: AsyncSession = DB) -> list[RoutingRuleOut]:
    return await service.list_rules(session)


@router.put("/routing-rules", response_model=RoutingRuleOut)
async def put_rule(
    body: RoutingRuleIn, who: Principal = MANAGE, session: AsyncSession = DB
) -> RoutingRuleOut:
    return await service.put_rule(session, who, body)


@router.delete("/routing-rules/{slug}", status_code=204)
async def delete_rule(slug: str, who: Principal = MANAGE, session: AsyncSession = DB) -> Response:
    await service.delete_rule(session, who, slug)
    return Response(status_code=204)


@router.get("/alert-tickets", response_model=list[TicketOut])
async def list_tickets(
    status: Literal["open", "closed"] | None = None,
    limit: int = Query(200, ge=1, le=1000),
    _: Principal = READ,
    session: AsyncSession = DB,
) -> list[TicketOut]:
    return await tickets.list_tickets(session, status=status, limit=limit)


@router.post("/alert-tickets/{ticket_id}/close", response_model=TicketOut)
async def close_ticket(
    ticket_id: int, who: Principal = MANAGE, session: AsyncSession = DB
) -> TicketOut:
    return await tickets.close_ticket(session, who, ticket_id)
