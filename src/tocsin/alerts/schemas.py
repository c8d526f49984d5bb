"""API shapes of integrations and stored alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from tocsin.alerts.formats.generic import GenericMapping
from tocsin.alerts.normalized import SourceKind
from tocsin.catalog.schemas import Slug
from tocsin.schemas import Input, Output

MAX_RATE_PER_MINUTE = 1_000_000
MAX_HEARTBEAT_MINUTES = 7 * 24 * 60


class IntegrationCreate(Input):
    service: str = Field(min_length=1, max_length=100)
    """Slug of the catalog service the alerts belong to."""
    kind: SourceKind
    name: str = Field(default="", max_length=200)
    """Defaults to "<kind> for <service>"."""
    rate_limit_per_minute: int = Field(default=600, ge=1, le=MAX_RATE_PER_MINUTE)
    mapping: GenericMapping | None = None
    """Only for kind generic: where each field is found in the sender's JSON."""
    heartbeat_minutes: int | None = Field(default=None, ge=1, le=MAX_HEARTBEAT_MINUTES)
    """Expect a ping (or a Watchdog alert) at least this often; None: no heartbeat."""


class IntegrationUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=MAX_RATE_PER_MINUTE)
    enabled: bool | None = None
    mapping: GenericMapping | None = None
    heartbeat_minutes: int | None = Field(default=None, ge=1, le=MAX_HEARTBEAT_MINUTES)


class IntegrationOut(Output):
    id: int
    service: str
    kind: SourceKind
    name: str
    key_prefix: str
    rate_limit_per_minute: int
    enabled: bool
    mapping: dict[str, Any] | None
    last_received_at: datetime | None
    heartbeat_minutes: int | None = None
    last_ping_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class IntegrationWithKey(IntegrationOut):
    """Returned once, on creation and rotation: the key is never shown again."""

    key: str
    url: str
    """The ingestion URL for this integration's kind, key included."""


class AlertOut(Output):
    id: int
    integration_id: int
    service: str
    dedup_key: str
    dedup_basis: str
    fingerprint: str
    source: str
    wire_format: str
    status: str
    acknowledged: bool
    labels: dict[str, Any]
    annotations: dict[str, Any]
    details: dict[str, Any]
    summary: str
    severity: str | None
    starts_at: datetime
    ends_at: datetime | None
    expires_at: datetime | None
    generator_url: str | None
    group_key: str | None
    sender_fingerprint: str | None
    first_received_at: datetime
    last_received_at: datetime
    receive_count: int
    decision: str | None
    decision_reason: str
    decision_ref: str | None = None
    group_id: int | None = None
    flapping: bool = False


class AlertEventOut(Output):
    id: int
    kind: str
    status: str
    at: datetime
    data: dict[str, Any]


class AcceptedAlert(Output):
    id: int | None
    """None when the event referred to an alert Tocsin does not hold (nothing to change)."""
    dedup_key: str
    fingerprint: str
    status: str
    transition: str


class IngestAccepted(Output):
    status: str = "accepted"
    alerts: list[AcceptedAlert]


class MatcherIn(Input):
    name: str = Field(min_length=1, max_length=200)
    op: str = Field(default="=", pattern=r"^(=|!=|=~|!~)$")
    value: str = Field(default="", max_length=1000)


class SilenceCreate(Input):
    matchers: list[MatcherIn] = Field(min_length=1, max_length=50)
    starts_at: datetime | None = None
    """None: now."""
    ends_at: datetime
    comment: str = Field(default="", max_length=2000)


class SilenceOut(Output):
    id: int
    matchers: list[dict[str, str]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    expired_at: datetime | None
    state: str
    """pending, active or expired"""


class MaintenanceCreate(Input):
    service: str = Field(min_length=1, max_length=100)
    starts_at: datetime
    """Local wall-clock time of the first occurrence in `timezone` (an offset is ignored)."""
    duration_minutes: int = Field(ge=1, le=7 * 24 * 60)
    timezone: str = Field(default="UTC", max_length=64)
    rrule: str | None = Field(default=None, max_length=500)
    """An iCalendar RRULE such as "FREQ=WEEKLY;BYDAY=SU"; None for a one-off window."""
    comment: str = Field(default="", max_length=2000)


class MaintenanceOut(Output):
    id: int
    service: str
    starts_at: datetime
    duration_minutes: int
    timezone: str
    rrule: str | None
    comment: str
    created_by: str
    ended_at: datetime | None
    active_until: datetime | None
    """The end of the occurrence in effect now, if one is."""


class CorrelationRuleIn(Input):
    slug: Slug | None = None
    """Its name in configuration files; defaults to the service slug or "team-<team slug>"."""
    service: str | None = Field(default=None, min_length=1, max_length=100)
    team: str | None = Field(default=None, min_length=1, max_length=100)
    group_by: list[str] = Field(default_factory=lambda: ["alertname"], max_length=20)
    group_wait_seconds: int = Field(default=0, ge=0, le=3600)
    min_alerts: int = Field(default=1, ge=1, le=1000)
    min_sources: int = Field(default=1, ge=1, le=100)
    window_seconds: int = Field(default=600, ge=10, le=86400)
    flap_changes: int = Field(default=6, ge=0, le=1000)
    """State changes within the flap window that make an alert flapping; 0 turns it off."""
    flap_window_seconds: int = Field(default=1800, ge=10, le=86400)


class CorrelationRuleOut(Output):
    id: int
    slug: str
    service: str | None
    team: str | None
    group_by: list[str]
    group_wait_seconds: int
    min_alerts: int
    min_sources: int
    window_seconds: int
    flap_changes: int
    flap_window_seconds: int


class AlertGroupOut(Output):
    id: int
    service: str
    key: str
    labels: dict[str, Any]
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    paged_at: datetime | None
    members: list[AlertOut] = Field(default_factory=list)
