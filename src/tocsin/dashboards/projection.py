"""What a dashboard card says about one incident, decided from plain values.

Pure: the service gathers rows and "now", these functions decide what is missing, what is
overdue, what a stakeholder may read and in which order the cards stand. Keeping the
stakeholder projection here, as a whitelist, is what makes "no technical detail" checkable.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

COMMANDER = "incident-commander"
COMMUNICATIONS = "communications-lead"
TECHNICAL = "technical-lead"

TOP_RANKS = 2
"""Severities ranked this high (1 = worst) also expect a communications and a technical lead."""

DUE_SOON = timedelta(minutes=5)
"""An update due within this is flagged before it is late, so the commander can still act."""


def missing_roles(held: Collection[str], severity_rank: int | None) -> list[str]:
    """The roles an active incident should have and lacks, most important first.

    Every active incident needs an Incident Commander; the worst severities also need someone
    speaking to customers and someone leading the technical work, as PagerDuty's and
    incident.io's response guides recommend for major incidents.
    """
    wanted = [COMMANDER]
    if severity_rank is not None and severity_rank <= TOP_RANKS:
        wanted += [COMMUNICATIONS, TECHNICAL]
    return [role for role in wanted if role not in held]


class UpdateState(StrEnum):
    NONE = "none"
    """the severity sets no update cadence"""
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


def update_state(now: datetime, due: datetime | None) -> UpdateState:
    if due is None:
        return UpdateState.NONE
    if now >= due:
        return UpdateState.OVERDUE
    if due - now <= DUE_SOON:
        return UpdateState.DUE_SOON
    return UpdateState.ON_TRACK


def age_seconds(now: datetime, opened_at: datetime) -> int:
    return max(0, int((now - opened_at).total_seconds()))


PLAIN_STATUS: Mapping[str, str] = {
    "declared": "We are aware of a problem and have started to respond.",
    "investigating": "Our team is investigating the cause.",
    "identified": "The cause is known and a fix is being worked on.",
    "monitoring": "A fix is in place and we are watching that it holds.",
    "resolved": "The problem is resolved.",
    "business_resolved": "The problem is resolved and follow-up with customers is complete.",
    "closed": "The problem is resolved and the incident is closed.",
}


def plain_status(status: str) -> str:
    """The status in words a customer-facing colleague can repeat as they are."""
    return PLAIN_STATUS.get(status, "Our team is working on it.")


SEVERE_CLOCKS = ("breached", "at_risk")


def worst_clock(statuses: Iterable[str]) -> str | None:
    """The one clock state to colour a card by: breached, at risk, or nothing to worry about."""
    present = set(statuses)
    return next((s for s in SEVERE_CLOCKS if s in present), None)


@dataclass(frozen=True)
class Urgency:
    """Sort key: what needs the commander first comes first."""

    severity_rank: int
    overdue: bool
    missing_commander: bool
    opened_at: datetime

    def key(self) -> tuple[int, int, int, datetime]:
        return (
            self.severity_rank,
            0 if self.overdue else 1,
            0 if self.missing_commander else 1,
            self.opened_at,
        )


UNRANKED = 10_000
"""Rank of a severity the policy no longer knows: after every known one."""


STAKEHOLDER_FIELDS = (
    "ref",
    "title",
    "severity",
    "severity_name",
    "status",
    "plain_status",
    "opened_at",
    "customers",
    "customer_tiers",
    "business_units",
    "customers_affected",
    "regulatory",
    "next_update_due",
)
"""Everything the stakeholder screen may show. Services, summaries, timeline notes, alert
text, people and tasks are absent on purpose: the screen may hang where anyone can read it."""


def stakeholder_card(values: Mapping[str, object]) -> dict[str, object]:
    """Keep only the whitelisted business fields of an incident's values."""
    return {name: values.get(name) for name in STAKEHOLDER_FIELDS}


def shown_on_stakeholder_screen(visibility: str, active: bool) -> bool:
    """Private incidents never appear there, whoever is looking: the screen is shared."""
    return active and visibility != "private"
