"""Policy use cases: the severity ladder and each severity's policy.

Like the catalog, writes take `who` (a Principal, checked for policy:write, or an Actor for
trusted callers) and `commit` (False leaves the transaction to the caller, for configuration
files applied whole). Every write records an audit entry with before and after.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin import events
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.errors import Conflict, Invalid, NotFound, ProblemError
from tocsin.policy.models import Severity, SeverityPolicy
from tocsin.policy.schemas import (
    SECTIONS,
    SeverityCreate,
    SeverityOut,
    SeverityPolicyIn,
    SeverityPolicyOut,
    SeverityPolicyPatch,
    SeverityUpdate,
)

Who = Actor | Principal


def _actor(who: Who) -> Actor:
    return who.actor if isinstance(who, Principal) else who


def _require_write(who: Who) -> None:
    if isinstance(who, Principal) and not who.can(Permission.POLICY_WRITE):
        raise ProblemError(
            403, "Forbidden", f"this needs the {Permission.POLICY_WRITE.value} permission"
        )


async def _finish(session: AsyncSession, commit: bool, event: str, data: dict[str, Any]) -> None:
    await session.flush()
    if commit:
        await session.commit()
        await events.publish(event, data)


async def _ladder(session: AsyncSession) -> list[Severity]:
    return list((await session.scalars(sa.select(Severity).order_by(Severity.rank))).all())


def _rerank(ladder: list[Severity]) -> None:
    for position, severity in enumerate(ladder, start=1):
        severity.rank = position


async def _severity(session: AsyncSession, slug: str) -> Severity:
    severity = await session.scalar(sa.select(Severity).where(Severity.slug == slug))
    if severity is None:
        raise NotFound("severity", slug)
    return severity


async def _check_name_free(session: AsyncSession, name: str, slug: str | None) -> None:
    holder = await session.scalar(sa.select(Severity.slug).where(Severity.name == name))
    if holder is not None and holder != slug:
        raise Conflict(f"severity {holder} is already called {name!r}", field="name")


# --- severities ------------------------------------------------------------------------------


async def severity_slugs(session: AsyncSession) -> set[str]:
    return set((await session.scalars(sa.select(Severity.slug))).all())


async def list_severities(session: AsyncSession) -> list[SeverityOut]:
    """Most severe first."""
    return [SeverityOut.model_validate(s) for s in await _ladder(session)]


async def get_severity(session: AsyncSession, slug: str) -> SeverityOut:
    return SeverityOut.model_validate(await _severity(session, slug))


async def create_severity(
    session: AsyncSession,
    who: Who,
    body: SeverityCreate,
    policy: SeverityPolicyIn | None = None,
    *,
    commit: bool = True,
) -> SeverityOut:
    """Add a severity (with an empty policy unless one is given) at `body.rank`, or last."""
    _require_write(who)
    if await session.scalar(sa.select(Severity.id).where(Severity.slug == body.slug)):
        raise Conflict(f"a severity with slug {body.slug!r} already exists", field="slug")
    await _check_name_free(session, body.name, None)
    ladder = await _ladder(session)
    before_order = [s.slug for s in ladder]
    severity = Severity(slug=body.slug, name=body.name, definition=body.definition, rank=0)
    position = len(ladder) if body.rank is None else min(body.rank, len(ladder) + 1) - 1
    ladder.insert(position, severity)
    _rerank(ladder)
    session.add(severity)
    await session.flush()
    stored = SeverityPolicy(
        severity_id=severity.id, **(policy or SeverityPolicyIn()).model_dump(mode="json")
    )
    session.add(stored)
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "policy.severity.create",
        "severity",
        severity.slug,
        before={"order": before_order},
        after={
            **snapshot(severity),
            "order": [s.slug for s in ladder],
            "policy": _sections(stored),
        },
    )
    view = SeverityOut.model_validate(severity)
    await _finish(session, commit, "policy.severity.created", {"slug": severity.slug})
    return view


async def update_severity(
    session: AsyncSession, who: Who, slug: str, body: SeverityUpdate, *, commit: bool = True
) -> SeverityOut:
    """Rename, redefine or move a severity; its slug, which records refer to, stays."""
    _require_write(who)
    severity = await _severity(session, slug)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    for field in ("name", "definition", "rank"):
        if field in changes and changes[field] is None:
            raise Invalid(field, "cannot be null; leave the field out to keep it unchanged")
    ladder = await _ladder(session)
    before = {**snapshot(severity), "order": [s.slug for s in ladder]}
    if "name" in changes:
        await _check_name_free(session, changes["name"], slug)
        severity.name = changes["name"]
    if "definition" in changes:
        severity.definition = changes["definition"]
    if "rank" in changes:
        ladder.remove(severity)
        ladder.insert(min(changes["rank"], len(ladder) + 1) - 1, severity)
        _rerank(ladder)
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "policy.severity.update",
        "severity",
        slug,
        before=before,
        after={**snapshot(severity), "order": [s.slug for s in ladder]},
    )
    view = SeverityOut.model_validate(severity)
    await _finish(session, commit, "policy.severity.updated", {"slug": slug})
    return view


async def reorder_severities(
    session: AsyncSession, who: Who, order: list[str], *, commit: bool = True
) -> list[SeverityOut]:
    """Put the whole ladder in a new order; `order` must name every severity exactly once."""
    _require_write(who)
    ladder = await _ladder(session)
    by_slug = {s.slug: s for s in ladder}
    for i, slug in enumerate(order):
        if slug not in by_slug:
            raise Invalid(f"order.{i}", f"there is no severity {slug!r}")
        if order.index(slug) != i:
            raise Invalid(f"order.{i}", f"{slug} is listed twice")
    missing = [s for s in by_slug if s not in order]
    if missing:
        raise Invalid("order", f"every severity must be placed; missing: {', '.join(missing)}")
    before = [s.slug for s in ladder]
    _rerank([by_slug[s] for s in order])
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "policy.severity.reorder",
        "severity",
        None,
        before={"order": before},
        after={"order": list(order)},
    )
    view = await list_severities(session)
    await _finish(session, commit, "policy.severity.updated", {"order": list(order)})
    return view


async def delete_severity(
    session: AsyncSession, who: Who, slug: str, *, commit: bool = True
) -> None:
    """Refused for the last severity, and while SLAs or vendor contracts name it."""
    _require_write(who)
    severity = await _severity(session, slug)
    from tocsin.catalog.service import severity_references

    used_by = await severity_references(session, slug)
    if used_by:
        raise Conflict(f"severity {slug} is still named by {', '.join(used_by)}")
    ladder = await _ladder(session)
    if len(ladder) == 1:
        raise Conflict("the last severity cannot be deleted: incidents need at least one")
    stored = await _stored_policy(session, severity)
    before = {**snapshot(severity), "order": [s.slug for s in ladder], "policy": _sections(stored)}
    ladder.remove(severity)
    await session.execute(sa.delete(SeverityPolicy).where(SeverityPolicy.id == stored.id))
    await session.delete(severity)
    _rerank(ladder)
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "policy.severity.delete",
        "severity",
        slug,
        before=before,
        after={"order": [s.slug for s in ladder]},
    )
    await _finish(session, commit, "policy.severity.deleted", {"slug": slug})


# --- policies --------------------------------------------------------------------------------


def _sections(stored: SeverityPolicy) -> dict[str, Any]:
    return {name: getattr(stored, name) for name in SECTIONS}


async def _stored_policy(session: AsyncSession, severity: Severity) -> SeverityPolicy:
    stored = await session.scalar(
        sa.select(SeverityPolicy).where(SeverityPolicy.severity_id == severity.id)
    )
    if stored is None:  # created outside the service layer: start empty rather than fail
        stored = SeverityPolicy(
            severity_id=severity.id, **SeverityPolicyIn().model_dump(mode="json")
        )
        session.add(stored)
        await session.flush()
    return stored


def _policy_out(severity: Severity, stored: SeverityPolicy) -> SeverityPolicyOut:
    return SeverityPolicyOut.model_validate(
        {
            **_sections(stored),
            "severity": severity.slug,
            "severity_name": severity.name,
            "rank": severity.rank,
            "updated_at": stored.updated_at,
        }
    )


async def list_policies(session: AsyncSession) -> list[SeverityPolicyOut]:
    """One policy per severity, most severe first."""
    rows = await session.execute(
        sa.select(Severity, SeverityPolicy)
        .join(SeverityPolicy, SeverityPolicy.severity_id == Severity.id)
        .order_by(Severity.rank)
    )
    return [_policy_out(severity, stored) for severity, stored in rows]


async def get_policy(session: AsyncSession, severity: str) -> SeverityPolicyOut:
    row = await _severity(session, severity)
    return _policy_out(row, await _stored_policy(session, row))


async def set_policy(
    session: AsyncSession, who: Who, severity: str, body: SeverityPolicyIn, *, commit: bool = True
) -> SeverityPolicyOut:
    """Replace the whole policy of one severity."""
    return await _write_policy(session, who, severity, body.model_dump(mode="json"), commit)


async def patch_policy(
    session: AsyncSession,
    who: Who,
    severity: str,
    body: SeverityPolicyPatch,
    *,
    commit: bool = True,
) -> SeverityPolicyOut:
    """Replace the sections the body sends; the others stay."""
    sections = {
        name: value
        for name, value in body.model_dump(mode="json", exclude_unset=True).items()
        if value is not None
    }
    return await _write_policy(session, who, severity, sections, commit)


async def _write_policy(
    session: AsyncSession, who: Who, slug: str, sections: dict[str, Any], commit: bool
) -> SeverityPolicyOut:
    _require_write(who)
    severity = await _severity(session, slug)
    stored = await _stored_policy(session, severity)
    before = _sections(stored)
    for name, value in sections.items():
        setattr(stored, name, value)
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "policy.update",
        "severity_policy",
        slug,
        before=before,
        after=_sections(stored),
    )
    view = _policy_out(severity, stored)
    await _finish(session, commit, "policy.updated", {"severity": slug})
    return view


async def ensure_default_policies(
    session: AsyncSession, who: Who | None = None, *, commit: bool = True
) -> list[SeverityOut]:
    """Give a new installation SEV1-SEV4 with their default policies. Does nothing once any
    severity exists, so it is safe on every start and never overwrites what people tuned."""
    from tocsin.policy.defaults import DEFAULT_SEVERITIES

    if await session.scalar(sa.select(sa.func.count()).select_from(Severity)):
        if commit:  # end the read transaction too: on SQLite it holds the write lock
            await session.commit()
        return []
    actor = who or Actor.system("defaults")
    created = [
        await create_severity(session, actor, body, policy, commit=False)
        for body, policy in DEFAULT_SEVERITIES
    ]
    if commit:
        await session.commit()
        await events.publish("policy.defaults.created", {"severities": [s.slug for s in created]})
    return created
