"""Storing what senders post: merge each alert into its stored identity, durably.

One request is one transaction: every alert of the body is merged (`tocsin.alerts.merge`)
into the row with the same dedup key, each state change appends an `alert_events` row and
an "alerts.process" job (the outbox of the next pipeline stage), and only after the commit
does the endpoint answer 2xx and the domain events go out. A failure anywhere stores
nothing, and the sender's retry finds the same state.

Two requests that create the same new alert at the same moment collide on the unique
(integration, dedup key) constraint; the loser starts its transaction again and then finds
the row, so concurrent re-sends still give one alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.merge import Transition, merge
from tocsin.alerts.models import Alert, AlertEvent, Integration
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    Severity,
    SourceKind,
    WireFormat,
)
from tocsin.alerts.service import expiry_schedule, heartbeats
from tocsin.alerts.service.decision_priority import decision_priority
from tocsin.alerts.service.integrations import Sender
from tocsin.auth.permissions import Permission
from tocsin.clock import utcnow
from tocsin.db import bulk, dialect
from tocsin.db.committed import Committed
from tocsin.events import publish
from tocsin.jobs import service as jobs

PROCESS_JOB = "alerts.process"
MAX_ATTEMPTS = 3
LAST_RECEIVED_PRECISION = timedelta(minutes=1)

CREATED = "created"
"""Event kind of an alert seen for the first time (the merge rules name the others)."""
UNKNOWN = "unknown"
"""A content-less reference (acknowledge, resolve, close) to an alert Tocsin never held."""

_STATE_CHANGES = {
    Transition.RESOLVED.value,
    Transition.REFIRED.value,
    Transition.ACKNOWLEDGED.value,
    CREATED,
}


@dataclass(frozen=True, slots=True)
class Stored:
    alert_id: int | None
    dedup_key: str
    fingerprint: str
    status: AlertStatus
    change: str
    """created, refreshed, resolved, refired, acknowledged, unchanged or unknown."""


@dataclass(frozen=True, slots=True)
class Post:
    """One request's parsed body, as handed to `write_many`."""

    sender: Sender
    alerts: Sequence[NormalizedAlert]
    ping: bool = False


@dataclass(slots=True)
class _Current:
    """One alert identity while a group of posts is merged into it, before it is written."""

    alert: NormalizedAlert
    row_id: int | None
    """None while the alert is new: it is inserted once, after all posts are merged"""
    service_id: int
    posts: int = 0
    received_before: int = 0


@dataclass(slots=True)
class _Change:
    """A state change of one post, waiting for its alert id and its history row id."""

    request: int
    current: _Current
    change: str
    status: str
    starts_at: datetime
    severity: str | None
    event_id: int | None = None


_ALERTS = cast(sa.Table, Alert.__table__)
_EVENTS = cast(sa.Table, AlertEvent.__table__)


def stored_alert(row: Any) -> NormalizedAlert:
    """A stored row in the shape the merge rules take."""
    return NormalizedAlert(
        source=SourceKind(row.source),
        wire_format=WireFormat(row.wire_format),
        dedup_basis=DedupBasis(row.dedup_basis),
        dedup_key=row.dedup_key,
        status=AlertStatus(row.status),
        starts_at=row.starts_at,
        labels=dict(row.labels),
        annotations=dict(row.annotations),
        summary=row.summary,
        severity=Severity(row.severity) if row.severity else None,
        ends_at=row.ends_at,
        expires_at=row.expires_at,
        acknowledged=row.acknowledged,
        generator_url=row.generator_url,
        group_key=row.group_key,
        group_labels=dict(row.group_labels),
        sender_fingerprint=row.sender_fingerprint,
        details=dict(row.details),
    )


def _columns(alert: NormalizedAlert) -> dict[str, Any]:
    return {
        "dedup_key": alert.dedup_key,
        "dedup_basis": alert.dedup_basis.value,
        "fingerprint": alert.fingerprint,
        "source": alert.source.value,
        "wire_format": alert.wire_format.value,
        "status": alert.status.value,
        "acknowledged": alert.acknowledged,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "details": alert.details,
        "summary": alert.summary,
        "severity": alert.severity.value if alert.severity else None,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "expires_at": alert.expires_at,
        "generator_url": alert.generator_url,
        "group_key": alert.group_key,
        "group_labels": alert.group_labels,
        "sender_fingerprint": alert.sender_fingerprint,
    }


def fold_batch(alerts: Sequence[NormalizedAlert]) -> dict[str, NormalizedAlert]:
    """One post per dedup key: a body that names the same alert twice (a webhook group
    with a firing and a resolved copy) is merged in body order before it meets the store."""
    folded: dict[str, NormalizedAlert] = {}
    for alert in alerts:
        earlier = folded.get(alert.dedup_key)
        if earlier is None or earlier.partial:
            # A reference carries no content to keep: the later post says more.
            folded[alert.dedup_key] = alert
            continue
        folded[alert.dedup_key] = merge(earlier, alert).alert
    return folded


async def _existing(session: AsyncSession, keys: dict[int, set[str]]) -> dict[tuple[int, str], Any]:
    """The stored rows of the posted identities, locked on PostgreSQL (SQLite's writer lock
    is already held: transactions begin IMMEDIATE). Locks are taken in id order, the order
    decision jobs lock alerts in, so a re-send during a decision waits instead of deadlocking."""
    found: dict[tuple[int, str], Any] = {}
    stmt = _EXISTING_FOR_UPDATE if dialect.is_postgres(session) else _EXISTING
    for integration_id, dedup_keys in sorted(keys.items()):
        params = {"integration_id": integration_id, "dedup_keys": sorted(dedup_keys)}
        for row in await session.execute(stmt, params):
            found[(integration_id, row.dedup_key)] = row
    return found


_EXISTING = (
    sa.select(_ALERTS)
    .where(
        _ALERTS.c.integration_id == sa.bindparam("integration_id"),
        _ALERTS.c.dedup_key.in_(sa.bindparam("dedup_keys", expanding=True)),
    )
    .order_by(_ALERTS.c.id)
)
"""Built once: building it for every group cost a quarter of the read itself."""
_WANTED = (
    sa.func.unnest(sa.bindparam("dedup_keys", type_=postgresql.ARRAY(sa.String)))
    .table_valued("dedup_key")
    .render_derived()
)
_KNOWN = _ALERTS.alias("known")
_FOUND = (
    sa.select(_KNOWN.c.id)
    .where(
        _KNOWN.c.integration_id == sa.bindparam("integration_id"),
        _KNOWN.c.dedup_key == _WANTED.c.dedup_key,
    )
    .limit(1)
    .lateral("found")
)
_FOUND_IDS = sa.select(_FOUND.c.id).select_from(_WANTED).join(_FOUND, sa.true())
_EXISTING_FOR_UPDATE = (
    sa.select(_ALERTS)
    .where(_ALERTS.c.id == sa.any_(sa.func.array(_FOUND_IDS.scalar_subquery())))
    .order_by(_ALERTS.c.id)
    .with_for_update()
)
"""PostgreSQL's read looks each key up on its own (the LIMIT keeps the planner from turning
the lookups into a join), then reads and locks the rows found by id, in id order. Written as
`IN (...)`, a group's thousand keys made the planner scan every alert of the integration and
test each against the list: through the index on the integration alone while the table had
no statistics (the first minute of a storm on a new database), as a sequential scan after
ANALYZE. Either way the read grew with every alert ever stored, and was half of a large
group's time once there were 60,000."""


async def _folded_posts(
    session: AsyncSession, posts: Sequence[Post]
) -> list[dict[str, NormalizedAlert]]:
    folded = []
    for post in posts:
        batch = fold_batch(post.alerts)
        if post.ping or any(_is_watchdog(alert) for alert in post.alerts):
            pinged = await heartbeats.record_ping(session, post.sender.integration_id)
            batch = {**batch, **fold_batch(pinged)}
        folded.append(batch)
    return folded


async def write_many(
    session: AsyncSession, posts: Sequence[Post], now: datetime
) -> list[list[Stored]]:
    """Merge several parsed bodies, in order, into the store inside the caller's transaction,
    without committing; the answer of each post, in order.

    A few statements whatever the number of alerts: one read of the identities the posts
    name, one multi-row insert of the new alerts, one executemany update of the known ones,
    one insert of the history rows and one of the decision jobs. The merge rules run in
    Python on rows read once, so later posts of the group see the earlier ones' result."""
    folded = await _folded_posts(session, posts)
    keys: dict[int, set[str]] = {}
    for post, batch in zip(posts, folded, strict=True):
        keys.setdefault(post.sender.integration_id, set()).update(batch)
    rows = await _existing(session, keys)
    current: dict[tuple[int, str], _Current] = {
        key: _Current(stored_alert(row), row.id, row.service_id, 0, row.receive_count)
        for key, row in rows.items()
    }
    answers: list[list[tuple[str, NormalizedAlert, _Current | None, AlertStatus, str]]] = []
    changes: list[_Change] = []
    for index, (post, batch) in enumerate(zip(posts, folded, strict=True)):
        answer: list[tuple[str, NormalizedAlert, _Current | None, AlertStatus, str]] = []
        for dedup_key, incoming in batch.items():
            identity = (post.sender.integration_id, dedup_key)
            held = current.get(identity)
            if held is None:
                if incoming.partial:
                    answer.append((dedup_key, incoming, None, incoming.status, UNKNOWN))
                    continue
                held = current[identity] = _Current(incoming, None, post.sender.service_id)
                change = CREATED
            else:
                merged = merge(held.alert, incoming)
                held.alert = merged.alert
                change = merged.transition.value
            held.posts += 1
            answer.append((dedup_key, incoming, held, held.alert.status, change))
            if change in _STATE_CHANGES:
                changes.append(_change(index, held, change))
        answers.append(answer)
    await _save(session, current, now)
    await _record_changes(session, changes, now)
    await expiry_schedule.ensure_sweep(
        session,
        min(
            (
                e
                for held in current.values()
                if held.alert.firing and (e := held.alert.expires_at) is not None
            ),
            default=None,
        ),
        now,
    )
    for integration_id in keys:
        await _mark_received(session, integration_id, now)
    return [
        [
            Stored(held.row_id if held else None, dedup_key, incoming.fingerprint, status, change)
            for dedup_key, incoming, held, status, change in answer
        ]
        for answer in answers
    ]


async def _save(
    session: AsyncSession, current: dict[tuple[int, str], _Current], now: datetime
) -> None:
    """Write the merged state: new identities in one multi-row insert (ids come back in
    parameter order), changed ones in one executemany update."""
    new = [(key, held) for key, held in current.items() if held.row_id is None]
    if new:
        ids = await _insert_many(
            session,
            _ALERTS,
            [
                {
                    "integration_id": integration_id,
                    "service_id": held.service_id,
                    "first_received_at": now,
                    "last_received_at": now,
                    "receive_count": held.posts,
                    **_columns(held.alert),
                }
                for (integration_id, _), held in new
            ],
        )
        for (_, held), alert_id in zip(new, ids, strict=True):
            held.row_id = alert_id
    known = [held for held in current.values() if held.posts and held.received_before]
    if known:
        await session.execute(
            sa.update(_ALERTS).where(_ALERTS.c.id == sa.bindparam("row_id")),
            [
                {
                    "row_id": held.row_id,
                    "last_received_at": now,
                    "receive_count": held.received_before + held.posts,
                    **_columns(held.alert),
                }
                for held in known
            ],
        )


async def _insert_many(
    session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]]
) -> list[int]:
    """Insert rows in one statement; their ids, in the order of `rows`.

    On PostgreSQL the rows travel as one array per column (`tocsin.db.bulk`): a multi-row
    VALUES list of 64 alerts is 1,500 placeholders the driver would parse on every request.

    On SQLite, one executemany (a single call into the driver) and then the last id: a
    new row's id is one more than the largest in the table (SQLite's rowid rule) and nothing
    else writes while this transaction holds the writer lock, so the rows got consecutive
    ids in order. (Asking SQLAlchemy for ids in parameter order instead made it insert one
    row per statement, each a round trip to the driver's thread: three quarters of a
    64-alert request's time; a multi-row VALUES statement is compiled anew for every size.)"""
    if not dialect.is_postgres(session):
        await session.execute(sa.insert(table), rows)
        last = int(await session.scalar(sa.text("SELECT last_insert_rowid()")) or 0)
        return list(range(last - len(rows) + 1, last + 1))
    return await bulk.insert_returning_ids(session, table, rows)


def _change(request: int, held: _Current, change: str) -> _Change:
    alert = held.alert
    return _Change(
        request,
        held,
        change,
        alert.status.value,
        alert.starts_at,
        alert.severity.value if alert.severity else None,
    )


@dataclass(frozen=True, slots=True)
class Changed:
    """A state change that no post made (an alert whose `expires_at` passed)."""

    alert_id: int
    service_id: int
    alert: NormalizedAlert
    """The alert after the change."""
    change: str


async def record(
    session: AsyncSession, requests: Sequence[Sequence[Changed]], now: datetime
) -> None:
    """Record changes made outside a post exactly as `write_many` records a post's, so the
    pipeline cannot tell them apart: a history row each, and one decision job per inner
    sequence (decided in its order, like the alerts of one request)."""
    await _record_changes(
        session,
        [
            _change(index, _Current(item.alert, item.alert_id, item.service_id), item.change)
            for index, request in enumerate(requests)
            for item in request
        ],
        now,
    )


async def _record_changes(session: AsyncSession, changes: list[_Change], now: datetime) -> None:
    """One history row per state change, then the decision jobs of the requests that
    changed something."""
    if not changes:
        return
    ids = await _insert_many(
        session,
        _EVENTS,
        [
            {
                "alert_id": item.current.row_id,
                "kind": item.change,
                "status": item.status,
                "at": now,
                "data": {"starts_at": item.starts_at.isoformat(), "severity": item.severity},
            }
            for item in changes
        ],
    )
    for item, event_id in zip(changes, ids, strict=True):
        item.event_id = event_id
    by_request: dict[int, list[tuple[int, int, str, int]]] = {}
    for item in changes:
        assert item.current.row_id is not None and item.event_id is not None
        by_request.setdefault(item.request, []).append(
            (item.current.row_id, item.event_id, item.change, item.current.service_id)
        )
    await _enqueue_decision(session, list(by_request.values()), now)


async def _enqueue_decision(
    session: AsyncSession, requests: list[list[tuple[int, int, str, int]]], now: datetime
) -> None:
    """One decision job for every alert a request changed, decided in body order: per
    alert, the job's own bookkeeping cost as much as the decision. Each request's changes
    are (alert id, history row id, change, service id).

    A job whose alerts all wait for a group wait yields to those that could page at once
    (`decision_priority`); the most urgent alert of the request sets its priority."""
    await jobs.enqueue_many(
        session,
        [
            jobs.NewJob(
                PROCESS_JOB,
                {
                    "alert_ids": [alert_id for alert_id, _, _, _ in changed],
                    "alert_event_ids": [event_id for _, event_id, _, _ in changed],
                    "change": ",".join(dict.fromkeys(change for _, _, change, _ in changed)),
                },
                idempotency_key=f"{PROCESS_JOB}:{changed[0][1]}",
                priority=await decision_priority(
                    session, (service_id for _, _, _, service_id in changed), now
                ),
            )
            for changed in requests
        ],
    )


def _is_watchdog(alert: NormalizedAlert) -> bool:
    return alert.firing and alert.labels.get("alertname") == heartbeats.WATCHDOG


async def write(
    session: AsyncSession,
    sender: Sender,
    alerts: Sequence[NormalizedAlert],
    now: datetime,
    *,
    ping: bool = False,
) -> list[Stored]:
    """Merge a parsed body into the store inside the caller's transaction, without committing:
    the caller decides when it is durable (a request commits at once; a check result commits
    with the check's new state).
    A heartbeat ping (or Alertmanager's Watchdog alert) also counts as a sign of life."""
    (stored,) = await write_many(session, [Post(sender, alerts, ping)], now)
    return stored


async def ingest(
    session: AsyncSession,
    sender: Sender,
    alerts: Sequence[NormalizedAlert],
    *,
    ping: bool = False,
) -> list[Stored]:
    """Store a parsed body and commit; the caller answers the sender only after this."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            stored = await write(session, sender, alerts, utcnow(), ping=ping)
            await session.commit()
        except IntegrityError:
            await session.rollback()
            if attempt == MAX_ATTEMPTS:
                raise
            continue
        await announce(sender, stored)
        return stored
    raise AssertionError("unreachable")  # pragma: no cover


async def _mark_received(session: AsyncSession, integration_id: int, now: datetime) -> None:
    """At most once a minute: every request writing the integration row would make all
    requests of one integration wait for each other on its row lock. A process that has
    itself marked the integration less than a minute ago skips even the statement (a round
    trip per transaction on PostgreSQL); it learns of its marks only once they commit."""
    marked = _received_marks.known(session).get(integration_id)
    if marked is not None and marked <= now < marked + LAST_RECEIVED_PRECISION:
        return
    await session.execute(
        sa.update(Integration)
        .where(
            Integration.id == integration_id,
            sa.or_(
                Integration.last_received_at.is_(None),
                Integration.last_received_at < now - LAST_RECEIVED_PRECISION,
            ),
        )
        .values(last_received_at=now)
    )
    _received_marks.note(session, integration_id, now)


_received_marks: Committed[int, datetime] = Committed("alerts.received_marks")
"""Integration id -> when this process last committed its `last_received_at` check."""


async def announce(sender: Sender, stored: list[Stored]) -> None:
    """Tell live screens, after the commit, what changed."""
    audience = Permission.ALERTS_READ.value
    for item in stored:
        if item.alert_id is None or item.change not in _STATE_CHANGES:
            continue
        name = "alert.resolved" if item.status is AlertStatus.RESOLVED else "alert.received"
        if item.change == Transition.ACKNOWLEDGED.value:
            name = "alert.acknowledged"
        await publish(
            name,
            {
                "id": item.alert_id,
                "integration_id": sender.integration_id,
                "dedup_key": item.dedup_key,
                "status": item.status.value,
                "change": item.change,
            },
            audience,
        )
