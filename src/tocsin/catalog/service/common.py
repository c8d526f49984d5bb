"""What every catalog use case shares: who may write, slug lookups, audit and events.

Writes take `who`: the request's Principal (then team scoping applies) or a bare Actor for
trusted callers that checked permission themselves (the CLI, the demo loader, configuration
as code). Every write takes `commit`: with `commit=False` the change and its audit entry are
flushed but left for the caller to commit, so a whole file can be applied in one transaction;
such a caller must roll back if any step raises.

Writes look the object up before deciding who may change it: every signed-in role reads the
catalog anyway, so answering 404 before 403 reveals nothing, and a 403 always means "this
exists and is not yours to change".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin import events
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog.models import BusinessUnit, Customer, CustomerTier, Service, Team, Vendor
from tocsin.db.base import Base
from tocsin.errors import Conflict, Invalid, NotFound, ProblemError

Who = Actor | Principal
Row = TypeVar("Row", Team, Service, BusinessUnit, CustomerTier, Customer, Vendor)

KIND_LABELS: dict[type[Base], str] = {
    Team: "team",
    Service: "service",
    BusinessUnit: "business unit",
    CustomerTier: "customer tier",
    Customer: "customer",
    Vendor: "vendor",
}


class Forbidden(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(403, "Forbidden", detail)


def actor_of(who: Who) -> Actor:
    return who.actor if isinstance(who, Principal) else who


def require_write(who: Who) -> None:
    if isinstance(who, Principal) and not who.can(Permission.CATALOG_WRITE):
        raise Forbidden(f"this needs the {Permission.CATALOG_WRITE.value} permission")


def require_admin(who: Who, what: str) -> None:
    """Teams, business units, tiers, customers and vendors are organisation-wide: admins only."""
    require_write(who)
    if isinstance(who, Principal) and not who.is_admin:
        raise Forbidden(f"only an admin can change {what}")


def require_owner(who: Who, service_slug: str, owner_team_ids: Iterable[int | None]) -> None:
    """Responders change the services of their own teams, and cannot give one away to (or take
    one from) a team they are not in; everyone's other services are theirs to read only."""
    require_write(who)
    if not isinstance(who, Principal) or who.is_admin:
        return
    for team_id in owner_team_ids:
        if team_id is None or team_id not in who.team_ids:
            raise Forbidden(
                f"service {service_slug} can only be changed by an admin or a member of the "
                "team that owns it (before and after the change)"
            )


async def by_slug(
    session: AsyncSession, model: type[Row], slug: str, field: str | None = None
) -> Row:
    """The row with this slug. Unknown slugs are 404 in a URL, 422 naming `field` in a body."""
    row = await session.scalar(sa.select(model).where(model.slug == slug))
    if row is None:
        label = KIND_LABELS[model]
        if field is not None:
            raise Invalid(field, f"there is no {label} {slug!r}")
        raise NotFound(label, slug)
    return row


async def ids_by_slug(
    session: AsyncSession, model: type[Row], slugs: Sequence[str], field: str, item: str = ""
) -> dict[str, int]:
    """Resolve many references at once; the first unknown one is named with its list index
    (`field.3`, or `field.3.item` when the slug sits in an object of the list)."""
    if not slugs:
        return {}
    rows = await session.execute(sa.select(model.slug, model.id).where(model.slug.in_(slugs)))
    found = {row[0]: row[1] for row in rows}
    for i, slug in enumerate(slugs):
        if slug not in found:
            where = f"{field}.{i}.{item}" if item else f"{field}.{i}"
            raise Invalid(where, f"there is no {KIND_LABELS[model]} {slug!r}")
    return found


async def slugs_by_id(
    session: AsyncSession, model: type[Row], ids: Iterable[int | None]
) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(sa.select(model.id, model.slug).where(model.id.in_(wanted)))
    return {row[0]: row[1] for row in rows}


async def ensure_new_slug(session: AsyncSession, model: type[Row], slug: str) -> None:
    exists = await session.scalar(sa.select(model.id).where(model.slug == slug))
    if exists is not None:
        raise Conflict(f"a {KIND_LABELS[model]} with slug {slug!r} already exists", field="slug")


async def check_severities(session: AsyncSession, keys: Iterable[str], field: str) -> None:
    """Per-severity terms must name severities that exist, or a typo silently means 'no SLA'."""
    from tocsin.policy import service as policy

    known = await policy.severity_slugs(session)
    for key in keys:
        if key not in known:
            listed = ", ".join(sorted(known)) or "none are defined yet"
            raise Invalid(f"{field}.{key}", f"unknown severity {key!r} (known: {listed})")


def reject_null(changes: dict[str, Any], fields: Iterable[str]) -> None:
    for field in fields:
        if field in changes and changes[field] is None:
            raise Invalid(field, "cannot be null; leave the field out to keep it unchanged")


def changed_fields(body: Any) -> dict[str, Any]:
    """The fields an update body actually sent, with their (validated) values."""
    return {name: getattr(body, name) for name in body.model_fields_set}


def record(
    session: AsyncSession,
    who: Who,
    action: str,
    kind: str,
    slug: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    audit.record(session, actor_of(who), action, kind, slug, before=before, after=after)


def state(row: Base, **relations: Any) -> dict[str, Any]:
    """A row's columns plus its relations by slug: what the audit trail shows as before/after."""
    return {**snapshot(row), **relations}


async def finish(session: AsyncSession, commit: bool, event: str, data: dict[str, Any]) -> None:
    """Flush always (so errors surface inside the caller's transaction); commit and announce
    only when this call owns the transaction. Nothing is announced that might roll back."""
    await session.flush()
    if commit:
        await session.commit()
        await events.publish(event, data)
