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
    heartbeat_minutes: Mapped[int | None]
    """Expect a ping at least this often (a dead man's switch); None: no heartbeat."""
    last_ping_at: Mapped[datetime | None]


FIRING_CRITICAL = "status = 'firing' AND severity = 'critical'"
"""The alerts that can inhibit others (`ix_alerts_firing_critical`)."""


class Alert(IdMixin, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        sa.UniqueConstraint("integration_id", "dedup_key"),
        # Serves every read by status, and the expiry sweep's "firing and overdue" as a range
        # scan. One index instead of two: each re-send rewrites `expires_at`, and a second
        # index would be one more entry to write per re-send.
        sa.Index("ix_alerts_status_expires_at", "status", "expires_at"),
        # Dependency-aware inhibition asks, for every decision, which upstream services have
        # a firing critical alert. With only the index above, that read scanned every firing
        # alert of a storm (3.4 ms a decision on SQLite for 10,000 of them). A partial index
        # holds only the few alerts that can inhibit, and re-sends of the others never touch
        # it. (The query spells both values as literals so that SQLite can use it; the two
        # constant columns make it cover the query, which is what makes SQLite choose it.)
        sa.Index(
            "ix_alerts_firing_critical",
            "service_id",
            "status",
            "severity",
            sqlite_where=sa.text(FIRING_CRITICAL),
            postgresql_where=sa.text(FIRING_CRITICAL),
        ),
    )

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
    status: Mapped[str] = mapped_column(sa.String(16))
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
    decision_ref: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    """What the decision points at ("silence:3", "group:7", "incident:12"), for re-evaluation."""
    group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("alert_groups.id", ondelete="SET NULL"), index=True
    )
    flapping: Mapped[bool] = mapped_column(default=False)
    flap_paged: Mapped[bool] = mapped_column(default=False)


class AlertEvent(IdMixin, Base):
    """Append-only: one row per state change of an alert (created, resolved, refired…)."""

    __tablename__ = "alert_events"
    # Decision jobs are keyed by the id of their first history row, so an id must never
    # come back: SQLite would otherwise reuse the largest ids after a deletion.
    __table_args__ = {"sqlite_autoincrement": True}

    alert_id: Mapped[int] = mapped_column(
        sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AlertGroup(IdMixin, Base):
    """Alerts of one service sharing the values of the grouping labels; it pages once and
    resolves when all its members have resolved. A later firing alert opens a new group."""

    __tablename__ = "alert_groups"
    __table_args__ = (sa.Index("ix_alert_groups_service_key_open", "service_id", "key", "open"),)

    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id", ondelete="RESTRICT"))
    key: Mapped[str] = mapped_column(sa.Text)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    open: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="firing")
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    paged_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL")
    )


class Silence(IdMixin, TimestampMixin, Base):
    __tablename__ = "alert_silences"

    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(sa.String(400))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    expired_at: Mapped[datetime | None]


class MaintenanceWindow(IdMixin, TimestampMixin, Base):
    __tablename__ = "alert_maintenance_windows"

    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(sa.DateTime())
    """Local wall-clock time of the first occurrence, read in `timezone`."""
    duration_minutes: Mapped[int]
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    rrule: Mapped[str | None] = mapped_column(sa.String(500))
    created_by: Mapped[str] = mapped_column(sa.String(400))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    ended_at: Mapped[datetime | None]


class CorrelationRule(IdMixin, TimestampMixin, Base):
    """Grouping and corroboration for one service, or for every service of one team."""

    __tablename__ = "alert_correlation_rules"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    """Its name in configuration files; defaults to the service slug or "team-<team slug>"."""
    service_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), unique=True
    )
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="CASCADE"), unique=True
    )
    group_by: Mapped[list[str]] = mapped_column(JSONType, default=list)
    group_wait_seconds: Mapped[int] = mapped_column(default=0)
    min_alerts: Mapped[int] = mapped_column(default=1)
    min_sources: Mapped[int] = mapped_column(default=1)
    window_seconds: Mapped[int] = mapped_column(default=600)
    flap_changes: Mapped[int] = mapped_column(default=6)
    flap_window_seconds: Mapped[int] = mapped_column(default=1800)
