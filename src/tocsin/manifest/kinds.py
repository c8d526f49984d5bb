"""The kinds a configuration file can hold, each bound to its domain's service functions.

A spec is the domain's own create shape (catalog.schemas, policy.schemas) with the slug moved
to `metadata.slug`, so the file format, the REST API and the validation rules cannot drift
apart. Handlers are listed in apply order: what others refer to comes first.

Two lists are left alone when a file omits them, because other tools often own them: a team's
`members` (single sign-on, the UI) and a service's `dependencies` (a Backstage import that
does not know them). Given, even as `[]`, they become exactly what the file says.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.manifest import HANDLERS as ALERT_HANDLERS
from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import (
    BusinessUnitCreate,
    BusinessUnitUpdate,
    CustomerCreate,
    CustomerTierCreate,
    CustomerTierUpdate,
    CustomerUpdate,
    DependencyIn,
    ServiceCreate,
    ServiceUpdate,
    TeamCreate,
    TeamUpdate,
    VendorCreate,
    VendorUpdate,
)
from tocsin.checks.manifest import HANDLERS as CHECK_HANDLERS
from tocsin.manifest.handler import KindHandler, Reference
from tocsin.manifest.plan import changed_fields
from tocsin.oncall.manifest import HANDLERS as ONCALL_HANDLERS
from tocsin.policy import service as policy
from tocsin.policy.schemas import SECTIONS, SeverityCreate, SeverityPolicyIn, SeverityUpdate
from tocsin.statuspage.manifest import HANDLERS as STATUSPAGE_HANDLERS

M = TypeVar("M", bound=BaseModel)


def _stored(model: type[M], data: dict[str, Any]) -> M:
    """A stored object as a spec. Data written before a validation rule was tightened may
    not pass it any more; it is still compared and exported (and flagged on its next apply)
    rather than making every apply and export fail."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return model.model_construct(**data)


def _changes(
    handler: KindHandler, spec: BaseModel, before: BaseModel, skip: Iterable[str] = ()
) -> dict[str, Any]:
    """The spec fields that differ from the stored object, as an update body's input."""
    desired = handler.canonical(spec)
    fields = [
        f for f in changed_fields(handler.canonical(before), desired) if f not in {"slug", *skip}
    ]
    dumped = spec.model_dump(mode="json")
    return {f: dumped[f] for f in fields}


class _Unmanaged:
    """Fields a file may omit to leave them as they are (see the module docstring)."""

    unmanaged_when_omitted: ClassVar[tuple[str, ...]] = ()

    def comparable(self, canonical: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v
            for k, v in canonical.items()
            if not (k in self.unmanaged_when_omitted and desired.get(k) is None)
        }


class SeverityHandler(_Unmanaged, KindHandler):
    kind = "Severity"
    plural = "severities"
    spec_model = SeverityCreate
    unmanaged_when_omitted = ("rank",)

    def order_key(self, spec: Any) -> tuple[int, str]:
        # Placing severities in rank order makes each insert or move land where the file says.
        return (spec.rank if spec.rank is not None else 1_000_000, spec.slug)

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            s.slug: SeverityCreate(slug=s.slug, name=s.name, definition=s.definition, rank=s.rank)
            for s in await policy.list_severities(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        if before is None:
            await policy.create_severity(session, actor, spec, commit=False)
            return
        changes = _changes(self, spec, before)
        if spec.rank is None:
            changes.pop("rank", None)
        if changes:
            await policy.update_severity(
                session, actor, slug, SeverityUpdate.model_validate(changes), commit=False
            )


class SeverityPolicyHandler(KindHandler):
    kind = "SeverityPolicy"
    plural = "severity_policies"
    spec_model = SeverityPolicyIn

    def own_reference(self, slug: str) -> Reference | None:
        return Reference("Severity", slug, ())

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            p.severity: _stored(SeverityPolicyIn, p.model_dump(include=set(SECTIONS)))
            for p in await policy.list_policies(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        await policy.set_policy(session, actor, slug, spec, commit=False)


class TeamHandler(_Unmanaged, KindHandler):
    kind = "Team"
    plural = "teams"
    spec_model = TeamCreate
    unmanaged_when_omitted = ("members",)

    def references(self, spec: Any) -> Iterable[Reference]:
        for i, member in enumerate(spec.members or []):
            yield Reference("User", member.email, ("members", i, "email"))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json")
        if out.get("members") is not None:
            out["members"] = sorted(
                ({**m, "email": m["email"].lower()} for m in out["members"]),
                key=lambda m: m["email"],
            )
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            t.slug: _stored(
                TeamCreate,
                {
                    "slug": t.slug,
                    "name": t.name,
                    "description": t.description,
                    "email": t.email,
                    "chat_channel": t.chat_channel,
                    "members": [{"email": m.email, "role": m.role} for m in t.members],
                },
            )
            for t in await catalog.list_teams(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        if before is None:
            await catalog.create_team(session, actor, spec, commit=False)
            return
        changes = _changes(self, spec, before)
        if spec.members is None:
            changes.pop("members", None)
        if changes:
            await catalog.update_team(
                session, actor, slug, TeamUpdate.model_validate(changes), commit=False
            )


class BusinessUnitHandler(KindHandler):
    kind = "BusinessUnit"
    plural = "business_units"
    spec_model = BusinessUnitCreate

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            u.slug: _stored(
                BusinessUnitCreate,
                u.model_dump(include={"slug", "name", "description", "contact_email"}),
            )
            for u in await catalog.list_business_units(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        if before is None:
            await catalog.create_business_unit(session, actor, spec, commit=False)
        elif changes := _changes(self, spec, before):
            await catalog.update_business_unit(
                session, actor, slug, BusinessUnitUpdate.model_validate(changes), commit=False
            )


def shorthand_dependencies(data: dict[str, Any]) -> dict[str, Any]:
    """`dependencies: [cart]` is short for `[{service: cart, kind: hard}]`."""
    deps = data.get("dependencies")
    if isinstance(deps, list):
        data = {**data, "dependencies": [{"service": d} if isinstance(d, str) else d for d in deps]}
    return data


class ServiceHandler(_Unmanaged, KindHandler):
    kind = "Service"
    plural = "services"
    spec_model = ServiceCreate
    unmanaged_when_omitted = ("dependencies",)

    def prepare(self, data: dict[str, Any]) -> dict[str, Any]:
        return shorthand_dependencies(data)

    def references(self, spec: Any) -> Iterable[Reference]:
        if spec.owner_team is not None:
            yield Reference("Team", spec.owner_team, ("owner_team",))
        for i, dep in enumerate(spec.dependencies or []):
            yield Reference("Service", dep.service, ("dependencies", i))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json")
        if out.get("dependencies") is not None:
            out["dependencies"] = sorted(out["dependencies"], key=lambda d: d["service"])
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            s.slug: _stored(
                ServiceCreate,
                {
                    "slug": s.slug,
                    "name": s.name,
                    "description": s.description,
                    "owner_team": s.owner_team,
                    "tier": s.tier,
                    "tags": s.tags,
                    "runbooks": [r.model_dump() for r in s.runbooks],
                    "dependencies": [
                        {"service": d.service, "kind": d.kind, "note": d.note}
                        for d in s.dependencies
                    ],
                },
            )
            for s in await catalog.list_services(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        # Dependencies wait for `link`: they may point at services created later in this apply.
        if before is None:
            body = spec.model_copy(update={"dependencies": None})
            await catalog.create_service(session, actor, body, commit=False)
        elif changes := _changes(self, spec, before, skip=["dependencies"]):
            await catalog.update_service(
                session, actor, slug, ServiceUpdate.model_validate(changes), commit=False
            )

    async def link(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> list[str]:
        if spec.dependencies is None:
            return []
        desired = self.canonical(spec)["dependencies"]
        if before is not None and self.canonical(before)["dependencies"] == desired:
            return []
        if before is None and not desired:
            return []
        # In the file's order, so that an index in a complaint points at the right line.
        deps: list[DependencyIn] = list(spec.dependencies)
        result = await catalog.set_dependencies(session, actor, slug, deps, commit=False)
        return list(result.warnings)


def _severity_refs(terms: dict[str, Any], path: tuple[str | int, ...]) -> Iterable[Reference]:
    for key in terms:
        yield Reference("Severity", key, (*path, key))


class CustomerTierHandler(KindHandler):
    kind = "CustomerTier"
    plural = "customer_tiers"
    spec_model = CustomerTierCreate

    def references(self, spec: Any) -> Iterable[Reference]:
        if spec.business_unit is not None:
            yield Reference("BusinessUnit", spec.business_unit, ("business_unit",))
        yield from _severity_refs(spec.sla.response_minutes, ("sla", "response_minutes"))
        yield from _severity_refs(spec.sla.resolution_minutes, ("sla", "resolution_minutes"))

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            t.slug: _stored(
                CustomerTierCreate,
                {
                    "slug": t.slug,
                    "name": t.name,
                    "description": t.description,
                    "business_unit": t.business_unit,
                    "sla": t.sla.model_dump(mode="json"),
                },
            )
            for t in await catalog.list_customer_tiers(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        if before is None:
            await catalog.create_customer_tier(session, actor, spec, commit=False)
        elif changes := _changes(self, spec, before):
            await catalog.update_customer_tier(
                session, actor, slug, CustomerTierUpdate.model_validate(changes), commit=False
            )


def _money(value: Any) -> Any:
    return None if value is None else str(Decimal(str(value)).quantize(Decimal("0.01")))


class CustomerHandler(KindHandler):
    kind = "Customer"
    plural = "customers"
    spec_model = CustomerCreate

    def references(self, spec: Any) -> Iterable[Reference]:
        if spec.tier is not None:
            yield Reference("CustomerTier", spec.tier, ("tier",))
        if spec.business_unit is not None:
            yield Reference("BusinessUnit", spec.business_unit, ("business_unit",))
        for i, service in enumerate(spec.services):
            yield Reference("Service", service, ("services", i))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json")
        out["services"] = sorted(out["services"])
        out["monthly_fee"] = _money(out.get("monthly_fee"))
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        fields = {
            "slug",
            "name",
            "description",
            "tier",
            "business_unit",
            "contact_email",
            "monthly_fee",
            "currency",
            "services",
        }
        return {
            c.slug: _stored(CustomerCreate, c.model_dump(include=fields))
            for c in await catalog.list_customers(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        if before is None:
            await catalog.create_customer(session, actor, spec, commit=False)
        elif changes := _changes(self, spec, before):
            await catalog.update_customer(
                session, actor, slug, CustomerUpdate.model_validate(changes), commit=False
            )


class VendorHandler(KindHandler):
    kind = "Vendor"
    plural = "vendors"
    spec_model = VendorCreate

    def references(self, spec: Any) -> Iterable[Reference]:
        yield from _severity_refs(spec.response_minutes, ("response_minutes",))
        for i, service in enumerate(spec.services):
            yield Reference("Service", service, ("services", i))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json")
        out["services"] = sorted(out["services"])
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            v.slug: _stored(
                VendorCreate,
                {
                    **v.model_dump(
                        mode="json",
                        include={
                            "slug",
                            "name",
                            "description",
                            "portal_url",
                            "phone",
                            "account_id",
                            "support_email",
                            "contact_instructions",
                            "response_minutes",
                            "services",
                        },
                    ),
                    "escalation_contacts": [
                        {k: val for k, val in c.model_dump().items() if val is not None}
                        for c in v.escalation_contacts
                    ],
                },
            )
            for v in await catalog.list_vendors(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        if before is None:
            await catalog.create_vendor(session, actor, spec, commit=False)
        elif changes := _changes(self, spec, before):
            await catalog.update_vendor(
                session, actor, slug, VendorUpdate.model_validate(changes), commit=False
            )


HANDLERS: list[KindHandler] = [
    SeverityHandler(),
    SeverityPolicyHandler(),
    TeamHandler(),
    BusinessUnitHandler(),
    ServiceHandler(),
    CustomerTierHandler(),
    CustomerHandler(),
    VendorHandler(),
    *ONCALL_HANDLERS,
    *ALERT_HANDLERS,
    *CHECK_HANDLERS,
    *STATUSPAGE_HANDLERS,
]


async def known_users(session: AsyncSession, emails: Iterable[str]) -> set[str]:
    """Which of these e-mail addresses belong to users (lower-cased)."""
    found = set()
    for email in {e.lower() for e in emails}:
        if await auth.find_user_by_email(session, email) is not None:
            found.add(email)
    return found
