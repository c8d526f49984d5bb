"""Business units, customer tiers with their SLAs, and customers.

All of these are organisation-wide facts (contracts, revenue), so only admins change them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.catalog.models import BusinessUnit, Customer, CustomerService, CustomerTier, Service
from tocsin.catalog.schemas import (
    BusinessUnitCreate,
    BusinessUnitOut,
    BusinessUnitUpdate,
    CreditBandIn,
    CreditOut,
    CustomerCreate,
    CustomerOut,
    CustomerTierCreate,
    CustomerTierOut,
    CustomerTierUpdate,
    CustomerUpdate,
    Sla,
)
from tocsin.catalog.service.common import (
    Who,
    by_slug,
    changed_fields,
    check_severities,
    ensure_new_slug,
    finish,
    ids_by_slug,
    record,
    reject_null,
    require_admin,
    slugs_by_id,
    state,
)
from tocsin.catalog.sla import credit_for
from tocsin.errors import Conflict, Invalid

# --- business units --------------------------------------------------------------------------


async def list_business_units(session: AsyncSession) -> list[BusinessUnitOut]:
    rows = await session.scalars(sa.select(BusinessUnit).order_by(BusinessUnit.slug))
    return [BusinessUnitOut.model_validate(r) for r in rows]


async def get_business_unit(session: AsyncSession, slug: str) -> BusinessUnitOut:
    return BusinessUnitOut.model_validate(await by_slug(session, BusinessUnit, slug))


async def create_business_unit(
    session: AsyncSession, who: Who, body: BusinessUnitCreate, *, commit: bool = True
) -> BusinessUnitOut:
    require_admin(who, "business units")
    await ensure_new_slug(session, BusinessUnit, body.slug)
    unit = BusinessUnit(**body.model_dump())
    session.add(unit)
    await session.flush()
    record(
        session, who, "catalog.business_unit.create", "business_unit", unit.slug, after=state(unit)
    )
    view = BusinessUnitOut.model_validate(unit)
    await finish(session, commit, "catalog.business_unit.created", {"slug": unit.slug})
    return view


async def update_business_unit(
    session: AsyncSession, who: Who, slug: str, body: BusinessUnitUpdate, *, commit: bool = True
) -> BusinessUnitOut:
    unit = await by_slug(session, BusinessUnit, slug)
    require_admin(who, "business units")
    changes = changed_fields(body)
    reject_null(changes, ["name", "description"])
    before = state(unit)
    for field, value in changes.items():
        setattr(unit, field, value)
    await session.flush()
    record(
        session,
        who,
        "catalog.business_unit.update",
        "business_unit",
        slug,
        before=before,
        after=state(unit),
    )
    view = BusinessUnitOut.model_validate(unit)
    await finish(session, commit, "catalog.business_unit.updated", {"slug": slug})
    return view


async def delete_business_unit(
    session: AsyncSession, who: Who, slug: str, *, commit: bool = True
) -> None:
    unit = await by_slug(session, BusinessUnit, slug)
    require_admin(who, "business units")
    tiers = await session.scalars(
        sa.select(CustomerTier.slug).where(CustomerTier.business_unit_id == unit.id)
    )
    customers = await session.scalars(
        sa.select(Customer.slug).where(Customer.business_unit_id == unit.id)
    )
    users = [*tiers.all(), *customers.all()]
    if users:
        raise Conflict(f"business unit {slug} is still used by {', '.join(sorted(users))}")
    before = state(unit)
    await session.delete(unit)
    record(session, who, "catalog.business_unit.delete", "business_unit", slug, before=before)
    await finish(session, commit, "catalog.business_unit.deleted", {"slug": slug})


# --- customer tiers --------------------------------------------------------------------------


async def _tier_outs(session: AsyncSession, tiers: list[CustomerTier]) -> list[CustomerTierOut]:
    units = await slugs_by_id(session, BusinessUnit, (t.business_unit_id for t in tiers))
    counts: dict[int, int] = {}
    if tiers:
        rows = await session.execute(
            sa.select(Customer.tier_id, sa.func.count())
            .where(Customer.tier_id.in_([t.id for t in tiers]))
            .group_by(Customer.tier_id)
        )
        counts = {tier_id: n for tier_id, n in rows if tier_id is not None}
    return [
        CustomerTierOut(
            id=t.id,
            slug=t.slug,
            name=t.name,
            description=t.description,
            business_unit=units.get(t.business_unit_id) if t.business_unit_id else None,
            sla=Sla.model_validate(t.sla),
            customers=counts.get(t.id, 0),
            created_at=t.created_at,
            updated_at=t.updated_at,
        )
        for t in tiers
    ]


async def list_customer_tiers(session: AsyncSession) -> list[CustomerTierOut]:
    tiers = list((await session.scalars(sa.select(CustomerTier).order_by(CustomerTier.slug))).all())
    return await _tier_outs(session, tiers)


async def get_customer_tier(session: AsyncSession, slug: str) -> CustomerTierOut:
    return (await _tier_outs(session, [await by_slug(session, CustomerTier, slug)]))[0]


def _tier_state(tier: CustomerTier, unit: str | None) -> dict[str, Any]:
    return state(tier, business_unit=unit)


async def _unit_id(session: AsyncSession, slug: str | None) -> int | None:
    if slug is None:
        return None
    return (await by_slug(session, BusinessUnit, slug, "business_unit")).id


async def create_customer_tier(
    session: AsyncSession, who: Who, body: CustomerTierCreate, *, commit: bool = True
) -> CustomerTierOut:
    require_admin(who, "customer tiers")
    await ensure_new_slug(session, CustomerTier, body.slug)
    unit_id = await _unit_id(session, body.business_unit)
    await check_severities(session, body.sla.response_minutes, "sla.response_minutes")
    await check_severities(session, body.sla.resolution_minutes, "sla.resolution_minutes")
    tier = CustomerTier(
        slug=body.slug,
        name=body.name,
        description=body.description,
        business_unit_id=unit_id,
        sla=body.sla.model_dump(mode="json"),
    )
    session.add(tier)
    await session.flush()
    record(
        session,
        who,
        "catalog.customer_tier.create",
        "customer_tier",
        tier.slug,
        after=_tier_state(tier, body.business_unit),
    )
    view = await get_customer_tier(session, tier.slug)
    await finish(session, commit, "catalog.customer_tier.created", {"slug": tier.slug})
    return view


async def update_customer_tier(
    session: AsyncSession, who: Who, slug: str, body: CustomerTierUpdate, *, commit: bool = True
) -> CustomerTierOut:
    tier = await by_slug(session, CustomerTier, slug)
    require_admin(who, "customer tiers")
    changes = changed_fields(body)
    reject_null(changes, ["name", "description", "sla"])
    before = _tier_state(tier, (await get_customer_tier(session, slug)).business_unit)
    if "business_unit" in changes:
        unit_id = await _unit_id(session, changes["business_unit"])
        if unit_id is not None:
            await _check_tier_customers(session, tier, unit_id)
        tier.business_unit_id = unit_id
    if body.sla is not None:
        await check_severities(session, body.sla.response_minutes, "sla.response_minutes")
        await check_severities(session, body.sla.resolution_minutes, "sla.resolution_minutes")
        tier.sla = body.sla.model_dump(mode="json")
    for field in ("name", "description"):
        if field in changes:
            setattr(tier, field, changes[field])
    await session.flush()
    after = await get_customer_tier(session, slug)
    record(
        session,
        who,
        "catalog.customer_tier.update",
        "customer_tier",
        slug,
        before=before,
        after=_tier_state(tier, after.business_unit),
    )
    await finish(session, commit, "catalog.customer_tier.updated", {"slug": slug})
    return after


async def _check_tier_customers(session: AsyncSession, tier: CustomerTier, unit_id: int) -> None:
    others = await session.scalars(
        sa.select(Customer.slug).where(
            Customer.tier_id == tier.id,
            Customer.business_unit_id.is_not(None),
            Customer.business_unit_id != unit_id,
        )
    )
    clash = others.all()
    if clash:
        raise Invalid(
            "business_unit",
            f"customers {', '.join(clash)} of this tier belong to another business unit",
        )


async def delete_customer_tier(
    session: AsyncSession, who: Who, slug: str, *, commit: bool = True
) -> None:
    tier = await by_slug(session, CustomerTier, slug)
    require_admin(who, "customer tiers")
    customers = (
        await session.scalars(sa.select(Customer.slug).where(Customer.tier_id == tier.id))
    ).all()
    if customers:
        raise Conflict(f"customer tier {slug} still has customers: {', '.join(customers)}")
    before = _tier_state(tier, (await get_customer_tier(session, slug)).business_unit)
    await session.delete(tier)
    record(session, who, "catalog.customer_tier.delete", "customer_tier", slug, before=before)
    await finish(session, commit, "catalog.customer_tier.deleted", {"slug": slug})


# --- customers -------------------------------------------------------------------------------


async def _customer_outs(session: AsyncSession, customers: list[Customer]) -> list[CustomerOut]:
    tiers = await slugs_by_id(session, CustomerTier, (c.tier_id for c in customers))
    units = await slugs_by_id(session, BusinessUnit, (c.business_unit_id for c in customers))
    used: dict[int, list[str]] = {c.id: [] for c in customers}
    if customers:
        rows = await session.execute(
            sa.select(CustomerService.customer_id, Service.slug)
            .join(Service, Service.id == CustomerService.service_id)
            .where(CustomerService.customer_id.in_(list(used)))
            .order_by(Service.slug)
        )
        for customer_id, slug in rows:
            used[customer_id].append(slug)
    return [
        CustomerOut(
            id=c.id,
            slug=c.slug,
            name=c.name,
            description=c.description,
            tier=tiers.get(c.tier_id) if c.tier_id else None,
            business_unit=units.get(c.business_unit_id) if c.business_unit_id else None,
            contact_email=c.contact_email,
            monthly_fee=c.monthly_fee,
            currency=c.currency,
            services=used[c.id],
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c in customers
    ]


async def list_customers(
    session: AsyncSession,
    *,
    tier: str | None = None,
    business_unit: str | None = None,
    service: str | None = None,
) -> list[CustomerOut]:
    stmt = sa.select(Customer).order_by(Customer.slug)
    if tier is not None:
        stmt = stmt.where(
            Customer.tier_id == (await by_slug(session, CustomerTier, tier, "tier")).id
        )
    if business_unit is not None:
        unit = await by_slug(session, BusinessUnit, business_unit, "business_unit")
        stmt = stmt.where(Customer.business_unit_id == unit.id)
    if service is not None:
        used = await by_slug(session, Service, service, "service")
        stmt = stmt.where(
            Customer.id.in_(
                sa.select(CustomerService.customer_id).where(CustomerService.service_id == used.id)
            )
        )
    return await _customer_outs(session, list((await session.scalars(stmt)).all()))


async def get_customer(session: AsyncSession, slug: str) -> CustomerOut:
    return (await _customer_outs(session, [await by_slug(session, Customer, slug)]))[0]


def _customer_state(view: CustomerOut, customer: Customer) -> dict[str, Any]:
    return state(customer, tier=view.tier, business_unit=view.business_unit, services=view.services)


async def _resolve_tier_and_unit(
    session: AsyncSession, tier_slug: str | None, unit_slug: str | None
) -> tuple[int | None, int | None]:
    """A tier scoped to a business unit only takes that unit's customers."""
    tier = None if tier_slug is None else await by_slug(session, CustomerTier, tier_slug, "tier")
    unit_id = await _unit_id(session, unit_slug)
    if (
        tier is not None
        and tier.business_unit_id is not None
        and unit_id is not None
        and tier.business_unit_id != unit_id
    ):
        raise Invalid("tier", f"tier {tier_slug} belongs to another business unit than {unit_slug}")
    return (None if tier is None else tier.id), unit_id


async def _set_services(session: AsyncSession, customer: Customer, services: list[str]) -> None:
    ids = await ids_by_slug(session, Service, services, "services")
    await session.execute(
        sa.delete(CustomerService).where(CustomerService.customer_id == customer.id)
    )
    for slug in services:
        session.add(CustomerService(customer_id=customer.id, service_id=ids[slug]))
    await session.flush()


async def create_customer(
    session: AsyncSession, who: Who, body: CustomerCreate, *, commit: bool = True
) -> CustomerOut:
    require_admin(who, "customers")
    await ensure_new_slug(session, Customer, body.slug)
    tier_id, unit_id = await _resolve_tier_and_unit(session, body.tier, body.business_unit)
    await ids_by_slug(session, Service, body.services, "services")
    customer = Customer(
        slug=body.slug,
        name=body.name,
        description=body.description,
        tier_id=tier_id,
        business_unit_id=unit_id,
        contact_email=body.contact_email,
        monthly_fee=body.monthly_fee,
        currency=body.currency,
    )
    session.add(customer)
    await session.flush()
    await _set_services(session, customer, body.services)
    view = await get_customer(session, customer.slug)
    record(
        session,
        who,
        "catalog.customer.create",
        "customer",
        customer.slug,
        after=_customer_state(view, customer),
    )
    await finish(session, commit, "catalog.customer.created", {"slug": customer.slug})
    return view


async def update_customer(
    session: AsyncSession, who: Who, slug: str, body: CustomerUpdate, *, commit: bool = True
) -> CustomerOut:
    customer = await by_slug(session, Customer, slug)
    require_admin(who, "customers")
    changes = changed_fields(body)
    reject_null(changes, ["name", "description", "currency", "services"])
    current = await get_customer(session, slug)
    before = _customer_state(current, customer)
    tier_slug = changes.get("tier", current.tier)
    unit_slug = changes.get("business_unit", current.business_unit)
    tier_id, unit_id = await _resolve_tier_and_unit(session, tier_slug, unit_slug)
    if body.services is not None:
        await _set_services(session, customer, body.services)
    customer.tier_id = tier_id
    customer.business_unit_id = unit_id
    for field in ("name", "description", "contact_email", "monthly_fee", "currency"):
        if field in changes:
            setattr(customer, field, changes[field])
    await session.flush()
    view = await get_customer(session, slug)
    record(
        session,
        who,
        "catalog.customer.update",
        "customer",
        slug,
        before=before,
        after=_customer_state(view, customer),
    )
    await finish(session, commit, "catalog.customer.updated", {"slug": slug})
    return view


async def delete_customer(
    session: AsyncSession, who: Who, slug: str, *, commit: bool = True
) -> None:
    customer = await by_slug(session, Customer, slug)
    require_admin(who, "customers")
    before = _customer_state(await get_customer(session, slug), customer)
    await session.execute(
        sa.delete(CustomerService).where(CustomerService.customer_id == customer.id)
    )
    await session.delete(customer)
    record(session, who, "catalog.customer.delete", "customer", slug, before=before)
    await finish(session, commit, "catalog.customer.deleted", {"slug": slug})


async def customer_credit(session: AsyncSession, slug: str, availability: float) -> CreditOut:
    """What the customer is owed for a month at `availability` percent, under its tier's SLA."""
    customer = await get_customer(session, slug)
    if customer.tier is None:
        raise Invalid("tier", f"customer {slug} has no tier, so no SLA and no credit rule")
    tier = await get_customer_tier(session, customer.tier)
    rule = tier.sla.credit_rule.to_rule()
    credit = credit_for(rule, Decimal(str(availability)), customer.monthly_fee)
    band = None
    if credit.band is not None:
        band = CreditBandIn(
            below_percent=float(credit.band.below_percent),
            credit_percent=float(credit.band.credit_percent),
        )
    return CreditOut(
        customer=slug,
        tier=tier.slug,
        availability_percent=availability,
        availability_target_percent=tier.sla.availability_target_percent,
        credit_percent=float(credit.percent),
        credit_amount=credit.amount,
        currency=customer.currency,
        band=band,
    )


async def severity_references(session: AsyncSession, severity: str) -> list[str]:
    """Catalog records whose terms name a severity (tier SLAs, vendor contracts), so that the
    policy domain can refuse to delete a severity a contract still refers to."""
    from tocsin.catalog.models import Vendor

    found: list[str] = []
    for tier in await session.scalars(sa.select(CustomerTier).order_by(CustomerTier.slug)):
        sla = tier.sla or {}
        if severity in sla.get("response_minutes", {}) or severity in sla.get(
            "resolution_minutes", {}
        ):
            found.append(f"customer tier {tier.slug}")
    for vendor in await session.scalars(sa.select(Vendor).order_by(Vendor.slug)):
        if severity in (vendor.response_minutes or {}):
            found.append(f"vendor {vendor.slug}")
    return found
