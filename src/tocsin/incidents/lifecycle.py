"""The incident status state machine, as pure rules.

Statuses move forward while the response progresses; an active incident may fall back to
investigating when a fix does not hold. Technical resolution, business resolution and closure
come strictly one after another, so no incident is closed without both resolutions. Re-opening
from a resolved or closed incident is always possible, but needs a reason, because it changes
what the figures of that incident say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tocsin.incidents.milestones import Milestone


class Status(StrEnum):
    DECLARED = "declared"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    BUSINESS_RESOLVED = "business_resolved"
    CLOSED = "closed"


ACTIVE = (Status.DECLARED, Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
"""Someone is still working on it."""
REOPENABLE = (Status.RESOLVED, Status.BUSINESS_RESOLVED, Status.CLOSED)

MILESTONE_OF: dict[Status, Milestone] = {
    Status.DECLARED: Milestone.DECLARED,
    Status.INVESTIGATING: Milestone.ACKNOWLEDGED,
    Status.IDENTIFIED: Milestone.IDENTIFIED,
    Status.MONITORING: Milestone.MITIGATED,
    Status.RESOLVED: Milestone.RESOLVED,
    Status.BUSINESS_RESOLVED: Milestone.BUSINESS_RESOLVED,
    Status.CLOSED: Milestone.CLOSED,
}
"""The milestone a transition into a status sets, unless it is already set."""


class Refusal(Exception):
    """A transition the rules do not allow; `field` names what the caller should fix."""

    def __init__(self, message: str, field: str = "status") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Transition:
    source: Status
    target: Status
    reopen: bool
    milestone: Milestone


def allowed_targets(current: Status) -> frozenset[Status]:
    """Where an incident in `current` may go, checklists aside."""
    if current in ACTIVE:
        later = {s for s in ACTIVE if s != Status.DECLARED and s != current}
        return frozenset(later | {Status.RESOLVED})
    if current == Status.RESOLVED:
        return frozenset({Status.BUSINESS_RESOLVED, Status.INVESTIGATING})
    if current == Status.BUSINESS_RESOLVED:
        return frozenset({Status.CLOSED, Status.INVESTIGATING})
    return frozenset({Status.INVESTIGATING})


def decide(
    current: Status,
    target: Status,
    *,
    reason: str = "",
    technical_open: Sequence[str] = (),
    business_open: Sequence[str] = (),
) -> Transition:
    """Check one transition. `technical_open` / `business_open` are the checklist items
    neither done nor waived; resolving with any of them left is refused, naming them."""
    if target == current:
        raise Refusal(f"the incident is already {current.value}")
    if target not in allowed_targets(current):
        raise Refusal(
            f"an incident cannot go from {current.value} to {target.value}; allowed: "
            + ", ".join(sorted(s.value for s in allowed_targets(current)))
        )
    reopen = current in REOPENABLE and target == Status.INVESTIGATING
    if reopen and not reason.strip():
        raise Refusal("re-opening an incident needs a reason", field="reason")
    if target == Status.RESOLVED and technical_open:
        raise Refusal(
            "the technical resolution checklist is not complete; do or waive (with a reason): "
            + ", ".join(technical_open),
            field="checklists.technical",
        )
    if target == Status.BUSINESS_RESOLVED and business_open:
        raise Refusal(
            "the business resolution checklist is not complete; do or waive (with a reason): "
            + ", ".join(business_open),
            field="checklists.business",
        )
    return Transition(current, target, reopen, MILESTONE_OF[target])


def is_active(status: Status) -> bool:
    return status in ACTIVE
