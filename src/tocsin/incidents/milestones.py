"""The order milestones must keep, as pure rules.

Milestones are set by people, alert sources and timers, often after the fact and sometimes
wrongly; an incident whose mitigation precedes its impact would make every KPI a lie. The
rules form a partial order: some milestones have no order between them (a page may be
acknowledged before or after the cause is identified), and a rule still holds across a
milestone that is not set yet (mitigated may never precede impact start, detected or not).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Milestone(StrEnum):
    IMPACT_STARTED = "impact_started"
    DETECTED = "detected"
    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    IDENTIFIED = "identified"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    BUSINESS_RESOLVED = "business_resolved"
    CLOSED = "closed"


LABELS: dict[Milestone, str] = {
    Milestone.IMPACT_STARTED: "Impact started",
    Milestone.DETECTED: "Detected",
    Milestone.DECLARED: "Declared",
    Milestone.ACKNOWLEDGED: "Acknowledged",
    Milestone.IDENTIFIED: "Identified",
    Milestone.MITIGATED: "Mitigated",
    Milestone.RESOLVED: "Resolved (technical)",
    Milestone.BUSINESS_RESOLVED: "Resolved (business)",
    Milestone.CLOSED: "Closed",
}

M = Milestone
RULES: tuple[tuple[Milestone, Milestone], ...] = (
    (M.IMPACT_STARTED, M.DETECTED),
    (M.DETECTED, M.DECLARED),
    (M.DETECTED, M.ACKNOWLEDGED),
    (M.DETECTED, M.IDENTIFIED),
    (M.IMPACT_STARTED, M.MITIGATED),
    (M.MITIGATED, M.RESOLVED),
    (M.RESOLVED, M.BUSINESS_RESOLVED),
    (M.BUSINESS_RESOLVED, M.CLOSED),
    (M.DECLARED, M.CLOSED),
    (M.ACKNOWLEDGED, M.CLOSED),
    (M.IDENTIFIED, M.CLOSED),
)
"""(earlier, later): `later` may not be set to a time before `earlier`. Ties are fine."""


def _closure(
    rules: Iterable[tuple[Milestone, Milestone]],
) -> frozenset[tuple[Milestone, Milestone]]:
    pairs = set(rules)
    changed = True
    while changed:
        changed = False
        for a, b in list(pairs):
            for c, d in list(pairs):
                if b == c and (a, d) not in pairs:
                    pairs.add((a, d))
                    changed = True
    return frozenset(pairs)


ORDER: frozenset[tuple[Milestone, Milestone]] = _closure(RULES)
"""Every (earlier, later) pair the rules imply, directly or through other milestones."""

_POSITION = {m: i for i, m in enumerate(Milestone)}


def must_precede(earlier: Milestone, later: Milestone) -> bool:
    return (earlier, later) in ORDER


@dataclass(frozen=True)
class Conflict:
    earlier: Milestone
    """the milestone that must come first"""
    later: Milestone
    earlier_at: datetime
    later_at: datetime

    @property
    def message(self) -> str:
        return (
            f"{self.later.value} ({self.later_at.isoformat()}) is before "
            f"{self.earlier.value} ({self.earlier_at.isoformat()}); "
            f"{self.later.value} cannot precede {self.earlier.value}"
        )


def conflicts(times: Mapping[Milestone, datetime]) -> list[Conflict]:
    """Every broken pair, the closest ones (fewest milestones apart) first."""
    found = [
        Conflict(a, b, times[a], times[b])
        for a, b in ORDER
        if a in times and b in times and times[b] < times[a]
    ]
    return sorted(
        found,
        key=lambda c: (
            _POSITION[c.later] - _POSITION[c.earlier],
            _POSITION[c.earlier],
            _POSITION[c.later],
        ),
    )


def first_conflict(
    times: Mapping[Milestone, datetime], changed: Milestone | None = None
) -> Conflict | None:
    """The conflict to report; when one milestone was just set, one that involves it."""
    found = conflicts(times)
    if changed is not None:
        involving = [c for c in found if changed in (c.earlier, c.later)]
        found = involving or found
    return found[0] if found else None
