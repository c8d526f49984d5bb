"""API shapes of routing rules and tickets; the manifest kind reuses the rule's body."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from tocsin.alerts.schemas import MatcherIn
from tocsin.catalog.schemas import SeveritySlug, Slug
from tocsin.schemas import Input, Output


class Action(StrEnum):
    PAGE = "page"
    """Page the service's on-call (what happens when no rule matches)."""
    INCIDENT = "incident"
    """Declare an incident on the service, linked to the alerts, and page (unless page=false)."""
    TICKET = "ticket"
    """Open an internal ticket; nobody is paged."""


DEFAULT_SEVERITY_MAP = {"critical": "sev1", "error": "sev2", "warning": "sev3", "info": "sev4"}


class RoutingRuleIn(Input):
    slug: Slug
    service: str | None = Field(default=None, min_length=1, max_length=100)
    team: str | None = Field(default=None, min_length=1, max_length=100)
    position: int = Field(default=100, ge=0, le=10_000)
    matchers: list[MatcherIn] = Field(default_factory=list, max_length=50)
    action: Action
    severity_label: str = Field(default="severity", min_length=1, max_length=100)
    severity_map: dict[str, SeveritySlug] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITY_MAP), max_length=50
    )
    default_severity: SeveritySlug = "sev3"
    page: bool = True


class RoutingRuleOut(Output):
    id: int
    slug: str
    service: str | None
    team: str | None
    position: int
    matchers: list[dict[str, Any]]
    action: Action
    severity_label: str
    severity_map: dict[str, str]
    default_severity: str
    page: bool


class TicketOut(Output):
    id: int
    ref: str
    service: str
    group_id: int | None
    rule: str
    title: str
    summary: str
    severity: str | None
    status: str
    created_at: datetime
    alerts_resolved_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
