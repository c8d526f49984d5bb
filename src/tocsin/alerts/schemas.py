"""API shapes of integrations and stored alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from tocsin.alerts.formats.generic import GenericMapping
from tocsin.alerts.normalized import SourceKind
from tocsin.schemas import Input, Output

MAX_RATE_PER_MINUTE = 1_000_000


class IntegrationCreate(Input):
    service: str = Field(min_length=1, max_length=100)
    """Slug of the catalog service the alerts belong to."""
    kind: SourceKind
    name: str = Field(default="", max_length=200)
    """Defaults to "<kind> for <service>"."""
    rate_limit_per_minute: int = Field(default=600, ge=1, le=MAX_RATE_PER_MINUTE)
    mapping: GenericMapping | None = None
    """Only for kind generic: where each field is found in the sender's JSON."""


class IntegrationUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=MAX_RATE_PER_MINUTE)
    enabled: bool | None = None
    mapping: GenericMapping | None = None


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
