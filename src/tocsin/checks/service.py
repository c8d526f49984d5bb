"""Synthetic check use cases: definitions, secrets, runs, state, alerts, retention.

Runs are durable jobs. Each (check, location) is a chain: the job for one slot enqueues the
next slot before probing, keyed by slot, so a crash, a retry or two workers racing still
leave exactly one future run. Changing a check's schedule bumps its `generation`; jobs of an
older generation end quietly, so no run is ever cancelled by hand.

The job queue claims by due time, not by location, so a worker that claims a run meant for
another location hands it back (re-enqueued a moment later) instead of probing from the
wrong place; after `MAX_HANDOFFS` the run is dropped and the next slot still happens.

Probing happens outside any database transaction: the job reads the definition, ends the
transaction, talks to the target, then stores the result in a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Integration
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    Severity,
    SourceKind,
    WireFormat,
)
from tocsin.alerts.service import ingestion
from tocsin.alerts.service.integrations import Sender
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.auth.secrets import digest, new_secret
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.checks import runner, scheduling, stats, templating
from tocsin.checks import secrets as sealing
from tocsin.checks.models import Check, CheckResult, CheckSecret
from tocsin.checks.schemas import (
    CheckCreate,
    CheckDetail,
    CheckOut,
    CheckUpdate,
    ResultOut,
    RunRequested,
    SecretIn,
    SecretOut,
    SpecIn,
    StatsOut,
    StepResultOut,
)
from tocsin.clock import utcnow
from tocsin.errors import Conflict, Invalid, NotFound, ProblemError
from tocsin.events import publish
from tocsin.jobs import service as jobs

RUN_KIND = "checks.run"
PRUNE_KIND = "checks.prune"
DEFAULT_LOCATION = "default"
ALERTNAME = "SyntheticCheckFailed"
INTEGRATION_NAME = "Synthetic checks"
MAX_HANDOFFS = 25
HANDOFF_DELAY = timedelta(milliseconds=200)
RUN_ATTEMPTS = 3
"""A run that could not reach the database (SQLite busy, a failover) is retried: until it
books the next slot, the check's whole chain of future runs depends on it."""
PRUNE_EVERY = timedelta(days=1)
STATS_WINDOW = timedelta(hours=24)
AUDIENCE = Permission.CHECKS_READ.value

Who = Principal | Actor


# --- reading ---------------------------------------------------------------------------


def _result_out(row: CheckResult, slug: str) -> ResultOut:
    return ResultOut(
        id=row.id,
        check=slug,
        location=row.location,
        started_at=row.started_at,
        ok=row.ok,
        latency_ms=row.latency_ms,
        error=row.error,
        failed_step=row.failed_step,
        detail=row.detail,
        steps=[StepResultOut.model_validate(s) for s in row.steps],
        trigger=row.trigger,
        requested_by=row.requested_by,
    )


def _out(row: Check, service: str) -> CheckOut:
    return CheckOut(
        id=row.id,
        slug=row.slug,
        name=row.name,
        service=service,
        kind=row.kind,
        spec=row.spec,
        interval_seconds=row.interval_seconds,
        jitter_seconds=row.jitter_seconds,
        timeout_seconds=row.timeout_seconds,
        failure_threshold=row.failure_threshold,
        locations=list(row.locations),
        enabled=row.enabled,
        status=row.status,
        consecutive_failures=row.consecutive_failures,
        last_run_at=row.last_run_at,
        last_failure_at=row.last_failure_at,
        green_since=row.green_since,
    )


async def _slugs(session: AsyncSession, service_ids: set[int]) -> dict[int, str]:
    if not service_ids:
        return {}
    rows = await session.execute(
        sa.select(Service.id, Service.slug).where(Service.id.in_(service_ids))
    )
    return {row[0]: row[1] for row in rows}


async def list_checks(session: AsyncSession, service: str | None = None) -> list[CheckOut]:
    query = sa.select(Check).order_by(Check.slug)
    if service is not None:
        query = query.where(Check.service_id == await catalog.service_id(session, service))
    rows = list(await session.scalars(query))
    slugs = await _slugs(session, {r.service_id for r in rows})
    return [_out(r, slugs.get(r.service_id, "")) for r in rows]


async def _row(session: AsyncSession, slug: str) -> Check:
    row = await session.scalar(sa.select(Check).where(Check.slug == slug))
    if row is None:
        raise NotFound("check", slug)
    return row


async def get_check(session: AsyncSession, slug: str) -> CheckOut:
    row = await _row(session, slug)
    return _out(row, (await _slugs(session, {row.service_id}))[row.service_id])


async def list_results(
    session: AsyncSession, slug: str, *, limit: int = 100, failed_only: bool = False
) -> list[ResultOut]:
    row = await _row(session, slug)
    query = sa.select(CheckResult).where(CheckResult.check_id == row.id)
    if failed_only:
        query = query.where(CheckResult.ok.is_(False))
    query = query.order_by(CheckResult.started_at.desc(), CheckResult.id.desc()).limit(limit)
    return [_result_out(r, row.slug) for r in await session.scalars(query)]


async def check_detail(session: AsyncSession, slug: str, *, limit: int = 100) -> CheckDetail:
    out = await get_check(session, slug)
    since = utcnow() - STATS_WINDOW
    rows = list(
        await session.execute(
            sa.select(CheckResult.ok, CheckResult.latency_ms).where(
                CheckResult.check_id == out.id, CheckResult.started_at >= since
            )
        )
    )
    latencies = [float(r[1]) for r in rows if r[1] is not None]
    figures = StatsOut(
        window_hours=int(STATS_WINDOW.total_seconds() // 3600),
        runs=len(rows),
        uptime_percent=stats.uptime_percent([bool(r[0]) for r in rows]),
        latency_p50_ms=stats.percentile(latencies, 50),
        latency_p95_ms=stats.percentile(latencies, 95),
        latency_p99_ms=stats.percentile(latencies, 99),
    )
    results = await list_results(session, slug, limit=limit)
    return CheckDetail(**out.model_dump(), stats=figures, results=results)


# --- managing --------------------------------------------------------------------------


async def _owned_service(session: AsyncSession, who: Who, service_slug: str) -> int:
    """Responders manage checks of their own teams' services; admins and the system, any."""
    try:
        service = await catalog.get_service(session, service_slug)
    except NotFound:
        raise Invalid("service", f"there is no service {service_slug!r}") from None
    if not isinstance(who, Principal) or who.is_admin:
        return service.id
    if not who.can(Permission.CHECKS_MANAGE):
        raise catalog.Forbidden(f"this needs the {Permission.CHECKS_MANAGE.value} permission")
    owner = await catalog.get_team(session, service.owner_team) if service.owner_team else None
    if owner is None or owner.id not in who.team_ids:
        raise catalog.Forbidden(
            f"checks of service {service_slug} can only be managed by an admin or a member "
            "of the team that owns it"
        )
    return service.id


def validate_spec(kind: str, spec: SpecIn) -> dict[str, Any]:
    """The stored definition of a kind: only the fields that kind uses, each one present."""
    if kind in {"http", "transaction"}:
        if not spec.steps:
            raise Invalid("spec.steps", f"a {kind} check needs at least one step")
        if kind == "http" and len(spec.steps) != 1:
            raise Invalid("spec.steps", "an http check has exactly one step (use transaction)")
        steps = [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in spec.steps]
        for index, step in enumerate(steps):
            if not step["url"].startswith(("http://", "https://", "{{")):
                raise Invalid(f"spec.steps.{index}.url", "must start with http:// or https://")
            step["name"] = step.get("name") or f"step {index + 1}"
        return {"steps": steps}
    if kind in {"tcp", "tls"}:
        if not spec.host:
            raise Invalid("spec.host", f"a {kind} check needs a host")
        if kind == "tcp" and spec.port is None:
            raise Invalid("spec.port", "a tcp check needs a port")
        out: dict[str, Any] = {"host": spec.host, "port": spec.port or 443}
        if kind == "tls":
            out["min_days_left"] = spec.min_days_left
            if spec.server_name:
                out["server_name"] = spec.server_name
        return out
    if not spec.record_name:
        raise Invalid("spec.record_name", "a dns check needs a record_name")
    return {
        "name": spec.record_name,
        "record_type": spec.record_type,
        "nameserver": spec.nameserver,
        "port": spec.port or 53,
        "expect": spec.expect,
    }


def _referenced_secrets(spec: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for step in spec.get("steps", []):
        texts = [step["url"], step.get("body") or "", *step.get("headers", {}).values()]
        for text in texts:
            names |= templating.secret_names(text)
    return names


async def _require_secrets(session: AsyncSession, spec: dict[str, Any]) -> None:
    names = _referenced_secrets(spec)
    if not names:
        return
    known = set(
        await session.scalars(sa.select(CheckSecret.name).where(CheckSecret.name.in_(names)))
    )
    missing = sorted(names - known)
    if missing:
        raise Invalid("spec.steps", f"no secret named {', '.join(missing)}")


def _locations(row: Check) -> list[str]:
    return list(row.locations) or [DEFAULT_LOCATION]


def run_key(check_id: int, generation: int, location: str, due: datetime) -> str:
    return f"{RUN_KIND}:{check_id}:{generation}:{location}:{due.isoformat()}"


async def _enqueue_slot(session: AsyncSession, row: Check, location: str, due: datetime) -> None:
    await jobs.enqueue(
        session,
        RUN_KIND,
        {
            "check_id": row.id,
            "generation": row.generation,
            "location": location,
            "due": due.isoformat(),
            "trigger": "schedule",
        },
        run_at=due,
        idempotency_key=run_key(row.id, row.generation, location, due),
        max_attempts=RUN_ATTEMPTS,
    )


async def _start_chains(session: AsyncSession, row: Check) -> None:
    if not row.enabled:
        return
    now = utcnow()
    for location in _locations(row):
        due = scheduling.first_due(now, row.id, location, row.jitter_seconds)
        await _enqueue_slot(session, row, location, due)
    await ensure_prune_job(session)


async def ensure_prune_job(session: AsyncSession) -> None:
    """One retention job per day, whoever asks first."""
    day = utcnow().date()
    await jobs.enqueue(
        session,
        PRUNE_KIND,
        {},
        run_at=utcnow() + PRUNE_EVERY,
        idempotency_key=f"{PRUNE_KIND}:{day.isoformat()}",
    )


def _actor(who: Who) -> Actor:
    return who.actor if isinstance(who, Principal) else who


async def create_check(
    session: AsyncSession, who: Who, body: CheckCreate, *, commit: bool = True
) -> CheckOut:
    service_id = await _owned_service(session, who, body.service)
    spec = validate_spec(body.kind, body.spec)
    await _require_secrets(session, spec)
    if await session.scalar(sa.select(Check.id).where(Check.slug == body.slug)) is not None:
        raise Conflict(f"a check {body.slug!r} already exists", field="slug")
    if body.jitter_seconds >= body.interval_seconds:
        raise Invalid("jitter_seconds", "must be shorter than the interval")
    row = Check(
        slug=body.slug,
        name=body.name,
        service_id=service_id,
        kind=body.kind,
        spec=spec,
        interval_seconds=body.interval_seconds,
        jitter_seconds=body.jitter_seconds,
        timeout_seconds=body.timeout_seconds,
        failure_threshold=body.failure_threshold,
        locations=sorted(set(body.locations)),
        enabled=body.enabled,
        generation=1,
        status=stats.Status.UNKNOWN.value,
        consecutive_failures=0,
    )
    session.add(row)
    await session.flush()
    await _start_chains(session, row)
    audit.record(session, _actor(who), "create", "check", row.slug, after=snapshot(row))
    out = _out(row, body.service)
    if commit:
        await session.commit()
        await publish("check.created", {"slug": row.slug}, AUDIENCE)
    return out


async def update_check(
    session: AsyncSession, who: Who, slug: str, body: CheckUpdate, *, commit: bool = True
) -> CheckOut:
    row = await _row(session, slug)
    service_slug = (await _slugs(session, {row.service_id}))[row.service_id]
    await _owned_service(session, who, service_slug)
    before = snapshot(row)
    if body.spec is not None:
        row.spec = validate_spec(row.kind, body.spec)
        await _require_secrets(session, row.spec)
    for name in ("name", "interval_seconds", "jitter_seconds", "timeout_seconds"):
        value = getattr(body, name)
        if value is not None:
            setattr(row, name, value)
    if body.failure_threshold is not None:
        row.failure_threshold = body.failure_threshold
    if body.locations is not None:
        row.locations = sorted(set(body.locations))
    if body.enabled is not None:
        row.enabled = body.enabled
    if row.jitter_seconds >= row.interval_seconds:
        raise Invalid("jitter_seconds", "must be shorter than the interval")
    rescheduled = any(
        before.get(k) != getattr(row, k)
        for k in ("interval_seconds", "jitter_seconds", "locations", "enabled")
    )
    if rescheduled:
        row.generation += 1
        await session.flush()
        await _start_chains(session, row)
    await session.flush()
    audit.record(
        session, _actor(who), "update", "check", row.slug, before=before, after=snapshot(row)
    )
    out = _out(row, service_slug)
    if commit:
        await session.commit()
        await publish("check.updated", {"slug": row.slug}, AUDIENCE)
    return out


async def delete_check(session: AsyncSession, who: Who, slug: str) -> None:
    row = await _row(session, slug)
    service_slug = (await _slugs(session, {row.service_id}))[row.service_id]
    await _owned_service(session, who, service_slug)
    if row.status == stats.Status.DOWN.value:
        await _alert(session, row, service_slug, firing=False, text="check deleted", now=utcnow())
    audit.record(session, _actor(who), "delete", "check", row.slug, before=snapshot(row))
    await session.delete(row)
    await session.commit()
    await publish("check.deleted", {"slug": slug}, AUDIENCE)


# --- secrets ---------------------------------------------------------------------------


def _secret_out(row: CheckSecret) -> SecretOut:
    return SecretOut(
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_secrets(session: AsyncSession) -> list[SecretOut]:
    rows = await session.scalars(sa.select(CheckSecret).order_by(CheckSecret.name))
    return [_secret_out(r) for r in rows]


async def put_secret(session: AsyncSession, who: Who, body: SecretIn) -> SecretOut:
    """Create or replace; the audit entry records that it changed, never the value."""
    row = await session.scalar(sa.select(CheckSecret).where(CheckSecret.name == body.name))
    action = "update" if row is not None else "create"
    if row is None:
        row = CheckSecret(name=body.name, ciphertext="", description=body.description)
        session.add(row)
    row.ciphertext = sealing.seal(body.value)
    row.description = body.description
    await session.flush()
    audit.record(
        session,
        _actor(who),
        action,
        "check_secret",
        row.name,
        after={"name": row.name, "description": row.description},
    )
    out = _secret_out(row)
    await session.commit()
    return out


async def delete_secret(session: AsyncSession, who: Who, name: str) -> None:
    row = await session.scalar(sa.select(CheckSecret).where(CheckSecret.name == name))
    if row is None:
        raise NotFound("secret", name)
    users = [
        c.slug
        for c in await session.scalars(sa.select(Check))
        if name in _referenced_secrets(c.spec)
    ]
    if users:
        raise Conflict(f"secret {name} is used by {', '.join(sorted(users))}", field="name")
    audit.record(session, _actor(who), "delete", "check_secret", name, before={"name": name})
    await session.delete(row)
    await session.commit()


async def _secret_values(session: AsyncSession, names: set[str]) -> dict[str, str]:
    if not names:
        return {}
    rows = await session.scalars(sa.select(CheckSecret).where(CheckSecret.name.in_(names)))
    values = {}
    for row in rows:
        value = sealing.unseal(row.ciphertext)
        if value is not None:
            values[row.name] = value
    return values


# --- running ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """The definition of one run, copied out so no transaction stays open while probing."""

    check_id: int
    kind: str
    spec: dict[str, Any]
    timeout: float


async def run_job(
    session: AsyncSession, payload: dict[str, Any], *, worker_location: str
) -> ResultOut | None:
    """Run one queued run; the stored result, or None when the run was not this worker's."""
    row = await session.get(Check, int(payload["check_id"]))
    if row is None:
        return None
    location = str(payload["location"])
    scheduled = payload.get("trigger", "schedule") == "schedule"
    if scheduled:
        if not row.enabled or row.generation != int(payload["generation"]):
            return None
        due = datetime.fromisoformat(payload["due"])
        following = scheduling.next_due(due, row.interval_seconds, utcnow())
        await _enqueue_slot(session, row, location, following)
    if location != worker_location:
        handoffs = int(payload.get("handoffs", 0))
        if handoffs < MAX_HANDOFFS:
            await jobs.enqueue(
                session,
                RUN_KIND,
                {
                    **payload,
                    "trigger": "handoff" if scheduled else payload["trigger"],
                    "handoffs": handoffs + 1,
                },
                run_at=utcnow() + HANDOFF_DELAY,
                max_attempts=RUN_ATTEMPTS,
            )
        await session.commit()
        return None
    probe = Probe(row.id, row.kind, dict(row.spec), row.timeout_seconds)
    secret_values = await _secret_values(session, _referenced_secrets(probe.spec))
    await session.commit()  # the next slot is safe; no lock is held while probing
    started = utcnow()
    outcome = await runner.run(
        probe.kind, probe.spec, secrets=secret_values, limit_seconds=probe.timeout, now=started
    )
    trigger = "manual" if payload.get("trigger") == "manual" else "schedule"
    return await record_outcome(
        session,
        probe.check_id,
        outcome,
        location=location,
        started=started,
        trigger=trigger,
        requested_by=payload.get("requested_by"),
    )


async def record_outcome(
    session: AsyncSession,
    check_id: int,
    outcome: runner.Outcome,
    *,
    location: str,
    started: datetime,
    trigger: str = "schedule",
    requested_by: str | None = None,
) -> ResultOut | None:
    """Store a result, move the up/down state, and raise or resolve the alert, in one
    transaction; events go out after it commits."""
    row = await session.get(Check, check_id, with_for_update=True, populate_existing=True)
    if row is None:
        return None
    result = CheckResult(
        check_id=row.id,
        location=location,
        started_at=started,
        ok=outcome.ok,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
        failed_step=outcome.failed_step,
        detail=outcome.detail,
        steps=[s.as_dict() for s in outcome.steps],
        trigger=trigger,
        requested_by=requested_by,
    )
    session.add(result)
    move = stats.advance(
        stats.Status(row.status), row.consecutive_failures, outcome.ok, row.failure_threshold
    )
    row.status = move.status.value
    row.consecutive_failures = move.consecutive_failures
    row.last_run_at = max(started, row.last_run_at) if row.last_run_at else started
    if outcome.ok:
        row.green_since = row.green_since or started
    else:
        row.last_failure_at = started
        row.green_since = None
    announced: tuple[Sender, list[ingestion.Stored]] | None = None
    if move.went_down or move.recovered:
        service_slug = (await _slugs(session, {row.service_id}))[row.service_id]
        text = outcome.error or "check failed"
        announced = await _alert(
            session, row, service_slug, firing=move.went_down, text=text, now=started
        )
        audit.record(
            session,
            Actor.system("synthetic checks"),
            "down" if move.went_down else "recovered",
            "check",
            row.slug,
            after={"status": row.status, "error": outcome.error, "location": location},
        )
    await session.flush()
    out = _result_out(result, row.slug)
    status = row.status
    await session.commit()
    if announced is not None:
        await ingestion.announce(*announced)
    await publish("check.result", {"slug": out.check, "ok": out.ok, "status": status}, AUDIENCE)
    return out


async def _sender(session: AsyncSession, service_id: int) -> Sender:
    """The per-service integration synthetic alerts arrive through, made on first need.

    Its key is never shown to anyone: alerts reach it by function call, not over HTTP.
    """
    row = await session.scalar(
        sa.select(Integration).where(
            Integration.service_id == service_id, Integration.name == INTEGRATION_NAME
        )
    )
    if row is None:
        row = Integration(
            service_id=service_id,
            kind=SourceKind.GENERIC.value,
            name=INTEGRATION_NAME,
            key_prefix="synthetic",
            token_hash=digest(new_secret("tocsin_syn_")),
            enabled=True,
        )
        session.add(row)
        await session.flush()
    return Sender(
        integration_id=row.id,
        service_id=service_id,
        kind=SourceKind.GENERIC,
        enabled=True,
        rate_limit_per_minute=row.rate_limit_per_minute,
        mapping=None,
    )


def alert_labels(row: Check, service_slug: str) -> dict[str, str]:
    return {
        "alertname": ALERTNAME,
        "service": service_slug,
        "source": "synthetic",
        "check": row.slug,
    }


async def _alert(
    session: AsyncSession, row: Check, service_slug: str, *, firing: bool, text: str, now: datetime
) -> tuple[Sender, list[ingestion.Stored]]:
    sender = await _sender(session, row.service_id)
    alert = NormalizedAlert(
        source=SourceKind.GENERIC,
        wire_format=WireFormat.GENERIC_JSON,
        dedup_basis=DedupBasis.LABELS,
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        starts_at=now,
        ends_at=None if firing else now,
        labels=alert_labels(row, service_slug),
        annotations={"description": text, "check_url": f"/checks/{row.slug}"},
        summary=f"Synthetic check {row.name} is down: {text}"[:500]
        if firing
        else f"Synthetic check {row.name} recovered",
        severity=Severity.CRITICAL,
    )
    return sender, await ingestion.write(session, sender, [alert], now)


async def request_runs(
    session: AsyncSession, who: Who, rows: list[Check], *, note: str | None = None
) -> int:
    """Queue one on-demand run per check and location, due now."""
    actor = _actor(who)
    now = utcnow()
    queued = 0
    for row in rows:
        for location in _locations(row):
            await jobs.enqueue(
                session,
                RUN_KIND,
                {
                    "check_id": row.id,
                    "generation": row.generation,
                    "location": location,
                    "due": now.isoformat(),
                    "trigger": "manual",
                    "requested_by": actor.label,
                },
                run_at=now,
                max_attempts=RUN_ATTEMPTS,
            )
            queued += 1
        audit.record(
            session, actor, "run", "check", row.slug, after={"note": note} if note else None
        )
    return queued


async def run_now(session: AsyncSession, who: Who, slug: str) -> RunRequested:
    if isinstance(who, Principal) and not who.can(Permission.CHECKS_RUN):
        raise ProblemError(
            403, "Forbidden", f"this needs the {Permission.CHECKS_RUN.value} permission"
        )
    row = await _row(session, slug)
    queued = await request_runs(session, who, [row])
    await session.commit()
    return RunRequested(checks=[row.slug], runs_queued=queued)


async def prune(session: AsyncSession, *, retention: timedelta) -> int:
    """Delete results older than the retention; returns how many went."""
    cutoff = utcnow() - retention
    result = await session.execute(sa.delete(CheckResult).where(CheckResult.started_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


async def checks_of_services(session: AsyncSession, service_slugs: set[str]) -> list[Check]:
    if not service_slugs:
        return []
    ids = await session.scalars(sa.select(Service.id).where(Service.slug.in_(service_slugs)))
    return list(
        await session.scalars(
            sa.select(Check).where(Check.service_id.in_(list(ids))).order_by(Check.slug)
        )
    )
