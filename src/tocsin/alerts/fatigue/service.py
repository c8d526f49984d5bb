"""Gather the alert fatigue report from what the pipeline and on-call already record.

Nothing new is stored for it: a firing is an alert's `created` or `refired` event, what
happened to it is in its `decision` events (the group it joined, the incident it was attached
to), and pages with their acknowledgements are on-call's `oncall_pages`. A page is counted
for the rule of the alert that made its group page (or of the flapping alert it was for).
Incident titles never appear in the report, so private incidents are counted and not named.
"""

from __future__ import annotations

import csv
import io
import itertools
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.fatigue import hours as business
from tocsin.alerts.fatigue.schemas import FatigueReport, FatigueRow, SuggestionOut
from tocsin.alerts.fatigue.suggestions import BURST, QUICK, Usage, suggest
from tocsin.alerts.models import Alert, AlertEvent, AlertGroup
from tocsin.catalog.models import Service
from tocsin.clock import utcnow
from tocsin.errors import Invalid
from tocsin.oncall.models import OncallLayer, OncallPage, OncallSchedule

DEFAULT_DAYS = 30
MAX_DAYS = 366
FIRING_KINDS = ("created", "refired")
KINDS = (*FIRING_KINDS, "resolved", "acknowledged", "decision")
FLAPPING_PAGE = "alert-flapping:"
CHUNK = 5000
NO_NAME = "(unnamed)"


@dataclass(frozen=True, slots=True)
class Query:
    start: datetime
    end: datetime
    service: str | None
    timezone: ZoneInfo | None
    hours: business.BusinessHours


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse_query(
    start: datetime | None,
    end: datetime | None,
    service: str | None,
    timezone: str | None,
    hours: str | None,
) -> Query:
    """The report's parameters, checked; a bad one is refused naming its field."""
    end = _aware(end) if end is not None else utcnow()
    start = _aware(start) if start is not None else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise Invalid("from", "must be before to")
    if end - start > timedelta(days=MAX_DAYS):
        raise Invalid("from", f"the window is at most {MAX_DAYS} days")
    zone = None
    if timezone:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid("timezone", f"unknown time zone {timezone!r}") from None
    try:
        span = business.parse(hours) if hours else business.DEFAULT_HOURS
    except ValueError as exc:
        raise Invalid("business_hours", str(exc)) from None
    return Query(start, end, service or None, zone, span)


@dataclass(slots=True)
class _Firing:
    alert_id: int
    start: datetime
    end: datetime | None = None
    groups: set[int] = field(default_factory=set)
    incident: bool = False
    flapping: bool = False
    acknowledged: bool = False


@dataclass(slots=True)
class _Tally:
    services: set[str] = field(default_factory=set)
    firings: list[_Firing] = field(default_factory=list)
    pages: list[OncallPage] = field(default_factory=list)
    acted: int = 0
    linked: int = 0
    unhandled: int = 0


def rule_name(labels: dict[str, Any], summary: str) -> str:
    """Prometheus names a rule `alertname`; other senders may carry a `rule` label."""
    for key in ("alertname", "rule"):
        value = labels.get(key)
        if value:
            return str(value)[:200]
    return summary[:200] or NO_NAME


def _ref(data: dict[str, Any], prefix: str) -> int | None:
    ref = data.get("ref") or ""
    if isinstance(ref, str) and ref.startswith(prefix):
        try:
            return int(ref[len(prefix) :])
        except ValueError:
            return None
    return None


async def _in_chunks(
    session: AsyncSession, stmt: Any, column: Any, ids: Iterable[int]
) -> list[Any]:
    ordered = sorted(set(ids))
    out: list[Any] = []
    for i in range(0, len(ordered), CHUNK):
        out += (await session.execute(stmt.where(column.in_(ordered[i : i + CHUNK])))).all()
    return out


async def _zones(session: AsyncSession, service_ids: set[int]) -> dict[int, ZoneInfo]:
    """Each service's team time zone: that of its team's first on-call schedule."""
    rows = await _in_chunks(
        session,
        sa.select(Service.id, OncallLayer.time_zone)
        .join(OncallSchedule, OncallSchedule.team_id == Service.owner_team_id)
        .join(OncallLayer, OncallLayer.schedule_id == OncallSchedule.id)
        .order_by(OncallSchedule.id.desc(), OncallLayer.position.desc()),
        Service.id,
        service_ids,
    )
    zones: dict[int, ZoneInfo] = {}
    for service_id, name in rows:  # the last row of a service wins: its first schedule
        try:
            zones[service_id] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return zones


async def build(session: AsyncSession, query: Query) -> FatigueReport:
    service_id: int | None = None
    if query.service is not None:
        service_id = await session.scalar(
            sa.select(Service.id).where(Service.slug == query.service)
        )
        if service_id is None:
            raise Invalid("service", f"there is no service {query.service!r}")

    events = sa.select(AlertEvent.alert_id, AlertEvent.kind, AlertEvent.at, AlertEvent.data).where(
        AlertEvent.at >= query.start, AlertEvent.at < query.end, AlertEvent.kind.in_(KINDS)
    )
    if service_id is not None:
        events = events.join(Alert, Alert.id == AlertEvent.alert_id).where(
            Alert.service_id == service_id
        )
    rows = (await session.execute(events.order_by(AlertEvent.at, AlertEvent.id))).all()

    current: dict[int, _Firing] = {}
    firings: list[_Firing] = []
    pager: dict[int, int] = {}  # group id -> the alert that made it page
    paged: set[int] = set()
    for alert_id, kind, at, data in rows:
        data = data or {}
        if kind in FIRING_KINDS:
            current[alert_id] = _Firing(alert_id, at)
            firings.append(current[alert_id])
            continue
        firing = current.get(alert_id)
        if kind == "decision":
            group = _ref(data, "group:")
            if group is not None and group not in paged:
                pager[group] = pager.get(group, alert_id)
                if data.get("decision") == "paged":
                    pager[group] = alert_id
                    paged.add(group)
            if firing is None:
                continue
            if group is not None:
                firing.groups.add(group)
            if _ref(data, "incident:") is not None:
                firing.incident = True
            if data.get("decision") == "flapping":
                firing.flapping = True
        elif firing is not None and kind == "acknowledged":
            firing.acknowledged = True
        elif firing is not None and kind == "resolved":
            firing.end = at
            del current[alert_id]

    pages_stmt = sa.select(OncallPage).where(
        OncallPage.opened_at >= query.start,
        OncallPage.opened_at < query.end,
        sa.or_(
            OncallPage.alert_group_id.is_not(None),
            OncallPage.dedup_key.startswith(FLAPPING_PAGE),
        ),
    )
    if service_id is not None:
        pages_stmt = pages_stmt.where(OncallPage.service_id == service_id)
    pages = list(await session.scalars(pages_stmt.order_by(OncallPage.opened_at, OncallPage.id)))

    page_alert: dict[int, int] = {}
    orphans: set[int] = set()
    for page in pages:
        if page.dedup_key.startswith(FLAPPING_PAGE):
            page_alert[page.id] = int(page.dedup_key[len(FLAPPING_PAGE) :])
        elif page.alert_group_id in pager:
            page_alert[page.id] = pager[page.alert_group_id]
        elif page.alert_group_id is not None:
            orphans.add(page.alert_group_id)
    if orphans:  # decided before the window: the group's earliest member stands for it
        for group_id, alert_id in await _in_chunks(
            session,
            sa.select(Alert.group_id, sa.func.min(Alert.id)).group_by(Alert.group_id),
            Alert.group_id,
            orphans,
        ):
            pager[group_id] = alert_id
        for page in pages:
            if page.id not in page_alert and page.alert_group_id in pager:
                page_alert[page.id] = pager[page.alert_group_id]

    groups = {g for f in firings for g in f.groups}
    with_incident: set[int] = {
        g
        for (g,) in await _in_chunks(
            session,
            sa.select(AlertGroup.id).where(AlertGroup.incident_id.is_not(None)),
            AlertGroup.id,
            groups,
        )
    }
    acked_groups = {
        p.alert_group_id
        for p in pages
        if p.acknowledged_at is not None
        and p.alert_group_id is not None
        and not p.dedup_key.startswith(FLAPPING_PAGE)
    }
    acked_flapping = {
        page_alert[p.id]
        for p in pages
        if p.acknowledged_at is not None and p.dedup_key.startswith(FLAPPING_PAGE)
    }

    alert_ids = {f.alert_id for f in firings} | set(page_alert.values())
    alerts = {
        alert_id: (sid, rule_name(labels or {}, summary or ""))
        for alert_id, sid, labels, summary in await _in_chunks(
            session,
            sa.select(Alert.id, Alert.service_id, Alert.labels, Alert.summary),
            Alert.id,
            alert_ids,
        )
    }
    service_ids = {sid for sid, _ in alerts.values()} | {
        p.service_id for p in pages if p.service_id is not None
    }
    slugs = dict(
        (
            await session.execute(
                sa.select(Service.id, Service.slug).where(Service.id.in_(service_ids))
            )
        ).all()
        if service_ids
        else []
    )
    zones = {} if query.timezone is not None else await _zones(session, service_ids)

    by_rule: dict[str, _Tally] = defaultdict(_Tally)
    by_service: dict[str, _Tally] = defaultdict(_Tally)
    for firing in firings:
        if firing.alert_id not in alerts:
            continue
        sid, name = alerts[firing.alert_id]
        slug = slugs.get(sid, str(sid))
        linked = firing.incident or bool(firing.groups & with_incident)
        acted = (
            firing.acknowledged
            or linked
            or bool(firing.groups & acked_groups)
            or firing.alert_id in acked_flapping
        )
        for tally in (by_rule[name], by_service[slug]):
            tally.services.add(slug)
            tally.firings.append(firing)
            tally.acted += acted
            tally.linked += linked
            tally.unhandled += firing.end is not None and not acted
    for page in pages:
        alert_id = page_alert.get(page.id)
        if alert_id is None or alert_id not in alerts:
            continue
        sid, name = alerts[alert_id]
        slug = slugs.get(page.service_id or sid, str(sid))
        by_rule[name].pages.append(page)
        by_rule[name].services.add(slug)
        by_service[slug].pages.append(page)
        by_service[slug].services.add(slug)

    days = round((query.end - query.start).total_seconds() / 86400, 1)

    def row(kind: str, name: str, tally: _Tally) -> FatigueRow:
        resolved = [f for f in tally.firings if f.end is not None]
        quick = sum(1 for f in resolved if f.end is not None and f.end - f.start <= QUICK)
        acks = [
            (p.acknowledged_at - p.opened_at).total_seconds()
            for p in tally.pages
            if p.acknowledged_at is not None
        ]
        off = 0
        for page in tally.pages:
            zone = query.timezone or zones.get(page.service_id or 0) or ZoneInfo("UTC")
            off += business.is_off_hours(page.opened_at, zone, query.hours)
        usage = Usage(
            fired=len(tally.firings),
            resolved=len(resolved),
            quick=quick,
            acted=tally.acted,
            paged=len(tally.pages),
            acknowledged=len(acks),
            burst_pages=_bursts(tally.pages),
            days=days,
        )
        return FatigueRow(
            kind="rule" if kind == "rule" else "service",
            name=name,
            services=sorted(tally.services),
            fired=usage.fired,
            paged=usage.paged,
            acknowledged=usage.acknowledged,
            median_ack_seconds=statistics.median(acks) if acks else None,
            resolved_without_action=tally.unhandled,
            incident_linked=tally.linked,
            flapping=sum(1 for f in tally.firings if f.flapping),
            off_hours_pages=off,
            suggestions=[SuggestionOut(kind=s.kind, evidence=s.evidence) for s in suggest(usage)],
        )

    def ordered(rows: list[FatigueRow]) -> list[FatigueRow]:
        return sorted(rows, key=lambda r: (-r.paged, -r.fired, r.name))

    return FatigueReport(
        window_start=query.start,
        window_end=query.end,
        service=query.service,
        business_hours=str(query.hours),
        timezone=query.timezone.key if query.timezone else None,
        rules=ordered([row("rule", n, t) for n, t in by_rule.items()]),
        services=ordered([row("service", n, t) for n, t in by_service.items()]),
    )


def _bursts(pages: list[OncallPage]) -> int:
    """Pages opened within BURST of the page before them: one burst paging separately."""
    times = sorted(p.opened_at for p in pages)
    return sum(1 for before, after in itertools.pairwise(times) if after - before <= BURST)


CSV_COLUMNS = (
    "kind",
    "name",
    "services",
    "fired",
    "paged",
    "acknowledged",
    "median_ack_seconds",
    "resolved_without_action",
    "incident_linked",
    "flapping",
    "off_hours_pages",
    "suggestions",
)


def _cell(value: object) -> object:
    """Alert names come from senders: keep a spreadsheet from reading one as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(report: FatigueReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in [*report.rules, *report.services]:
        writer.writerow(
            _cell(v)
            for v in [
                item.kind,
                item.name,
                " ".join(item.services),
                item.fired,
                item.paged,
                item.acknowledged,
                "" if item.median_ack_seconds is None else f"{item.median_ack_seconds:g}",
                item.resolved_without_action,
                item.incident_linked,
                item.flapping,
                item.off_hours_pages,
                "; ".join(f"{s.kind}: {s.evidence}" for s in item.suggestions),
            ]
        )
    return buffer.getvalue()
