"""The status page's pure rules: value sets, the page indicator, uptime from state changes,
and the premature-resolution guard. No database, HTTP or clock here.

The value sets and the indicator follow Atlassian Statuspage's public API v2, so widgets and
clients written for it read Tocsin's page unmodified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


UNRESOLVED = frozenset(
    {IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING}
)
ACTIVE_MAINTENANCE = frozenset({MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING})

LABELS: dict[str, str] = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}

_RANK = ["none", "minor", "major", "critical"]
_COMPONENT_INDICATOR = {
    ComponentStatus.DEGRADED_PERFORMANCE: "minor",
    ComponentStatus.PARTIAL_OUTAGE: "major",
    ComponentStatus.MAJOR_OUTAGE: "critical",
}
DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}


def indicator(
    component_states: Iterable[str], open_impacts: Iterable[str], maintenance_active: bool
) -> tuple[str, str]:
    """The page's (indicator, description): the worst of the components' states and the open
    incidents' impacts; `maintenance` only when nothing is worse than none."""
    states = list(component_states)
    worst = 0
    for state in states:
        worst = max(worst, _RANK.index(_COMPONENT_INDICATOR.get(ComponentStatus(state), "none")))
    for impact in open_impacts:
        worst = max(worst, _RANK.index(impact))
    level = _RANK[worst]
    if level == "none" and (maintenance_active or ComponentStatus.UNDER_MAINTENANCE in states):
        level = "maintenance"
    return level, DESCRIPTIONS[level]


# --- uptime -----------------------------------------------------------------------------

DOWNTIME_WEIGHT: dict[str, float] = {
    ComponentStatus.MAJOR_OUTAGE: 1.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
}
"""How much of a second in a state counts as down; degraded and maintenance count as up."""
_SEVERITY = [
    s.value
    for s in (
        ComponentStatus.OPERATIONAL,
        ComponentStatus.UNDER_MAINTENANCE,
        ComponentStatus.DEGRADED_PERFORMANCE,
        ComponentStatus.PARTIAL_OUTAGE,
        ComponentStatus.MAJOR_OUTAGE,
    )
]


def severity_rank(state: str) -> int:
    """Order of component states from best to worst, for "the worst of a group"."""
    return _SEVERITY.index(state)


@dataclass(frozen=True)
class Day:
    day: date
    uptime: float | None
    """percent of the day up, or None before the component existed"""
    worst: str
    """the worst state the component was in that day"""


def daily_uptime(
    changes: Sequence[tuple[datetime, str]], now: datetime, days: int = 90
) -> list[Day]:
    """One `Day` per calendar day (UTC), oldest first, ending today; `changes` are the states
    entered, in order; the first one is when the component came to exist."""
    today = now.astimezone(UTC).date()
    result = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        start = datetime.combine(day, time.min, tzinfo=UTC)
        end = min(start + timedelta(days=1), now)
        down = observed = 0.0
        worst = -1
        for i, (at, state) in enumerate(changes):
            until = changes[i + 1][0] if i + 1 < len(changes) else now
            lo, hi = max(at, start), min(until, end)
            if hi > lo or (start <= at < start + timedelta(days=1) and at <= now):
                worst = max(worst, _SEVERITY.index(state))
            if hi <= lo:
                continue
            seconds = (hi - lo).total_seconds()
            observed += seconds
            down += seconds * DOWNTIME_WEIGHT.get(state, 0.0)
        if observed <= 0:
            entered = worst >= 0
            result.append(
                Day(day, 100.0 if entered else None, _SEVERITY[worst] if entered else "operational")
            )
            continue
        result.append(Day(day, round(100.0 * (1 - down / observed), 3), _SEVERITY[max(worst, 0)]))
    return result


def overall_uptime(days: Sequence[Day]) -> float | None:
    known = [d.uptime for d in days if d.uptime is not None]
    return round(sum(known) / len(known), 2) if known else None


# --- the premature-resolution guard -----------------------------------------------------


@dataclass(frozen=True)
class Failure:
    condition: str
    message: str


@dataclass(frozen=True)
class CheckState:
    name: str
    service: str
    green_since: datetime | None


def guard(
    *,
    incident_ref: str,
    incident_status: str,
    firing: Sequence[tuple[str, str]],
    checks: Sequence[CheckState],
    now: datetime,
    monitoring: timedelta,
) -> list[Failure]:
    """Every reason a status-page incident linked to `incident_ref` may not be resolved yet.

    `firing` is (service, alert summary) of alerts still firing on the affected services;
    `checks` are the synthetic checks of those services."""
    failures = []
    if incident_status not in ("resolved", "business_resolved", "closed"):
        failures.append(
            Failure(
                "incident_resolved",
                f"{incident_ref} is {incident_status}, not technically resolved",
            )
        )
    if firing:
        services = sorted({service for service, _ in firing})
        failures.append(
            Failure(
                "no_alerts_firing",
                f"{len(firing)} alert(s) still firing for {', '.join(services)}",
            )
        )
    minutes = int(monitoring.total_seconds() // 60)
    for check in checks:
        if check.green_since is None:
            failures.append(
                Failure("checks_green", f"check {check.name} ({check.service}) is not green")
            )
        elif now - check.green_since < monitoring:
            failures.append(
                Failure(
                    "checks_green",
                    f"check {check.name} ({check.service}) has been green only since "
                    f"{check.green_since.isoformat()}, less than {minutes} minutes",
                )
            )
    return failures
