"""Customer reports: what customers told support, kept so it can date and open incidents.

A report names its service by catalog slug; its customer is a catalog slug when known and a
free-text name otherwise (support desks rarely know our slugs). `(source, external_id)` is
unique so a re-sent webhook or a re-imported file never stores a report twice.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, TimestampMixin


class CustomerReport(IdMixin, TimestampMixin, Base):
    __tablename__ = "customer_reports"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id"),
        sa.Index("ix_customer_reports_service_reported_at", "service", "reported_at"),
    )

    source: Mapped[str] = mapped_column(sa.String(20))
    """api, csv or webhook"""
    external_id: Mapped[str] = mapped_column(sa.String(200))
    customer: Mapped[str | None] = mapped_column(sa.String(100))
    """catalog customer slug, when the report names a known customer"""
    customer_name: Mapped[str] = mapped_column(sa.String(300), default="")
    service: Mapped[str] = mapped_column(sa.String(100))
    reported_at: Mapped[datetime]
    description: Mapped[str] = mapped_column(sa.Text, default="")
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    linked_by: Mapped[str] = mapped_column(sa.String(400), default="")
    """"matching" when linked automatically, otherwise the person who linked it"""
