"""Appending to the comms log, inside the caller's transaction.

Every external communication in Tocsin goes through `record`, so the log is complete: if the
message's transaction commits, its entry does too, and never otherwise.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.audit.service import record as audit
from tocsin.clock import utcnow
from tocsin.comms.chain import GENESIS, Break, entry_hash, first_break
from tocsin.comms.models import CommsLogEntry
from tocsin.db.dialect import is_postgres

# Any constant key works; it only has to be the same for every writer.
_CHAIN_LOCK = 0x636F6D6D73


async def _lock_chain(session: AsyncSession) -> None:
    """Two writers must not both extend the same head. SQLite's BEGIN IMMEDIATE already
    serialises writers; PostgreSQL takes a transaction-scoped advisory lock."""
    if is_postgres(session):
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_CHAIN_LOCK)))


async def record(
    session: AsyncSession,
    *,
    incident_id: int | None,
    kind: str,
    channel: str,
    audience: str,
    recipients: str,
    text: str,
    actor: Actor,
) -> CommsLogEntry:
    await _lock_chain(session)
    head = (
        await session.execute(
            sa.select(CommsLogEntry.seq, CommsLogEntry.hash)
            .order_by(CommsLogEntry.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = utcnow()
    entry = CommsLogEntry(
        seq=seq,
        at=at,
        incident_id=incident_id,
        kind=kind,
        channel=channel,
        audience=audience,
        recipients=recipients,
        text=text,
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        prev_hash=prev_hash,
        hash="",
    )
    entry.hash = entry_hash(entry_fields(entry))
    session.add(entry)
    # The audit trail (itself append-only) remembers the newest sequence number, which is how
    # `tocsin comms verify` notices entries removed from the end of the chain.
    audit(
        session, actor, "comms.logged", "comms_log", seq, after={"kind": kind, "hash": entry.hash}
    )
    await session.flush()
    return entry


def entry_fields(entry: CommsLogEntry) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "incident_id": entry.incident_id,
        "kind": entry.kind,
        "channel": entry.channel,
        "audience": entry.audience,
        "recipients": entry.recipients,
        "text": entry.text,
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


async def entries(
    session: AsyncSession, since: datetime | None = None, until: datetime | None = None
) -> list[CommsLogEntry]:
    """Entries in chain order, `since` inclusive, `until` exclusive."""
    stmt = sa.select(CommsLogEntry).order_by(CommsLogEntry.seq)
    if since is not None:
        stmt = stmt.where(CommsLogEntry.at >= since)
    if until is not None:
        stmt = stmt.where(CommsLogEntry.at < until)
    return list((await session.scalars(stmt)).all())


async def verify(session: AsyncSession) -> tuple[int, Break | None]:
    """Walk the whole chain; returns how many entries there are and the first break."""
    rows = await entries(session)
    recorded = await session.scalars(
        sa.select(AuditEntry.object_id).where(
            AuditEntry.action == "comms.logged", AuditEntry.object_type == "comms_log"
        )
    )
    last = max((int(r) for r in recorded if r is not None and r.isdigit()), default=0)
    return len(rows), first_break((entry_fields(r) for r in rows), expected_last_seq=last)
