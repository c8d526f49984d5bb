"""Shapes of the management API under /api/v1/status-pages (the public JSON follows
Statuspage's own shapes and is built in `public.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from tocsin.schemas import Input, Output

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ComponentState = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]
IncidentState = Literal["investigating", "identified", "monitoring", "resolved", "postmortem"]
MaintenanceState = Literal["scheduled", "in_progress", "verifying", "completed"]
ImpactLevel = Literal["none", "minor", "major", "critical"]


class PageCreate(Input):
    slug: Slug
    name: Name
    url: str = Field(default="", max_length=2000)
    time_zone: str = Field(default="Etc/UTC", max_length=64)
    is_default: bool = False


class PageOut(Output):
    id: int
    slug: str
    name: str
    url: str
    time_zone: str
    is_default: bool
    version: int
    public_url: str


class GroupCreate(Input):
    name: Name
    description: str = Field(default="", max_length=2000)
    position: int = 0


class GroupOut(Output):
    id: int
    name: str
    description: str
    position: int


class ComponentCreate(Input):
    name: Name
    description: str = Field(default="", max_length=2000)
    group_id: int | None = None
    service: str | None = None
    """slug of the catalog service behind the component"""
    status: ComponentState = "operational"
    position: int = 0
    only_show_if_degraded: bool = False


class ComponentUpdate(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    status: ComponentState | None = None
    position: int | None = None


class ComponentOut(Output):
    id: int
    name: str
    description: str
    group_id: int | None
    service: str | None
    status: str
    position: int
    only_show_if_degraded: bool


class AffectedIn(Input):
    component_id: int
    status: ComponentState


class IncidentCreate(Input):
    name: Name
    status: IncidentState = "investigating"
    impact: ImpactLevel = "minor"
    body: str = Field(min_length=1, max_length=20_000)
    """the first update's text"""
    incident: str | None = None
    """the Tocsin incident it speaks about (INC-42), if any"""
    components: list[AffectedIn] = Field(default_factory=list)
    notify: bool = True


class MaintenanceCreate(Input):
    name: Name
    body: str = Field(min_length=1, max_length=20_000)
    scheduled_for: datetime
    scheduled_until: datetime
    impact: ImpactLevel = "none"
    components: list[int] = Field(default_factory=list)
    notify: bool = True


class UpdateCreate(Input):
    status: str = Field(max_length=32)
    """an incident status, or a maintenance status for a maintenance"""
    body: str = Field(min_length=1, max_length=20_000)
    components: list[AffectedIn] = Field(default_factory=list)
    impact: ImpactLevel | None = None
    notify: bool = True
    override: bool = False
    """resolve although the premature-resolution guard refuses (needs statuspage:override)"""
    justification: str = Field(default="", max_length=4000)


class UpdateOut(Output):
    id: int
    status: str
    body: str
    at: datetime
    author: str
    affected_components: list[dict[str, str]]


class IncidentOut(Output):
    id: int
    kind: str
    name: str
    status: str
    impact: str
    incident: str | None
    """the linked Tocsin incident, when the caller may see it"""
    component_ids: list[int]
    started_at: datetime
    resolved_at: datetime | None
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    updates: list[UpdateOut]


class SubscriberCounts(Output):
    email_confirmed: int
    email_pending: int
    webhook: int


class GuardCondition(Output):
    condition: str
    message: str


class GuardOut(Output):
    """What resolving now would meet: an empty list means the guard lets it through."""

    failures: list[GuardCondition]
