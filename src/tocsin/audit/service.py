"""Recording and reading the audit trail.

Writes happen inside the caller's transaction, so a change and its audit entry commit or roll
back together: there is never a change without its record, nor a record of a change that
did not happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.models import AuditEntry
from tocsin.context import current_request_id


@dataclass(frozen=True)
class Actor:
    kind: str
    """user, token or system"""
    id: int | None
    label: str

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", None, label)


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=before,
        after=after,
        request_id=current_request_id(),
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditQuery:
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None
    actor_label: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


async def search(session: AsyncSession, query: AuditQuery) -> list[AuditEntry]:
    stmt = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(query.limit)
    if query.object_type:
        stmt = stmt.where(AuditEntry.object_type == query.object_type)
    if query.object_id:
        stmt = stmt.where(AuditEntry.object_id == query.object_id)
    if query.action:
        stmt = stmt.where(AuditEntry.action == query.action)
    if query.actor_label:
        # A person's token actions are labelled "email (token N)": they are that person's too.
        stmt = stmt.where(
            sa.or_(
                AuditEntry.actor_label == query.actor_label,
                AuditEntry.actor_label.startswith(f"{query.actor_label} (token ", autoescape=True),
            )
        )
    if query.since:
        stmt = stmt.where(AuditEntry.at >= query.since)
    if query.until:
        stmt = stmt.where(AuditEntry.at < query.until)
    if query.before_id:
        stmt = stmt.where(AuditEntry.id < query.before_id)
    return list((await session.scalars(stmt)).all())
