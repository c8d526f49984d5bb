"""Vendor engagements: one row per case opened with a vendor during an incident."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, TimestampMixin


class IncidentVendorEngagement(IdMixin, TimestampMixin, Base):
    """The contract terms are copied at engagement: the clock the vendor agreed to when we
    called is the one it is held to, even if the catalog or the severity change later."""

    __tablename__ = "incident_vendor_engagements"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    vendor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("vendors.id", ondelete="SET NULL"))
    vendor_slug: Mapped[str] = mapped_column(sa.String(100))
    severity: Mapped[str] = mapped_column(sa.String(50))
    response_minutes: Mapped[int | None]
    case_id: Mapped[str | None] = mapped_column(sa.String(200))
    contacted_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    engaged_by: Mapped[str] = mapped_column(sa.String(400))
    overdue_at: Mapped[datetime | None]
    """when the deadline passed without an acknowledgement (set by the deadline job)"""
