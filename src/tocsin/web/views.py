"""The home page: what the organisation looks like in Tocsin, one click from everything."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import TIER_LABELS, Tier
from tocsin.db.session import get_session
from tocsin.policy import service as policy
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Card:
    label: str
    count: int
    href: str


@router.get("/")
async def home(
    request: Request,
    principal: Principal = Depends(Requires(Permission.AUTHENTICATED)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    cards: list[Card] = []
    critical = []
    severities = []
    if principal.can(Permission.CATALOG_READ):
        services = await catalog.list_services(session)
        critical = [s for s in services if s.tier is Tier.TIER_1]
        cards += [
            Card("Services", len(services), "/services"),
            Card("Teams", len(await catalog.list_teams(session)), "/teams"),
            Card("Customers", len(await catalog.list_customers(session)), "/customers"),
            Card("Vendors", len(await catalog.list_vendors(session)), "/vendors"),
        ]
    if principal.can(Permission.POLICY_READ):
        severities = await policy.list_severities(session)
        cards.append(Card("Severities", len(severities), "/severities"))
    return render(
        request,
        "home.html",
        cards=cards,
        critical=critical,
        severities=severities,
        tier_labels={t.value: label for t, label in TIER_LABELS.items()},
    )
