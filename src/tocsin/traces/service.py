"""Trace use cases: storing exported spans, figures, the dependency map, failure isolation.

Reads are window queries on indexed columns: error spans by (status_code, start_us), an
operation's durations by (service, operation, start_us, duration_us), a trace's spans by
(trace_id, span_id). Isolation reads only the error spans of the window plus, for the few top
origins, one aggregate over both windows, which keeps it well under a second on a million
stored spans (see docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tocsin.audit import service as audit
from tocsin.auth.principal import Principal
from tocsin.catalog.models import Service, ServiceDependency
from tocsin.clock import utcnow
from tocsin.config import Settings
from tocsin.errors import Conflict, Invalid
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.service.common import Who, load, milestone_times
from tocsin.jobs import service as jobs
from tocsin.traces import dependencies, figures, isolation, jaeger, sampling
from tocsin.traces.admission import Gate
from tocsin.traces.models import TraceSpan
from tocsin.traces.schemas import (
    DependencyMapOut,
    EdgeOut,
    FiguresOut,
    ImportQueued,
    IsolationOut,
    JaegerImportIn,
    OriginOut,
    ServiceFiguresOut,
    ServiceRankOut,
    WindowOut,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PRUNE_KIND = "traces.prune"
JAEGER_KIND = "traces.jaeger_import"
JAEGER_TIMEOUT_SECONDS = 30.0
KNOWN_CHUNK = 500
ERROR = 2
SERVER_KINDS = (2, 5)
MAX_ERROR_SPANS = 200_000
MAX_ORIGINS = 20
MAX_WINDOW = timedelta(days=31)
DEFAULT_WINDOW = timedelta(hours=1)


def micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The window asked for, defaulting to the last hour; refused when upside down or huge."""
    end = end or utcnow()
    start = start or end - DEFAULT_WINDOW
    if end.tzinfo is None:
        raise Invalid("to", "must carry a time zone (e.g. 2026-01-01T10:00:00Z)")
    if start.tzinfo is None:
        raise Invalid("from", "must carry a time zone (e.g. 2026-01-01T10:00:00Z)")
    if start >= end:
        raise Invalid("from", "must be before `to`")
    if end - start > MAX_WINDOW:
        raise Invalid("from", "windows are limited to 31 days")
    return start, end


COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "service",
    "operation",
    "kind",
    "start_us",
    "duration_us",
    "status_code",
    "error_message",
    "http_status",
    "attributes",
)
_COPY = f"COPY trace_spans ({', '.join(COLUMNS)}) FROM STDIN"
_INSERT = (
    f"INSERT INTO trace_spans ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
)


def _tuples(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows in column order, attributes already JSON text (or NULL)."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    return [
        (
            r["trace_id"],
            r["span_id"],
            r["parent_span_id"],
            r["service"],
            r["operation"],
            r["kind"],
            r["start_us"],
            r["duration_us"],
            r["status_code"],
            r["error_message"],
            r["http_status"],
            None if r["attributes"] is None else dumps(r["attributes"]),
        )
        for r in rows
    ]


async def store(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write an export's spans in the session's transaction, as one bulk operation.

    The receiver's cost is mostly here, so this talks to the driver directly: COPY on
    PostgreSQL, one driver-level executemany on SQLite. SQLAlchemy's own executemany handles
    bind parameters row by row in Python (and the ORM's bulk insert even splits an export
    into a statement per run of rows with the same None columns), which held ingestion to
    7,000-9,000 spans/s; see docs/benchmarks.md.
    """
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        raw: Any = (await connection.get_raw_connection()).driver_connection
        async with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
            for row in _tuples(rows):
                await copy.write_row(row)
    elif dialect == "sqlite":
        await connection.exec_driver_sql(_INSERT, _tuples(rows))
    else:
        await session.execute(sa.insert(TraceSpan), rows)


async def accept(
    session: AsyncSession, gate: Gate, rows: list[dict[str, Any]], settings: Settings
) -> None:
    """Sample a decoded export within this node's budget, store what is kept and commit; the
    first export of each hour on a node also queues the hourly prune."""
    left = gate.budget_left(settings.traces_budget_spans_per_minute)
    kept, _dropped = sampling.select(rows, settings.traces_sample_ratio, left)
    gate.spent += len(kept)
    await store(session, kept)
    hour = gate.prune_due()
    if hour is not None:
        await schedule_prune(session)
    await session.commit()
    if hour is not None:
        gate.prune_hour = hour


def prune_key(at: datetime) -> str:
    return f"traces.prune:{at:%Y-%m-%dT%H}"


async def schedule_prune(session: AsyncSession) -> None:
    """Queue the next hourly prune (idempotent per hour, so every node may call it)."""
    run_at = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    await jobs.enqueue(session, PRUNE_KIND, {}, run_at=run_at, idempotency_key=prune_key(run_at))


async def prune(session: AsyncSession, retention_hours: int) -> int:
    """Delete spans older than the retention; the number deleted."""
    cutoff = micros(utcnow() - timedelta(hours=retention_hours))
    result = await session.execute(sa.delete(TraceSpan).where(TraceSpan.start_us < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


async def _catalog_slugs(session: AsyncSession) -> set[str]:
    return set((await session.scalars(sa.select(Service.slug))).all())


async def _mean_latencies(
    session: AsyncSession, pairs: list[tuple[str, str]], previous: int, start: int, end: int
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """Mean duration of each (service, operation) in the window and in the previous one, in
    one pass over the covering (service, operation, start_us, duration_us) index."""
    if not pairs:
        return {}, {}
    t = TraceSpan
    now = sa.func.avg(sa.case((t.start_us >= start, t.duration_us)))
    before = sa.func.avg(sa.case((t.start_us < start, t.duration_us)))
    rows = await session.execute(
        sa.select(t.service, t.operation, now, before)
        .where(
            t.service.in_(sorted({service for service, _ in pairs})),
            t.operation.in_(sorted({operation for _, operation in pairs})),
            t.start_us >= previous,
            t.start_us < end,
        )
        .group_by(t.service, t.operation)
    )
    wanted = set(pairs)
    current: dict[tuple[str, str], float] = {}
    earlier: dict[tuple[str, str], float] = {}
    for service, operation, mean_now, mean_before in rows:
        if (service, operation) not in wanted:
            continue
        if mean_now is not None:
            current[(service, operation)] = float(mean_now)
        if mean_before is not None:
            earlier[(service, operation)] = float(mean_before)
    return current, earlier


async def isolate(
    session: AsyncSession, start: datetime, end: datetime, entry: str | None = None
) -> IsolationOut:
    """Rank where the errors of the window originate, with evidence.

    The entry filter is a semi-join in the database on the roots of the entry service
    (index-only through the partial index of root spans), so only failing traces come back
    to Python: selecting every root of the entry service into Python took over a second on
    a million spans, and looking roots up by failing trace id was slower still on SQLite.
    """
    start, end = window(start, end)
    lo, hi = micros(start), micros(end)
    t = TraceSpan
    query = sa.select(
        t.trace_id,
        t.span_id,
        t.parent_span_id,
        t.service,
        t.operation,
        t.error_message,
        t.http_status,
        t.duration_us,
    ).where(t.status_code == ERROR, t.start_us >= lo, t.start_us < hi)
    if entry:
        root = aliased(TraceSpan)
        query = query.where(
            sa.exists().where(
                root.trace_id == t.trace_id,
                root.parent_span_id.is_(None),
                root.service == entry,
                root.start_us >= lo - DEFAULT_WINDOW // timedelta(microseconds=1),
                root.start_us < hi,
            )
        )
    result = await session.execute(query.limit(MAX_ERROR_SPANS))
    spans = [isolation.ErrorSpan(*row) for row in result.all()]
    ranked = isolation.rank(spans)[:MAX_ORIGINS]
    pairs = [(o.service, o.operation) for o in ranked]
    previous_lo = lo - (hi - lo)
    now_means, before_means = await _mean_latencies(session, pairs, previous_lo, lo, hi)
    slugs = await _catalog_slugs(session)
    origins = []
    for o in ranked:
        key = (o.service, o.operation)
        current, previous = now_means.get(key), before_means.get(key)
        origins.append(
            OriginOut(
                service=o.service,
                operation=o.operation,
                traces=o.traces,
                spans=o.spans,
                share=round(o.share, 4),
                example_trace_ids=o.example_trace_ids,
                messages=o.messages,
                http_statuses=o.http_statuses,
                mean_duration_ms=round((current or o.mean_duration_us) / 1000, 3),
                previous_mean_duration_ms=None if previous is None else round(previous / 1000, 3),
                latency_shift=None
                if (shift := isolation.latency_shift(current, previous)) is None
                else round(shift, 4),
                propagated_through=o.propagated_through,
            )
        )
    return IsolationOut(
        window=WindowOut(start=start, end=end),
        previous_window=WindowOut(start=from_micros(previous_lo), end=start),
        entry=entry,
        failing_traces=len({s.trace_id for s in spans}),
        error_spans=len(spans),
        services=[
            ServiceRankOut(
                service=r.service,
                traces=r.traces,
                spans=r.spans,
                operations=r.operations,
                catalog_service=r.service in slugs,
            )
            for r in isolation.by_service(ranked)
        ],
        origins=origins,
    )


async def incident_window(session: AsyncSession, who: Who, ref: str) -> tuple[datetime, datetime]:
    """Impact start (else detection, declaration, creation) to resolution (else now)."""
    incident = await load(session, who, ref)
    times = await milestone_times(session, incident.id)
    start = (
        times.get(Milestone.IMPACT_STARTED)
        or times.get(Milestone.DETECTED)
        or times.get(Milestone.DECLARED)
        or incident.created_at
    )
    end = times.get(Milestone.RESOLVED) or utcnow()
    if end <= start:
        end = start + timedelta(minutes=1)
    return start, end


async def incident_isolation(
    session: AsyncSession, who: Who, ref: str, entry: str | None = None
) -> IsolationOut:
    start, end = await incident_window(session, who, ref)
    return await isolate(session, start, end, entry)


async def service_figures(
    session: AsyncSession, start: datetime | None, end: datetime | None
) -> FiguresOut:
    """Requests are server/consumer spans and trace roots: what a service was asked to do."""
    start, end = window(start, end)
    t = TraceSpan
    rows = await session.execute(
        sa.select(t.service, t.duration_us, t.status_code).where(
            t.start_us >= micros(start),
            t.start_us < micros(end),
            sa.or_(t.kind.in_(SERVER_KINDS), t.parent_span_id.is_(None)),
        )
    )
    durations: dict[str, list[int]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    for service, duration, status in rows:
        durations[service].append(int(duration))
        if status == ERROR:
            errors[service] += 1
    seconds = (end - start).total_seconds()

    def ms(value: int | None) -> float | None:
        return None if value is None else round(value / 1000, 3)

    out = []
    for service in sorted(durations):
        f = figures.figures(durations[service], errors[service], seconds)
        out.append(
            ServiceFiguresOut(
                service=service,
                requests=f.requests,
                errors=f.errors,
                rate_per_second=round(f.rate_per_second, 4),
                error_percent=round(f.error_percent, 2),
                p50_ms=ms(f.p50_us),
                p95_ms=ms(f.p95_us),
                p99_ms=ms(f.p99_us),
            )
        )
    return FiguresOut(window=WindowOut(start=start, end=end), services=out)


async def dependency_map(
    session: AsyncSession, start: datetime | None, end: datetime | None
) -> DependencyMapOut:
    start, end = window(start, end)
    lo, hi = micros(start), micros(end)
    child = aliased(TraceSpan)
    parent = aliased(TraceSpan)
    rows = await session.execute(
        sa.select(
            parent.service,
            child.service,
            sa.func.count(),
            sa.func.sum(sa.case((child.status_code == ERROR, 1), else_=0)),
        )
        .join(
            parent,
            sa.and_(parent.trace_id == child.trace_id, parent.span_id == child.parent_span_id),
        )
        .where(child.start_us >= lo, child.start_us < hi, parent.service != child.service)
        .group_by(parent.service, child.service)
    )
    observed = [
        dependencies.ObservedEdge(caller, callee, int(calls), int(errs or 0))
        for caller, callee, calls, errs in rows
    ]
    traced = set(
        (
            await session.scalars(
                sa.select(TraceSpan.service)
                .where(TraceSpan.start_us >= lo, TraceSpan.start_us < hi)
                .distinct()
            )
        ).all()
    )
    caller_svc = aliased(Service)
    callee_svc = aliased(Service)
    declared_rows = await session.execute(
        sa.select(caller_svc.slug, callee_svc.slug)
        .select_from(ServiceDependency)
        .join(caller_svc, caller_svc.id == ServiceDependency.service_id)
        .join(callee_svc, callee_svc.id == ServiceDependency.depends_on_id)
    )
    declared = {(a, b) for a, b in declared_rows}
    edges = dependencies.compare(observed, declared, traced)
    return DependencyMapOut(
        window=WindowOut(start=start, end=end),
        edges=[EdgeOut(**edge.__dict__) for edge in edges],
    )


async def queue_jaeger_import(
    session: AsyncSession, who: Principal, body: JaegerImportIn, jaeger_url: str | None
) -> ImportQueued:
    """Queue the reading of a service's traces from Jaeger (a job: Jaeger may be slow)."""
    if not jaeger_url:
        raise Conflict("importing from Jaeger is off: set TOCSIN_TRACES_JAEGER_URL")
    start, end = window(body.from_, body.to)
    lo, hi = micros(start), micros(end)
    payload = {"service": body.service, "start_us": lo, "end_us": hi}
    job = await jobs.enqueue(
        session, JAEGER_KIND, payload, idempotency_key=f"{JAEGER_KIND}:{body.service}:{lo}:{hi}"
    )
    audit.record(session, who.actor, "import", "traces", body.service, after=payload)
    await session.commit()
    return ImportQueued(job_id=job.id, service=body.service, window=WindowOut(start=start, end=end))


async def _known(session: AsyncSession, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    trace_ids = sorted({row["trace_id"] for row in rows})
    known: set[tuple[str, str]] = set()
    for at in range(0, len(trace_ids), KNOWN_CHUNK):
        found = await session.execute(
            sa.select(TraceSpan.trace_id, TraceSpan.span_id).where(
                TraceSpan.trace_id.in_(trace_ids[at : at + KNOWN_CHUNK])
            )
        )
        known.update((trace_id, span_id) for trace_id, span_id in found)
    return known


async def import_from_jaeger(
    session: AsyncSession, base_url: str, payload: dict[str, Any], max_traces: int
) -> int:
    """Read the traces and store the spans not stored yet; the number stored. Spans already
    present (exported over OTLP too, or an earlier import) are skipped, so a retried or
    repeated import adds nothing twice."""
    document = await jaeger.fetch(
        base_url,
        str(payload["service"]),
        int(payload["start_us"]),
        int(payload["end_us"]),
        max_traces,
        JAEGER_TIMEOUT_SECONDS,
    )
    decoded = jaeger.rows_of(document)
    known = await _known(session, decoded.rows)
    fresh: list[dict[str, Any]] = []
    for row in decoded.rows:
        key = (row["trace_id"], row["span_id"])
        if key not in known:
            known.add(key)
            fresh.append(row)
    await store(session, fresh)
    return len(fresh)
