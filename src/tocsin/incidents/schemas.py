"""Incident API shapes: what a caller sends to declare and change incidents, and what it reads.

An incident is named by its reference (`INC-42`) everywhere a person sees it; the database id
only appears where another system needs a stable number.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AnyHttpUrl, Field, StringConstraints

from tocsin.incidents.lifecycle import Status
from tocsin.incidents.milestones import Milestone
from tocsin.schemas import Input, Output

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=100)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=20_000)]
Reason = Annotated[str, StringConstraints(max_length=5000)]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
]
"""a user's e-mail address, as they sign in with it"""
SlugList = Annotated[list[Slug], Field(max_length=500)]


class IncidentType(StrEnum):
    OUTAGE = "outage"
    DEGRADATION = "degradation"
    SECURITY = "security"
    DATA = "data"
    OTHER = "other"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    """only participants and admins see it"""


class LinkKind(StrEnum):
    TICKET = "ticket"
    BRIDGE = "bridge"
    WAR_ROOM = "war-room"
    VENDOR_CASE = "vendor-case"
    CUSTOMER_REPORT = "customer-report"
    ALERT = "alert"
    DASHBOARD = "dashboard"
    OTHER = "other"


class Checklist(StrEnum):
    TECHNICAL = "technical"
    BUSINESS = "business"


class ItemState(StrEnum):
    OPEN = "open"
    DONE = "done"
    WAIVED = "waived"


class StandardRole(StrEnum):
    INCIDENT_COMMANDER = "incident-commander"
    COMMUNICATIONS_LEAD = "communications-lead"
    TECHNICAL_LEAD = "technical-lead"
    SCRIBE = "scribe"


ROLE_LABELS = {
    StandardRole.INCIDENT_COMMANDER.value: "Incident Commander",
    StandardRole.COMMUNICATIONS_LEAD.value: "Communications Lead",
    StandardRole.TECHNICAL_LEAD.value: "Technical Lead",
    StandardRole.SCRIBE.value: "Scribe",
}


class LinkIn(Input):
    kind: LinkKind
    url: AnyHttpUrl
    title: Annotated[str, StringConstraints(max_length=200)] = ""


class Impact(Input):
    customers_affected: Annotated[int, Field(ge=0, le=10_000_000_000)] | None = None
    revenue_per_hour: (
        Annotated[Decimal, Field(ge=0, le=Decimal("1e15"), decimal_places=2)] | None
    ) = None
    """in the organisation's reporting currency"""
    regulatory: bool = False
    reputational: bool = False
    """media attention or a reputational exposure"""


class IncidentDeclare(Impact):
    title: Title
    summary: Text = ""
    severity: Slug
    type: IncidentType = IncidentType.OUTAGE
    visibility: Visibility = Visibility.PUBLIC
    services: SlugList = Field(default_factory=list)
    customers: SlugList = Field(default_factory=list)
    customer_tiers: SlugList = Field(default_factory=list)
    business_units: SlugList = Field(default_factory=list)
    links: Annotated[list[LinkIn], Field(max_length=100)] = Field(default_factory=list)
    impact_started_at: datetime | None = None
    """when customers were first hurt, if known; otherwise left for later evidence"""
    detected_at: datetime | None = None


class IncidentPatch(Input):
    """Only the fields sent change; lists are replaced whole."""

    title: Title | None = None
    summary: Text | None = None
    severity: Slug | None = None
    type: IncidentType | None = None
    visibility: Visibility | None = None
    customers_affected: Annotated[int, Field(ge=0, le=10_000_000_000)] | None = None
    revenue_per_hour: (
        Annotated[Decimal, Field(ge=0, le=Decimal("1e15"), decimal_places=2)] | None
    ) = None
    regulatory: bool | None = None
    reputational: bool | None = None
    services: SlugList | None = None
    customers: SlugList | None = None
    customer_tiers: SlugList | None = None
    business_units: SlugList | None = None
    links: Annotated[list[LinkIn], Field(max_length=100)] | None = None
    reason: Reason = ""
    """why, for the timeline (a severity change in particular)"""


class StatusChange(Input):
    status: Status
    reason: Reason = ""


class MilestoneSet(Input):
    at: datetime
    evidence: Annotated[str, StringConstraints(max_length=5000)] = ""
    evidence_url: AnyHttpUrl | None = None
    reason: Reason = ""
    """why a milestone already set is corrected"""
    source: Annotated[str, StringConstraints(max_length=200)] | None = None
    """set on behalf of a source (an alert source, a probe) rather than the caller"""


class NoteIn(Input):
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    kind: Annotated[str, StringConstraints(pattern="^(note|decision|update)$")] = "note"


class StarIn(Input):
    starred: bool = True


class RoleAssign(Input):
    role: Slug
    """incident-commander, communications-lead, technical-lead, scribe, or a custom role"""
    user: Email
    reason: Reason = ""


class ParticipantAdd(Input):
    user: Email


class ChecklistItemSet(Input):
    checklist: Checklist
    item: Slug
    state: ItemState
    reason: Reason = ""
    """required to waive an item"""


# --- output ----------------------------------------------------------------------------------


class MilestoneOut(Output):
    name: Milestone
    at: datetime
    set_by_kind: str
    set_by: str
    evidence: str
    evidence_url: str | None


class LinkOut(Output):
    kind: str
    url: str
    title: str


class PersonOut(Output):
    id: int
    email: str
    name: str


class RoleOut(Output):
    role: str
    label: str
    user: PersonOut
    assigned_at: datetime
    assigned_by: str
    ended_at: datetime | None


class ChecklistItemOut(Output):
    checklist: Checklist
    item: str
    text: str
    state: ItemState
    reason: str
    by: str | None
    at: datetime | None


class ChecklistsOut(Output):
    technical: list[ChecklistItemOut]
    business: list[ChecklistItemOut]
    technical_complete: bool
    business_complete: bool


class RolesOut(Output):
    current: list[RoleOut]
    history: list[RoleOut]


class TimelineEventOut(Output):
    id: int
    at: datetime
    kind: str
    actor: str
    actor_kind: str
    text: str
    data: dict[str, Any]
    starred: bool


class IncidentSummary(Output):
    id: int
    ref: str
    title: str
    severity: str
    type: IncidentType
    visibility: Visibility
    status: Status
    services: list[str]
    created_at: datetime
    updated_at: datetime


class IncidentOut(IncidentSummary):
    summary: str
    customers: list[str]
    customer_tiers: list[str]
    business_units: list[str]
    customers_affected: int | None
    revenue_per_hour: Decimal | None
    regulatory: bool
    reputational: bool
    links: list[LinkOut]
    participants: list[PersonOut]
    roles: list[RoleOut]
    milestones: dict[str, MilestoneOut]
    created_by: str | None


class KpiOut(Output):
    """One KPI of one incident as of now; durations in seconds."""

    kpi: str
    milestone: Milestone
    measured_from: Milestone | None
    started_at: datetime | None
    reached_at: datetime | None
    elapsed_seconds: float | None
    target_seconds: float | None
    status: str
    """met, breached, running, no_target or unmeasured"""
    time_left_seconds: float | None
    overrun_seconds: float | None
    deadline: datetime | None
    note: str
