"""Tables of alert ingestion: integrations (where alerts come from), alerts, their history.

An alert row is the current state of one alert identity (`dedup_key`) within one
integration; every post that changes it appends an `alert_events` row, so the history of an
alert can be read back even though the alert row itself is updated in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.clock import utcnow
from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class Integration(IdMixin, TimestampMixin, Base):
    __tablename__ = "alert_integrations"

    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(200))
    key_prefix: Mapped[str] = mapped_column(sa.String(16))
    """The first characters of the key, so people can tell keys apart without the secret."""
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    rate_limit_per_minute: Mapped[int] = mapped_column(default=600)
    enabled: Mapped[bool] = mapped_column(default=True)
    mapping: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """Field mapping of a generic integration (tocsin.alerts.formats.generic.GenericMapping)."""
    last_received_at: Mapped[datetime | None]


class Alert(IdMixin, Base):
    __tablename__ = "alerts"
    __table_args__ = (sa.UniqueConstraint("integration_id", "dedup_key"),)

    integration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("alert_integrations.id", ondelete="CASCADE")
    )
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="RESTRICT"), index=True
    )
    dedup_key: Mapped[str] = mapped_column(sa.String(512))
    dedup_basis: Mapped[str] = mapped_column(sa.String(16))
    fingerprint: Mapped[str] = mapped_column(sa.String(16), index=True)
    source: Mapped[str] = mapped_column(sa.String(32))
    wire_format: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    acknowledged: Mapped[bool] = mapped_column(default=False)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    severity: Mapped[str | None] = mapped_column(sa.String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    generator_url: Mapped[str | None] = mapped_column(sa.Text)
    group_key: Mapped[str | None] = mapped_column(sa.Text)
    group_labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sender_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    first_received_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    receive_count: Mapped[int] = mapped_column(default=1)
    decision: Mapped[str | None] = mapped_column(sa.String(32))
    """What the pipeline decided about the alert so far (see tocsin.alerts.handlers)."""
    decision_reason: Mapped[str] = mapped_column(sa.Text, default="")
    decided_at: Mapped[datetime | None]


class AlertEvent(IdMixin, Base):
    """Append-only: one row per state change of an alert (created, resolved, refired…)."""

    __tablename__ = "alert_events"

    alert_id: Mapped[int] = mapped_column(
        sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
