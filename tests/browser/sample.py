"""A small organisation for page tests, built through the catalog and policy service layers.

Web shop -> checkout -> payments -> ledger (hard), and checkout -> recommendations (soft).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_user
from tocsin.audit.service import Actor
from tocsin.auth.models import User
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import (
    CustomerCreate,
    CustomerTierCreate,
    DependencyIn,
    MemberIn,
    ServiceCreate,
    Sla,
    TeamCreate,
    Tier,
    VendorCreate,
)
from tocsin.policy import service as policy

SYSTEM = Actor.system("test")


@dataclass
class Sample:
    admin: User
    responder: User
    """lead of the storefront team, which owns web and checkout"""
    viewer: User


async def build(session: AsyncSession) -> Sample:
    admin = await make_user(session, Role.ADMIN, email="ada@example.com")
    responder = await make_user(session, Role.RESPONDER, email="rui@example.com")
    viewer = await make_user(session, Role.VIEWER, email="vic@example.com")
    await policy.ensure_default_policies(session)
    await catalog.create_team(
        session,
        SYSTEM,
        TeamCreate(
            slug="storefront",
            name="Storefront",
            chat_channel="#storefront",
            members=[MemberIn(email=responder.email, role="lead")],
        ),
    )
    await catalog.create_team(session, SYSTEM, TeamCreate(slug="payments", name="Payments"))
    services = [
        ("ledger", "Ledger", "payments", Tier.TIER_2, [], []),
        ("payments", "Payments API", "payments", Tier.TIER_1, [("ledger", "hard")], ["pci"]),
        ("recommendations", "Recommendations", "storefront", Tier.TIER_4, [], []),
        (
            "checkout",
            "Checkout",
            "storefront",
            Tier.TIER_1,
            [("payments", "hard"), ("recommendations", "soft")],
            ["revenue"],
        ),
        ("web", "Web shop", "storefront", Tier.TIER_1, [("checkout", "hard")], ["frontend"]),
    ]
    for slug, name, team, tier, deps, tags in services:
        await catalog.create_service(
            session,
            SYSTEM,
            ServiceCreate(
                slug=slug,
                name=name,
                owner_team=team,
                tier=tier,
                tags=tags,
                description=f"The {name.lower()}.",
                dependencies=[DependencyIn(service=s, kind=k) for s, k in deps],
            ),
        )
    await catalog.create_customer_tier(
        session,
        SYSTEM,
        CustomerTierCreate(
            slug="gold",
            name="Gold",
            sla=Sla(
                availability_target_percent=99.9,
                response_minutes={"sev1": 15},
                resolution_minutes={"sev1": 240},
            ),
        ),
    )
    await catalog.create_customer(
        session,
        SYSTEM,
        CustomerCreate(slug="acme", name="Acme Corp", tier="gold", services=["web"]),
    )
    await catalog.create_vendor(
        session,
        SYSTEM,
        VendorCreate(
            slug="cardco",
            name="CardCo",
            phone="+1 555 0100",
            response_minutes={"sev1": 30},
            services=["payments"],
        ),
    )
    return Sample(admin=admin, responder=responder, viewer=viewer)
