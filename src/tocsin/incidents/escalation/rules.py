"""Which escalation rules an incident has crossed and not yet escalated, when the next one will
be crossed by duration alone, and whether it is missing its Incident Commander.

An incident escalates once per rule: the caller passes the ids already escalated and gets back
only the others that are crossed now. Duration crossings are exact moments (clock start +
threshold), so a durable timer can be set for the very instant; impact measures only change
when someone updates them, so they are looked at on each update instead.

Pure: times come in as arguments ("now" included).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.incidents.thresholds import Crossing, Impact, crossings
from tocsin.policy.schemas import (
    EscalationGroup,
    EscalationMode,
    EscalationPolicy,
    MissingCommander,
    Thresholds,
)

THRESHOLDS_RULE = "thresholds"
"""the rule made of the policy's top-level thresholds (the form policies had first)"""
MISSING_COMMANDER_RULE = "missing-commander"
COMMANDER_BY_DEFAULT_UP_TO_RANK = 2
"""SEV1 and SEV2 on the default ladder"""

_BOTH = (EscalationGroup.TECHNICAL, EscalationGroup.EXECUTIVE)


@dataclass(frozen=True)
class Rule:
    id: str
    when: Thresholds
    to: tuple[EscalationGroup, ...]


@dataclass(frozen=True)
class Due:
    rule: Rule
    crossed: tuple[Crossing, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(c.reason for c in self.crossed)


@dataclass(frozen=True)
class Decision:
    escalate: tuple[Due, ...]
    """crossed now and not escalated before"""
    next_crossing_at: datetime | None
    """the earliest moment a not-yet-crossed rule is crossed by duration, if the impact lasts"""


def rules_of(policy: EscalationPolicy) -> tuple[Rule, ...]:
    """The top-level thresholds (when any is set) as rule `thresholds` to both groups, then the
    named rules in their order."""
    top = Thresholds.model_validate(
        {name: getattr(policy, name) for name in Thresholds.model_fields}
    )
    found: list[Rule] = []
    if any(value is not None for value in top.model_dump().values()):
        found.append(Rule(THRESHOLDS_RULE, top, _BOTH))
    found.extend(Rule(r.id, r.when, tuple(r.to)) for r in policy.rules)
    return tuple(found)


def duration_of(start: datetime | None, end: datetime | None, now: datetime) -> timedelta | None:
    if start is None:
        return None
    return max(timedelta(0), (end or now) - start)


def crossing_at(rule: Rule, start: datetime | None) -> datetime | None:
    """When the rule's duration threshold is (or was) reached; None without one."""
    if rule.when.duration_minutes is None or start is None:
        return None
    return start + timedelta(minutes=rule.when.duration_minutes)


def decide(
    rules: Iterable[Rule],
    impact: Impact,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    escalated: Iterable[str],
) -> Decision:
    """`start`/`end`: the impact window (end None while it lasts)."""
    done = set(escalated)
    duration = duration_of(start, end, now)
    due: list[Due] = []
    upcoming: list[datetime] = []
    for rule in rules:
        if rule.id in done:
            continue
        crossed = crossings(rule.when, impact, duration)
        if crossed:
            due.append(Due(rule, crossed))
            continue
        moment = crossing_at(rule, start)
        if moment is not None and end is None and moment > now:
            upcoming.append(moment)
    return Decision(tuple(due), min(upcoming, default=None))


# --- the Incident Commander ------------------------------------------------------------------


def commander_required(setting: MissingCommander, rank: int) -> bool:
    if setting.enabled is not None:
        return setting.enabled
    return rank <= COMMANDER_BY_DEFAULT_UP_TO_RANK


def commander_deadline(declared_at: datetime, setting: MissingCommander) -> datetime:
    return declared_at + timedelta(minutes=setting.after_minutes)


def commander_missing(
    required: bool, active: bool, has_commander: bool, deadline: datetime, now: datetime
) -> bool:
    return required and active and not has_commander and now >= deadline


# --- recipients ------------------------------------------------------------------------------


def merge_modes(
    wanted: Iterable[tuple[int, EscalationGroup, EscalationMode]],
) -> dict[int, tuple[EscalationMode, tuple[EscalationGroup, ...]]]:
    """One message per person: paged if any group pages them, else notified."""
    merged: dict[int, tuple[EscalationMode, tuple[EscalationGroup, ...]]] = {}
    for person, group, mode in wanted:
        if person in merged:
            old_mode, groups = merged[person]
            best = EscalationMode.PAGE if EscalationMode.PAGE in (old_mode, mode) else mode
            merged[person] = (best, groups if group in groups else (*groups, group))
        else:
            merged[person] = (mode, (group,))
    return merged
