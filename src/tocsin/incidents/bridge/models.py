"""Bridge tables: one bridge per incident (its link and the reminders already given) and the
structured updates posted on it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, TimestampMixin


class IncidentBridge(IdMixin, TimestampMixin, Base):
    """Created on first use; an incident without a row has the generated link and no reminders."""

    __tablename__ = "incident_bridges"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    """set by hand; None means the link generated from the configured template"""
    reminded_due: Mapped[datetime | None]
    """the due time the Incident Commander was last reminded of (so a reminder is given once)"""
    escalated_due: Mapped[datetime | None]
    """the due time whose second miss was last escalated"""


class IncidentUpdate(IdMixin, Base):
    """Append-only: a structured bridge update as it was posted."""

    __tablename__ = "incident_updates"
    __table_args__ = (sa.Index("ix_incident_updates_incident_at", "incident_id", "at"),)

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    current_status: Mapped[str] = mapped_column(sa.Text)
    actions: Mapped[str] = mapped_column(sa.Text, default="")
    """actions under way"""
    next_steps: Mapped[str] = mapped_column(sa.Text, default="")
    next_due: Mapped[datetime | None]
    """when the next update was promised; None when the severity has no cadence"""
    cadence_minutes: Mapped[int | None]
    """the cadence in force when it was posted"""
    author_kind: Mapped[str] = mapped_column(sa.String(20))
    author_id: Mapped[int | None]
    author_label: Mapped[str] = mapped_column(sa.String(400))
