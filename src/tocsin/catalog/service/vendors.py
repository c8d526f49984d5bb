"""Vendors and cloud providers, with the contact protocol agreed before any incident."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.catalog.models import Service, Vendor, VendorService
from tocsin.catalog.schemas import (
    EscalationContactOut,
    VendorCreate,
    VendorOut,
    VendorUpdate,
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
    state,
)

_SCALARS = ("name", "description", "phone", "account_id", "support_email", "contact_instructions")


async def _outs(session: AsyncSession, vendors: list[Vendor]) -> list[VendorOut]:
    backed: dict[int, list[str]] = {v.id: [] for v in vendors}
    if vendors:
        rows = await session.execute(
            sa.select(VendorService.vendor_id, Service.slug)
            .join(Service, Service.id == VendorService.service_id)
            .where(VendorService.vendor_id.in_(list(backed)))
            .order_by(Service.slug)
        )
        for vendor_id, slug in rows:
            backed[vendor_id].append(slug)
    return [
        VendorOut(
            id=v.id,
            slug=v.slug,
            name=v.name,
            description=v.description,
            portal_url=v.portal_url,
            phone=v.phone,
            account_id=v.account_id,
            support_email=v.support_email,
            contact_instructions=v.contact_instructions,
            escalation_contacts=[EscalationContactOut(**c) for c in v.escalation_contacts],
            response_minutes=dict(v.response_minutes),
            services=backed[v.id],
            created_at=v.created_at,
            updated_at=v.updated_at,
        )
        for v in vendors
    ]


async def list_vendors(session: AsyncSession, *, service: str | None = None) -> list[VendorOut]:
    stmt = sa.select(Vendor).order_by(Vendor.slug)
    if service is not None:
        backed = await by_slug(session, Service, service, "service")
        stmt = stmt.where(
            Vendor.id.in_(
                sa.select(VendorService.vendor_id).where(VendorService.service_id == backed.id)
            )
        )
    return await _outs(session, list((await session.scalars(stmt)).all()))


async def get_vendor(session: AsyncSession, slug: str) -> VendorOut:
    return (await _outs(session, [await by_slug(session, Vendor, slug)]))[0]


def _state(vendor: Vendor, view: VendorOut) -> dict[str, Any]:
    return state(vendor, services=view.services)


async def _set_services(session: AsyncSession, vendor: Vendor, services: list[str]) -> None:
    ids = await ids_by_slug(session, Service, services, "services")
    await session.execute(sa.delete(VendorService).where(VendorService.vendor_id == vendor.id))
    for slug in services:
        session.add(VendorService(vendor_id=vendor.id, service_id=ids[slug]))
    await session.flush()


async def create_vendor(
    session: AsyncSession, who: Who, body: VendorCreate, *, commit: bool = True
) -> VendorOut:
    require_admin(who, "vendors")
    await ensure_new_slug(session, Vendor, body.slug)
    await check_severities(session, body.response_minutes, "response_minutes")
    await ids_by_slug(session, Service, body.services, "services")
    vendor = Vendor(
        slug=body.slug,
        portal_url=None if body.portal_url is None else str(body.portal_url),
        escalation_contacts=[c.model_dump(mode="json") for c in body.escalation_contacts],
        response_minutes=dict(body.response_minutes),
        **{field: getattr(body, field) for field in _SCALARS},
    )
    session.add(vendor)
    await session.flush()
    await _set_services(session, vendor, body.services)
    view = await get_vendor(session, vendor.slug)
    record(session, who, "catalog.vendor.create", "vendor", vendor.slug, after=_state(vendor, view))
    await finish(session, commit, "catalog.vendor.created", {"slug": vendor.slug})
    return view


async def update_vendor(
    session: AsyncSession, who: Who, slug: str, body: VendorUpdate, *, commit: bool = True
) -> VendorOut:
    vendor = await by_slug(session, Vendor, slug)
    require_admin(who, "vendors")
    changes = changed_fields(body)
    reject_null(
        changes,
        [
            "name",
            "description",
            "contact_instructions",
            "escalation_contacts",
            "response_minutes",
            "services",
        ],
    )
    before = _state(vendor, await get_vendor(session, slug))
    if body.response_minutes is not None:
        await check_severities(session, body.response_minutes, "response_minutes")
    if body.services is not None:
        await _set_services(session, vendor, body.services)
    for field in _SCALARS:
        if field in changes:
            setattr(vendor, field, changes[field])
    if "portal_url" in changes:
        vendor.portal_url = None if body.portal_url is None else str(body.portal_url)
    if body.escalation_contacts is not None:
        vendor.escalation_contacts = [c.model_dump(mode="json") for c in body.escalation_contacts]
    if body.response_minutes is not None:
        vendor.response_minutes = dict(body.response_minutes)
    await session.flush()
    view = await get_vendor(session, slug)
    record(
        session,
        who,
        "catalog.vendor.update",
        "vendor",
        slug,
        before=before,
        after=_state(vendor, view),
    )
    await finish(session, commit, "catalog.vendor.updated", {"slug": slug})
    return view


async def delete_vendor(session: AsyncSession, who: Who, slug: str, *, commit: bool = True) -> None:
    vendor = await by_slug(session, Vendor, slug)
    require_admin(who, "vendors")
    before = _state(vendor, await get_vendor(session, slug))
    await session.execute(sa.delete(VendorService).where(VendorService.vendor_id == vendor.id))
    await session.delete(vendor)
    record(session, who, "catalog.vendor.delete", "vendor", slug, before=before)
    await finish(session, commit, "catalog.vendor.deleted", {"slug": slug})
