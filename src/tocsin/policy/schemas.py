"""Policy shapes: severities and the per-severity policy, validated field by field.

Every duration is in whole minutes counted from impact start (the clock S1.1 asks each KPI to
state), every threshold is optional (absent = not a trigger), and every value that could be
mistyped in a configuration file has a bound so that the error names the field.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tocsin.schemas import Input, Output

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SeveritySlug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=50)]
GroupSlug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=100)]
ItemId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=100)]
Minutes = Annotated[int, Field(gt=0, le=525_600)]
Count = Annotated[int, Field(ge=1, le=1_000_000_000)]
Money = Annotated[float, Field(gt=0, le=1e15)]
"""an amount in the organisation's reporting currency"""
Percent = Annotated[float, Field(gt=0, le=100)]


# --- severities ------------------------------------------------------------------------------


class SeverityCreate(Input):
    slug: SeveritySlug
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    definition: Annotated[str, StringConstraints(max_length=5000)] = ""
    rank: Annotated[int, Field(ge=1)] | None = None
    """position on the ladder, 1 = most severe; left out, the severity goes last"""


class SeverityUpdate(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    definition: Annotated[str, StringConstraints(max_length=5000)] | None = None
    rank: Annotated[int, Field(ge=1)] | None = None


class SeverityOrder(Input):
    order: list[SeveritySlug] = Field(min_length=1)
    """every severity's slug, most severe first"""


class SeverityOut(Output):
    id: int
    slug: str
    name: str
    rank: int
    definition: str
    created_at: datetime
    updated_at: datetime


# --- the per-severity policy -----------------------------------------------------------------

_KPI_ORDER = (
    "time_to_detect_minutes",
    "time_to_acknowledge_minutes",
    "time_to_mitigate_minutes",
    "time_to_resolve_minutes",
    "time_to_business_resolve_minutes",
)


class KpiTargets(Input):
    """Targets measured from impact start; each must come no earlier than the one before."""

    time_to_detect_minutes: Minutes | None = None
    time_to_acknowledge_minutes: Minutes | None = None
    time_to_mitigate_minutes: Minutes | None = None
    time_to_resolve_minutes: Minutes | None = None
    """technical resolution"""
    time_to_business_resolve_minutes: Minutes | None = None
    """business resolution: customers made whole, backlog cleared"""

    @model_validator(mode="after")
    def _in_order(self) -> KpiTargets:
        previous: tuple[str, int] | None = None
        for name in _KPI_ORDER:
            value = getattr(self, name)
            if value is None:
                continue
            if previous is not None and value < previous[1]:
                raise PydanticCustomError(
                    "kpi_order",
                    "{field}: {value} min is earlier than {previous} ({before} min); a later "
                    "milestone cannot have a tighter target",
                    {"field": name, "value": value, "previous": previous[0], "before": previous[1]},
                )
            previous = (name, value)
        return self


class Thresholds(Input):
    """Any one of these crossed is enough; a threshold left out never triggers."""

    duration_minutes: Minutes | None = None
    customers_affected: Count | None = None
    revenue_per_hour: Money | None = None
    error_rate_percent: Percent | None = None


class PostmortemPolicy(Input):
    always: bool = False
    """every incident of this severity gets a post-mortem"""
    when: Thresholds = Field(default_factory=Thresholds)
    """otherwise, a post-mortem is mandatory once any of these is crossed"""
    due_within_hours: Annotated[int, Field(ge=1, le=24 * 90)] = 72
    """hours after resolution by which the review must be held"""


class CommFormat(StrEnum):
    EXECUTIVE_SUMMARY = "executive-summary"
    BUSINESS_UPDATE = "business-update"
    TECHNICAL_UPDATE = "technical-update"
    CUSTOMER_NOTICE = "customer-notice"


class CommChannel(StrEnum):
    EMAIL = "email"
    CHAT = "chat"
    STATUS_PAGE = "status-page"
    SMS = "sms"
    PHONE = "phone"
    MEETING = "meeting"


class CommExpectation(Input):
    group: GroupSlug
    """the stakeholder group, e.g. executives, support, customers"""
    cadence_minutes: Minutes
    """an update at least this often while the incident is open"""
    format: CommFormat
    channel: CommChannel


class FinancialThresholds(Input):
    revenue_per_hour: Money | None = None
    total_revenue_impact: Money | None = None


class ReputationalThresholds(Input):
    customers_affected: Count | None = None
    public_incident: bool = False
    """notify as soon as the incident is visible on the public status page"""
    media_inquiry: bool = False
    """notify when the press asks about it"""
    key_customers: list[GroupSlug] = Field(default_factory=list, max_length=200)
    """customer slugs whose being affected alone is reason to tell executives"""


class RegulatoryThresholds(Input):
    data_exposure: bool = False
    """personal or payment data may have been exposed"""
    service_tags: list[Annotated[str, StringConstraints(to_lower=True, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    """an incident touching a service with one of these catalog tags (e.g. pci, gdpr)"""
    incident_types: list[Annotated[str, StringConstraints(to_lower=True, max_length=20)]] = Field(
        default_factory=list, max_length=10
    )
    """incident types that are regulatory by nature, e.g. security or data"""
    regulated_customers: list[GroupSlug] = Field(default_factory=list, max_length=200)
    """customer slugs under a notification duty (e.g. a bank, a hospital)"""


class ExecutiveNotification(Input):
    financial: FinancialThresholds = Field(default_factory=FinancialThresholds)
    reputational: ReputationalThresholds = Field(default_factory=ReputationalThresholds)
    regulatory: RegulatoryThresholds = Field(default_factory=RegulatoryThresholds)
    notify_within_minutes: Minutes | None = None
    """how soon after a threshold is crossed executives must hear of it"""


class ChecklistItem(Input):
    id: ItemId
    """stable across edits, so ticked items stay ticked"""
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


def _distinct(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PydanticCustomError(
                "duplicate", "{what} {value} appears twice", {"what": what, "value": value}
            )
        seen.add(value)


class EscalationMode(StrEnum):
    NOTIFY = "notify"
    """low urgency: an informational message, nobody is woken up"""
    PAGE = "page"
    """high urgency: the person's paging rules apply"""


class EscalationGroup(StrEnum):
    TECHNICAL = "technical"
    EXECUTIVE = "executive"


class EscalationTargets(Input):
    """Who hears of an escalation: users by e-mail, and teams (each member of the team)."""

    users: list[Annotated[str, StringConstraints(min_length=3, max_length=320)]] = Field(
        default_factory=list, max_length=100
    )
    teams: list[GroupSlug] = Field(default_factory=list, max_length=50)
    mode: EscalationMode = EscalationMode.NOTIFY

    @field_validator("users")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        value = [v.strip().lower() for v in value]
        for email in value:
            if "@" not in email:
                raise PydanticCustomError(
                    "email", "{value} is not an e-mail address", {"value": email}
                )
        _distinct(value, "user")
        return value

    @field_validator("teams")
    @classmethod
    def _distinct_teams(cls, value: list[str]) -> list[str]:
        _distinct(value, "team")
        return value


class EscalationRule(Input):
    """Escalate to `to` once any of the `when` thresholds is crossed (once per incident)."""

    id: ItemId
    when: Thresholds
    to: list[EscalationGroup] = Field(
        default_factory=lambda: [EscalationGroup.TECHNICAL], min_length=1, max_length=2
    )

    @field_validator("to")
    @classmethod
    def _distinct_groups(cls, value: list[EscalationGroup]) -> list[EscalationGroup]:
        _distinct([g.value for g in value], "target group")
        return value


class MissingCommander(Input):
    """Flag and escalate an incident still without an Incident Commander after a while."""

    enabled: bool | None = None
    """None: on for the two most severe ranks of the ladder (SEV1 and SEV2 by default)"""
    after_minutes: Minutes = 5


class EscalationPolicy(Thresholds):
    """The thresholds at the top level are the historical form of one rule (id `thresholds`,
    to both groups); `rules` adds any number of named ones."""

    technical: EscalationTargets = Field(
        default_factory=lambda: EscalationTargets(mode=EscalationMode.PAGE)
    )
    executive: EscalationTargets = Field(default_factory=EscalationTargets)
    rules: list[EscalationRule] = Field(default_factory=list, max_length=50)
    missing_commander: MissingCommander = Field(default_factory=MissingCommander)

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave out the paths left at their defaults, so a policy that has none reads (and
        exports) exactly as it did before paths existed."""
        data: dict[str, Any] = handler(self)
        for name in _PATH_FIELDS:
            if getattr(self, name) == EscalationPolicy.model_fields[name].get_default(
                call_default_factory=True
            ):
                data.pop(name, None)
        return data

    @field_validator("rules")
    @classmethod
    def _distinct_rules(cls, value: list[EscalationRule]) -> list[EscalationRule]:
        ids = [r.id for r in value]
        if "thresholds" in ids or "missing-commander" in ids:
            raise PydanticCustomError(
                "reserved", "rule ids thresholds and missing-commander are reserved", {}
            )
        _distinct(ids, "rule id")
        return value


def _escalation_of(value: object) -> object:
    """Plain thresholds (the earlier form of the section) are an escalation policy without
    targets or named rules."""
    if isinstance(value, Thresholds) and not isinstance(value, EscalationPolicy):
        return value.model_dump()
    return value


_PATH_FIELDS = ("technical", "executive", "rules", "missing_commander")


class SeverityPolicyIn(Input):
    """The whole policy for one severity; sections left out are empty (no targets, no
    triggers, no duties)."""

    kpi_targets: KpiTargets = Field(default_factory=KpiTargets)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    """crossing any of these escalates the incident"""
    postmortem: PostmortemPolicy = Field(default_factory=PostmortemPolicy)
    communications: list[CommExpectation] = Field(default_factory=list, max_length=50)
    executive_notification: ExecutiveNotification = Field(default_factory=ExecutiveNotification)
    technical_resolution: list[ChecklistItem] = Field(default_factory=list, max_length=100)
    """what must be true before the incident is technically resolved"""
    business_resolution: list[ChecklistItem] = Field(default_factory=list, max_length=100)
    """what must be true before it is resolved for the business"""

    @field_validator("escalation", mode="before")
    @classmethod
    def _escalation(cls, value: object) -> object:
        return _escalation_of(value)

    @field_validator("communications")
    @classmethod
    def _one_per_group(cls, value: list[CommExpectation]) -> list[CommExpectation]:
        _distinct([c.group for c in value], "stakeholder group")
        return value

    @field_validator("technical_resolution", "business_resolution")
    @classmethod
    def _distinct_ids(cls, value: list[ChecklistItem]) -> list[ChecklistItem]:
        _distinct([i.id for i in value], "checklist item id")
        return value


class SeverityPolicyPatch(Input):
    """Replace only the sections sent."""

    kpi_targets: KpiTargets | None = None
    escalation: EscalationPolicy | None = None
    postmortem: PostmortemPolicy | None = None
    communications: list[CommExpectation] | None = Field(default=None, max_length=50)
    executive_notification: ExecutiveNotification | None = None
    technical_resolution: list[ChecklistItem] | None = Field(default=None, max_length=100)
    business_resolution: list[ChecklistItem] | None = Field(default=None, max_length=100)

    @field_validator("escalation", mode="before")
    @classmethod
    def _escalation(cls, value: object) -> object:
        return _escalation_of(value)

    @field_validator("communications")
    @classmethod
    def _one_per_group(cls, value: list[CommExpectation] | None) -> list[CommExpectation] | None:
        if value is not None:
            _distinct([c.group for c in value], "stakeholder group")
        return value

    @field_validator("technical_resolution", "business_resolution")
    @classmethod
    def _distinct_ids(cls, value: list[ChecklistItem] | None) -> list[ChecklistItem] | None:
        if value is not None:
            _distinct([i.id for i in value], "checklist item id")
        return value


class SeverityPolicyOut(SeverityPolicyIn):
    """A stored policy, with the severity it belongs to."""

    model_config = ConfigDict(extra="ignore")

    severity: str
    severity_name: str
    rank: int
    updated_at: datetime | None = None


SECTIONS = tuple(SeverityPolicyIn.model_fields)
