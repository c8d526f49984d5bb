"""Catalog shapes: what the API, the web pages and configuration-as-code files exchange.

Objects refer to each other by slug, never by database id, so a file written by `tocsin export`
on one installation applies unchanged on another. Create shapes carry every field; update
shapes carry only what changes (a field left out stays as it is, a nullable field sent as null
is cleared).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AnyHttpUrl, BeforeValidator, Field, StringConstraints, field_validator
from pydantic import model_validator as _model_validator
from pydantic_core import PydanticCustomError

from tocsin.catalog.graph import DependencyKind
from tocsin.catalog.sla import CreditBand, CreditRule, rule_problems
from tocsin.schemas import Input, Output

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=100)]
"""lower-case letters, digits and single hyphens, e.g. `payments-api`"""
SeveritySlug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=50)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=20_000)]


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Tag = Annotated[
    str,
    BeforeValidator(_lower),
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9:._/-]*$", min_length=1, max_length=64),
]
"""lower-cased on the way in, so PCI and pci are one tag"""
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()./-]{3,40}$", max_length=50)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
"""an address as the organisation writes it: internal domains (.corp, .local) are fine"""
Minutes = Annotated[int, Field(gt=0, le=525_600)]
"""a duration in whole minutes, at most a year"""
Percent = Annotated[float, Field(ge=0, le=100)]
Currency = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217 code"""


class Tier(StrEnum):
    """How much the business depends on a service; tier-1 is the most critical."""

    TIER_1 = "tier-1"
    """critical: customer-facing, revenue or safety stops without it"""
    TIER_2 = "tier-2"
    """high: customer-facing, degraded experience or delayed revenue"""
    TIER_3 = "tier-3"
    """medium: internal, with a workaround"""
    TIER_4 = "tier-4"
    """low: can wait for business hours"""


TIER_LABELS = {
    Tier.TIER_1: "critical",
    Tier.TIER_2: "high",
    Tier.TIER_3: "medium",
    Tier.TIER_4: "low",
}


def _unique(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PydanticCustomError(
                "duplicate", "{what} {value} is listed twice", {"what": what, "value": value}
            )
        seen.add(value)
    return values


# --- teams -----------------------------------------------------------------------------------


class MembershipRole(StrEnum):
    MEMBER = "member"
    LEAD = "lead"


class MemberIn(Input):
    email: Email
    role: MembershipRole = MembershipRole.MEMBER


def _distinct_members(members: list[MemberIn] | None) -> list[MemberIn] | None:
    if members is not None:
        _unique([m.email.lower() for m in members], "member")
    return members


class TeamCreate(Input):
    slug: Slug
    name: Name
    description: Text = ""
    email: Email | None = None
    chat_channel: Annotated[str, StringConstraints(max_length=200)] | None = None
    members: list[MemberIn] | None = None
    """when given, the team's members become exactly these"""

    @field_validator("members")
    @classmethod
    def _members(cls, members: list[MemberIn] | None) -> list[MemberIn] | None:
        return _distinct_members(members)


class TeamUpdate(Input):
    name: Name | None = None
    description: Text | None = None
    email: Email | None = None
    chat_channel: Annotated[str, StringConstraints(max_length=200)] | None = None
    members: list[MemberIn] | None = None

    @field_validator("members")
    @classmethod
    def _members(cls, members: list[MemberIn] | None) -> list[MemberIn] | None:
        return _distinct_members(members)


class MembersPut(Input):
    members: list[MemberIn]

    @field_validator("members")
    @classmethod
    def _members(cls, members: list[MemberIn]) -> list[MemberIn]:
        _distinct_members(members)
        return members


class MemberOut(Output):
    user_id: int
    email: str
    name: str
    role: str


class TeamOut(Output):
    id: int
    slug: str
    name: str
    description: str
    email: str | None
    chat_channel: str | None
    members: list[MemberOut] = []
    services: list[str] = []
    """slugs of the services the team owns"""
    created_at: datetime
    updated_at: datetime


# --- services --------------------------------------------------------------------------------


class RunbookLink(Input):
    title: Name
    url: AnyHttpUrl

    def as_json(self) -> dict[str, str]:
        return {"title": self.title, "url": str(self.url)}


class DependencyIn(Input):
    service: Slug
    """the service depended on"""
    kind: DependencyKind = DependencyKind.HARD
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


def _distinct_dependencies(deps: list[DependencyIn] | None) -> list[DependencyIn] | None:
    if deps is not None:
        _unique([d.service for d in deps], "dependency")
    return deps


class ServiceCreate(Input):
    slug: Slug
    name: Name
    description: Text = ""
    owner_team: Slug | None = None
    tier: Tier = Tier.TIER_3
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    runbooks: list[RunbookLink] = Field(default_factory=list, max_length=50)
    dependencies: list[DependencyIn] | None = None
    """when given, the service's dependencies become exactly these"""

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))

    @field_validator("dependencies")
    @classmethod
    def _deps(cls, deps: list[DependencyIn] | None) -> list[DependencyIn] | None:
        return _distinct_dependencies(deps)


class ServiceUpdate(Input):
    name: Name | None = None
    description: Text | None = None
    owner_team: Slug | None = None
    tier: Tier | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    runbooks: list[RunbookLink] | None = Field(default=None, max_length=50)
    dependencies: list[DependencyIn] | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else list(dict.fromkeys(tags))

    @field_validator("dependencies")
    @classmethod
    def _deps(cls, deps: list[DependencyIn] | None) -> list[DependencyIn] | None:
        return _distinct_dependencies(deps)


class DependenciesPut(Input):
    dependencies: list[DependencyIn]

    @field_validator("dependencies")
    @classmethod
    def _deps(cls, deps: list[DependencyIn]) -> list[DependencyIn]:
        _unique([d.service for d in deps], "dependency")
        return deps


class DependencyOut(Output):
    service: str
    """the other end of the edge"""
    name: str
    kind: DependencyKind
    note: str = ""


class RunbookOut(Output):
    title: str
    url: str


class ServiceOut(Output):
    id: int
    slug: str
    name: str
    description: str
    owner_team: str | None
    tier: Tier
    tags: list[str]
    runbooks: list[RunbookOut]
    dependencies: list[DependencyOut] = []
    """services this one depends on"""
    dependents: list[DependencyOut] = []
    """services that depend on this one"""
    created_at: datetime
    updated_at: datetime
    warnings: list[str] = []
    """on writes: e.g. a dependency cycle the change closed (accepted, but worth a look)"""


class DependenciesOut(Output):
    service: str
    dependencies: list[DependencyOut]
    dependents: list[DependencyOut]
    warnings: list[str] = []
    """e.g. a cycle the last change closed: accepted, but worth a look"""


class GraphNode(Output):
    slug: str
    name: str
    tier: Tier
    owner_team: str | None
    distance: int
    """hops from the service asked about"""
    impact: DependencyKind
    """hard when some path of hard dependencies connects the two"""


class GraphEdge(Output):
    source: str
    """the dependent"""
    target: str
    """what it depends on"""
    kind: DependencyKind


class ServiceGraphOut(Output):
    service: str
    upstream: list[GraphNode]
    """everything the service depends on, directly or not"""
    downstream: list[GraphNode]
    """everything that depends on it: what its failure can affect"""
    edges: list[GraphEdge]
    """the edges among the service and the nodes above"""
    cycles: list[list[str]]
    """dependency cycles the service is part of"""


class CatalogGraphOut(Output):
    nodes: list[str]
    edges: list[GraphEdge]
    cycles: list[list[str]]


class AffectedCustomer(Output):
    slug: str
    name: str
    tier: str | None
    business_unit: str | None
    via: list[str]
    """the affected services this customer uses"""


class BlastRadiusOut(Output):
    service: str
    hard: list[str]
    """services that fail with it"""
    soft: list[str]
    """services that degrade"""
    customers: list[AffectedCustomer]
    business_units: list[str]
    vendors: list[str]
    """vendors backing the service itself: who to call"""


# --- business units, customer tiers, customers ----------------------------------------------


class BusinessUnitCreate(Input):
    slug: Slug
    name: Name
    description: Text = ""
    contact_email: Email | None = None


class BusinessUnitUpdate(Input):
    name: Name | None = None
    description: Text | None = None
    contact_email: Email | None = None


class BusinessUnitOut(Output):
    id: int
    slug: str
    name: str
    description: str
    contact_email: str | None
    created_at: datetime
    updated_at: datetime


class CreditBandIn(Input):
    below_percent: Annotated[float, Field(gt=0, le=100)]
    """applies when measured availability is strictly below this"""
    credit_percent: Percent
    """share of the monthly fee credited"""


class CreditRuleIn(Input):
    bands: list[CreditBandIn] = Field(default_factory=list, max_length=20)
    """ordered from the highest availability down"""
    cap_percent: Percent = 100.0

    @_model_validator(mode="after")
    def _sound(self) -> CreditRuleIn:
        problems = rule_problems(self.to_rule())
        if problems:
            field, message = problems[0]
            raise PydanticCustomError(
                "credit_rule", "{field}: {message}", {"field": field, "message": message}
            )
        return self

    def to_rule(self) -> CreditRule:
        return CreditRule(
            tuple(
                CreditBand(Decimal(str(b.below_percent)), Decimal(str(b.credit_percent)))
                for b in self.bands
            ),
            Decimal(str(self.cap_percent)),
        )


class Sla(Input):
    """The service level a customer tier is promised, per calendar month."""

    availability_target_percent: Annotated[float, Field(gt=0, le=100)]
    response_minutes: dict[SeveritySlug, Minutes] = Field(default_factory=dict)
    """time to first response, per severity slug"""
    resolution_minutes: dict[SeveritySlug, Minutes] = Field(default_factory=dict)
    """time to resolution, per severity slug"""
    credit_rule: CreditRuleIn = Field(default_factory=CreditRuleIn)

    @_model_validator(mode="after")
    def _resolution_after_response(self) -> Sla:
        for severity, resolve in self.resolution_minutes.items():
            respond = self.response_minutes.get(severity)
            if respond is not None and resolve < respond:
                raise PydanticCustomError(
                    "sla",
                    "resolution_minutes.{severity}: resolution ({resolve} min) cannot come "
                    "before the first response ({respond} min)",
                    {"severity": severity, "resolve": resolve, "respond": respond},
                )
        if self.credit_rule.bands and (
            self.credit_rule.bands[0].below_percent > self.availability_target_percent
        ):
            raise PydanticCustomError(
                "sla",
                "credit_rule.bands.0.below_percent: a credit cannot start above the "
                "availability target ({target})",
                {"target": self.availability_target_percent},
            )
        return self

    def severities(self) -> set[str]:
        return set(self.response_minutes) | set(self.resolution_minutes)


class CustomerTierCreate(Input):
    slug: Slug
    name: Name
    description: Text = ""
    business_unit: Slug | None = None
    """when set, the tier (and its SLA) applies to that business unit's customers only"""
    sla: Sla


class CustomerTierUpdate(Input):
    name: Name | None = None
    description: Text | None = None
    business_unit: Slug | None = None
    sla: Sla | None = None


class CustomerTierOut(Output):
    id: int
    slug: str
    name: str
    description: str
    business_unit: str | None
    sla: Sla
    customers: int = 0
    created_at: datetime
    updated_at: datetime


class CustomerCreate(Input):
    slug: Slug
    name: Name
    description: Text = ""
    tier: Slug | None = None
    business_unit: Slug | None = None
    contact_email: Email | None = None
    monthly_fee: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = None
    currency: Currency = "USD"
    services: list[Slug] = Field(default_factory=list, max_length=1000)
    """slugs of the services the customer uses"""

    @field_validator("services")
    @classmethod
    def _services(cls, services: list[str]) -> list[str]:
        return _unique(services, "service")


class CustomerUpdate(Input):
    name: Name | None = None
    description: Text | None = None
    tier: Slug | None = None
    business_unit: Slug | None = None
    contact_email: Email | None = None
    monthly_fee: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = None
    currency: Currency | None = None
    services: list[Slug] | None = Field(default=None, max_length=1000)

    @field_validator("services")
    @classmethod
    def _services(cls, services: list[str] | None) -> list[str] | None:
        return None if services is None else _unique(services, "service")


class CustomerOut(Output):
    id: int
    slug: str
    name: str
    description: str
    tier: str | None
    business_unit: str | None
    contact_email: str | None
    monthly_fee: Decimal | None
    currency: str
    services: list[str]
    created_at: datetime
    updated_at: datetime


class CreditOut(Output):
    customer: str
    tier: str
    availability_percent: float
    availability_target_percent: float
    credit_percent: float
    credit_amount: Decimal | None
    currency: str
    band: CreditBandIn | None
    """the band that applied; none when the SLA was met"""


# --- vendors ---------------------------------------------------------------------------------


class EscalationContact(Input):
    name: Name
    role: Annotated[str, StringConstraints(max_length=200)] = ""
    email: Email | None = None
    phone: Phone | None = None

    @_model_validator(mode="after")
    def _reachable(self) -> EscalationContact:
        if self.email is None and self.phone is None:
            raise PydanticCustomError(
                "contact", "give an email or a phone number to reach {name}", {"name": self.name}
            )
        return self


class VendorCreate(Input):
    slug: Slug
    name: Name
    description: Text = ""
    portal_url: AnyHttpUrl | None = None
    phone: Phone | None = None
    account_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    support_email: Email | None = None
    contact_instructions: Text = ""
    """how to open a case: which form, which priority, what to quote"""
    escalation_contacts: list[EscalationContact] = Field(default_factory=list, max_length=50)
    """in the order to call them"""
    response_minutes: dict[SeveritySlug, Minutes] = Field(default_factory=dict)
    """contractual response time per severity slug"""
    services: list[Slug] = Field(default_factory=list, max_length=1000)
    """slugs of the services the vendor backs"""

    @field_validator("services")
    @classmethod
    def _services(cls, services: list[str]) -> list[str]:
        return _unique(services, "service")


class VendorUpdate(Input):
    name: Name | None = None
    description: Text | None = None
    portal_url: AnyHttpUrl | None = None
    phone: Phone | None = None
    account_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    support_email: Email | None = None
    contact_instructions: Text | None = None
    escalation_contacts: list[EscalationContact] | None = Field(default=None, max_length=50)
    response_minutes: dict[SeveritySlug, Minutes] | None = None
    services: list[Slug] | None = Field(default=None, max_length=1000)

    @field_validator("services")
    @classmethod
    def _services(cls, services: list[str] | None) -> list[str] | None:
        return None if services is None else _unique(services, "service")


class EscalationContactOut(Output):
    name: str
    role: str
    email: str | None
    phone: str | None


class VendorOut(Output):
    id: int
    slug: str
    name: str
    description: str
    portal_url: str | None
    phone: str | None
    account_id: str | None
    support_email: str | None
    contact_instructions: str
    escalation_contacts: list[EscalationContactOut]
    response_minutes: dict[str, int]
    services: list[str]
    created_at: datetime
    updated_at: datetime
