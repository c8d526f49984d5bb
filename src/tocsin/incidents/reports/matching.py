"""Which incident a customer report belongs to, and where unmatched reports cluster.

Customers describe symptoms on the service they use, which is often not the one that broke:
a report on `checkout` belongs to an incident on `payments` when checkout depends on payments.
So an incident's *reach* is its affected services plus everything that depends on them
(the caller computes it from the catalog graph), and a report matches when its service is in
that reach and its time falls inside the incident's window widened by a tolerance on both
sides (customers notice late, support desks stamp tickets late, clocks disagree).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_TOLERANCE = timedelta(minutes=30)
DEFAULT_CLUSTER_SIZE = 3
DEFAULT_CLUSTER_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class Window:
    """An incident as matching sees it: when it started, when (if) it ended, what it reaches."""

    incident_id: int
    start: datetime
    end: datetime | None
    """technical resolution; None while the incident is still open"""
    services: frozenset[str]


@dataclass(frozen=True)
class Report:
    id: int
    service: str
    at: datetime


def covers(window: Window, report: Report, tolerance: timedelta) -> bool:
    if report.service not in window.services:
        return False
    if report.at < window.start - tolerance:
        return False
    return window.end is None or report.at <= window.end + tolerance


def match(report: Report, windows: Iterable[Window], tolerance: timedelta) -> int | None:
    """The incident the report belongs to, or None.

    When several cover it, the one that started last wins: it is the most specific
    explanation of what the customer saw at that moment (ties go to the newer incident).
    """
    found = [w for w in windows if covers(w, report, tolerance)]
    if not found:
        return None
    return max(found, key=lambda w: (w.start, w.incident_id)).incident_id


@dataclass(frozen=True)
class Cluster:
    service: str
    report_ids: tuple[int, ...]
    first_at: datetime
    last_at: datetime


def clusters(reports: Sequence[Report], size: int, window: timedelta) -> list[Cluster]:
    """Groups of at least `size` reports on one service, each within `window` of the first.

    Reports are walked in time order per service; a cluster grows while reports keep arriving
    within `window` of its first report, so one burst is one cluster and a report is in at
    most one cluster. Busiest clusters first.
    """
    by_service: dict[str, list[Report]] = {}
    for report in reports:
        by_service.setdefault(report.service, []).append(report)
    found: list[Cluster] = []
    for service, items in by_service.items():
        items.sort(key=lambda r: (r.at, r.id))
        groups: list[list[Report]] = []
        for report in items:
            if groups and report.at - groups[-1][0].at <= window:
                groups[-1].append(report)
            else:
                groups.append([report])
        found.extend(
            Cluster(service, tuple(r.id for r in g), g[0].at, g[-1].at)
            for g in groups
            if len(g) >= size
        )
    found.sort(key=lambda c: (-len(c.report_ids), c.first_at, c.service))
    return found
