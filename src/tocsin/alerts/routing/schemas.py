"""API shapes of routing rules and tickets; the manifest kind reuses the rule's body."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from tocsin.alerts.schemas import MatcherIn
from tocsin.catalog.schemas import SeveritySlug, Slug
from tocsin.incidents.schemas import Visibility
from tocsin.schemas import Input, Output


class Action(StrEnum):
    PAGE = "page"
    """Page the service's on-call (what happens when no rule matches)."""
    INCIDENT = "incident"
    """Declare an incident on the service, linked to the alerts, and page (unless page=false)."""
    TICKET = "ticket"
    """Open an internal ticket; nobody is paged."""


JiraLabel = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^\S+$")]
"""Jira labels cannot hold spaces."""


class TrackerIn(Input):
    """Where a `ticket` rule also files its ticket. Credentials are settings, not rule fields,
    so rules can be exported and kept in version control."""

    kind: Literal["jira"]
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,49}$")
    """the project key, e.g. OPS"""
    issue_type: str = Field(default="Task", min_length=1, max_length=100)
    labels: list[JiraLabel] = Field(default_factory=list, max_length=20)
    resolve_transition: str | None = Field(default=None, pattern=r"^[0-9]{1,10}$")
    """the transition id to apply when the alerts resolve (e.g. to Done); None: comment only"""


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
    visibility: Visibility = Visibility.PUBLIC
    """For action incident: a private incident is seen only by its members and admins."""
    tracker: TrackerIn | None = None
    """For action ticket: also file the ticket in this external tracker."""


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
    visibility: Visibility
    tracker: dict[str, Any] | None


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
    tracker: str | None
    external_status: str | None
    """pending, waiting (for the tracker's search), open, resolved or failed; None when the
    ticket is internal only"""
    waiting_until: datetime | None
    """while external_status is waiting: when filing is tried again"""
    external_key: str | None
    external_url: str | None
    external_error: str | None
