"""The pipeline's decisions on plain values: grouping keys, corroboration, flapping and
dependency-aware inhibition. The database layer gathers the facts; this module decides.

The order of the checks is what a responder expects from Alertmanager and PagerDuty: a
person's explicit choice (a silence, a maintenance window) wins over anything inferred; an
open incident or a failing upstream dependency explains the alert better than a new page;
a flapping alert pages once, not on every change; and an uncorroborated alert waits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

SYNTHETIC = "synthetic"


class Decision(StrEnum):
    PAGED = "paged"
    GROUPED = "grouped"
    """Joined a group that already paged (or is waiting to)."""
    SILENCED = "silenced"
    MAINTENANCE = "maintenance"
    INHIBITED = "inhibited"
    ATTACHED = "attached"
    """Attached to an open incident instead of paging."""
    AWAITING = "awaiting_corroboration"
    FLAPPING = "flapping"
    RESOLVED = "resolved"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True, slots=True)
class Rule:
    """How alerts of one service (or of a team's services) are grouped and corroborated."""

    group_by: tuple[str, ...] = ("alertname",)
    group_wait: timedelta = timedelta(0)
    min_alerts: int = 1
    min_sources: int = 1
    window: timedelta = timedelta(minutes=10)
    flap_changes: int = 6
    """State changes within `flap_window` that make an alert flapping (0: never)."""
    flap_window: timedelta = timedelta(minutes=30)

    @property
    def needs_corroboration(self) -> bool:
        return self.min_alerts > 1 or self.min_sources > 1


DEFAULT_RULE = Rule()

SLACK_RANKS = 9
"""The largest `slack_rank`: decisions stay ahead of background work, whatever their wait."""


def slack_rank(group_wait: timedelta) -> int:
    """How far an alert's decision may yield to others, 0 for none (earliest deadline first).

    An alert whose rule holds it for a group wait cannot page before the wait ends, so its
    decision can run after those of alerts that could page at once. The rank grows with the
    logarithm of the wait (1 s: 1, 30 s: 5, 5 min and more: 9): a few coarse steps keep the
    deadlines in order without one job priority per second of wait."""
    seconds = group_wait.total_seconds()
    if seconds <= 0:
        return 0
    return min(SLACK_RANKS, math.ceil(math.log2(seconds + 1)))


def group_key(service: str, labels: Mapping[str, Any], group_by: Sequence[str]) -> str:
    """Alerts with the same service and the same values of the grouping labels form one group.
    A missing label and an empty one are the same, as in Alertmanager."""
    parts = [f"service={service}"]
    parts += [f"{name}={labels.get(name) or ''}" for name in sorted(set(group_by))]
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class Sighting:
    """One firing alert of the service seen recently, for corroboration."""

    at: datetime
    source: str
    synthetic: bool = False


def is_synthetic(source: str, labels: Mapping[str, Any]) -> bool:
    return source == SYNTHETIC or str(labels.get("source", "")) == SYNTHETIC


def corroboration(rule: Rule, sightings: Iterable[Sighting], now: datetime) -> str | None:
    """Why the alerts are corroborated (a sentence), or None while they are not."""
    recent = [s for s in sightings if now - rule.window <= s.at <= now]
    if not rule.needs_corroboration:
        return "no corroboration required"
    if any(s.synthetic for s in recent):
        return "corroborated by a failing synthetic check"
    sources = {s.source for s in recent}
    if rule.min_alerts > 1 and len(recent) >= rule.min_alerts:
        return f"corroborated: {len(recent)} alerts within {_span(rule.window)}"
    if rule.min_sources > 1 and len(sources) >= rule.min_sources:
        return f"corroborated: {len(sources)} distinct sources within {_span(rule.window)}"
    return None


def is_flapping(rule: Rule, changes: Iterable[datetime], now: datetime) -> bool:
    """Flapping when the alert changed state at least `flap_changes` times in the window."""
    if rule.flap_changes <= 0:
        return False
    return sum(1 for at in changes if now - rule.flap_window <= at <= now) >= rule.flap_changes


@dataclass(frozen=True, slots=True)
class Cause:
    """Something upstream that explains an alert: an open incident or a critical alert."""

    service: str
    incident_id: int | None = None
    alert_id: int | None = None


def inhibiting_cause(
    service: str, upstream: Iterable[str], causes: Sequence[Cause]
) -> Cause | None:
    """The cause an alert on `service` is explained by, or None.

    An open incident on the service itself or on an upstream dependency comes first (the
    alert joins it); a critical alert firing on an upstream dependency inhibits it. The
    service's own critical alerts never inhibit it: they are the thing that should page.
    """
    reach = set(upstream) - {service}
    incidents = [c for c in causes if c.incident_id is not None]
    for cause in incidents:
        if cause.service == service:
            return cause
    for cause in incidents:
        if cause.service in reach:
            return cause
    for cause in causes:
        if cause.alert_id is not None and cause.service in reach:
            return cause
    return None


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes else f"{int(delta.total_seconds())} s"
