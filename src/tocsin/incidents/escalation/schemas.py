"""API shapes of an incident's escalation figures and its customer SLAs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tocsin.schemas import Output


class CrossingOut(Output):
    rule: str
    measure: str
    value: str
    threshold: str
    reason: str


class RuleOut(Output):
    id: str
    to: list[str]
    when: dict[str, Any]
    crossed: bool
    escalated_at: datetime | None
    next_crossing_at: datetime | None
    """when its duration threshold will be crossed, if the impact lasts"""


class RecipientOut(Output):
    email: str
    groups: list[str]
    mode: str


class EscalationOut(Output):
    rule: str
    kind: str
    """threshold, missing_commander or bridge"""
    at: datetime
    severity: str
    reasons: list[str]
    recipients: list[RecipientOut]
    unresolved: list[str]


class PostmortemOut(Output):
    required: bool
    reasons: list[str]
    flagged_at: datetime | None
    next_duration_crossing_at: datetime | None


class CommanderOut(Output):
    required: bool
    """the severity's policy wants a commander within `after_minutes`"""
    after_minutes: int
    deadline: datetime | None
    incident_commander: str | None
    missing: bool
    """required, past the deadline, still none assigned, incident active"""


class EscalationsOut(Output):
    ref: str
    severity: str
    active: bool
    crossed: list[CrossingOut]
    rules: list[RuleOut]
    escalations: list[EscalationOut]
    next_crossing_at: datetime | None
    """the next moment something will be escalated by the clock alone"""
    postmortem: PostmortemOut
    commander: CommanderOut


class SlaClockOut(Output):
    status: str
    """met, on_track, at_risk, breached, not_covered or unmeasured"""
    measured_from: str | None
    budget_minutes: int | None
    elapsed_seconds: float | None
    deadline: datetime | None
    time_left_seconds: float | None
    overrun_seconds: float | None


class AvailabilityOut(Output):
    period_start: datetime
    period_end: datetime
    target_percent: str
    budget_seconds: float
    incident_downtime_seconds: float
    availability_percent: str
    incident_consumed_percent: float
    remaining_seconds: float
    exhausted: bool


class CreditOut(Output):
    customer: str
    percent: str
    amount: str | None
    currency: str


class TierSlaOut(Output):
    tier: str
    business_unit: str | None
    status: str
    response: SlaClockOut
    resolution: SlaClockOut
    availability: AvailabilityOut | None
    credits: list[CreditOut]
    credit_totals: dict[str, str]
    customers_without_fee: list[str]


class BusinessUnitSlaOut(Output):
    business_unit: str | None
    tiers: list[str]
    response: str
    resolution: str
    status: str
    credit_totals: dict[str, str]


class SlasOut(Output):
    ref: str
    severity: str
    tiers: list[TierSlaOut]
    business_units: list[BusinessUnitSlaOut]
