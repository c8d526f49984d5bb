"""Incident tables: the incident, its milestones, what it affects, who takes part, its roles,
checklist states and its append-only timeline.

Affected services, customers, tiers and business units are stored by catalog slug in one
table, so "incidents touching checkout" is a plain indexed query on either database.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, TimestampMixin


class Incident(IdMixin, TimestampMixin, Base):
    __tablename__ = "incidents"

    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    severity: Mapped[str] = mapped_column(sa.String(50), index=True)
    """slug of a policy severity"""
    type: Mapped[str] = mapped_column(sa.String(20), default="outage")
    visibility: Mapped[str] = mapped_column(sa.String(10), default="public")
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    customers_affected: Mapped[int | None]
    revenue_per_hour: Mapped[Decimal | None] = mapped_column(sa.Numeric(18, 2))
    regulatory: Mapped[bool] = mapped_column(default=False)
    reputational: Mapped[bool] = mapped_column(default=False)
    """media attention or reputational exposure"""
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )


class IncidentMilestone(IdMixin, Base):
    __tablename__ = "incident_milestones"
    __table_args__ = (sa.UniqueConstraint("incident_id", "name"),)

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(30))
    at: Mapped[datetime]
    set_by_kind: Mapped[str] = mapped_column(sa.String(20))
    """user, token, system or source (an alert source, a probe)"""
    set_by_id: Mapped[int | None]
    set_by_label: Mapped[str] = mapped_column(sa.String(400))
    evidence: Mapped[str] = mapped_column(sa.Text, default="")
    evidence_url: Mapped[str | None] = mapped_column(sa.String(2000))


class IncidentAffected(IdMixin, Base):
    __tablename__ = "incident_affected"
    __table_args__ = (
        sa.UniqueConstraint("incident_id", "kind", "slug"),
        sa.Index("ix_incident_affected_kind_slug", "kind", "slug"),
    )

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(20))
    """service, customer, customer_tier or business_unit"""
    slug: Mapped[str] = mapped_column(sa.String(100))


class IncidentLink(IdMixin, Base):
    __tablename__ = "incident_links"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(30))
    url: Mapped[str] = mapped_column(sa.String(2000))
    title: Mapped[str] = mapped_column(sa.String(200), default="")


class IncidentParticipant(IdMixin, Base):
    __tablename__ = "incident_participants"
    __table_args__ = (sa.UniqueConstraint("incident_id", "user_id"),)

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime]


class IncidentRoleAssignment(IdMixin, Base):
    """One holder of one role for a stretch of time; the current holder has no `ended_at`."""

    __tablename__ = "incident_role_assignments"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(60))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    assigned_at: Mapped[datetime]
    assigned_by: Mapped[str] = mapped_column(sa.String(400))
    ended_at: Mapped[datetime | None]


class IncidentChecklistState(IdMixin, Base):
    """The state of one policy checklist item on one incident; items without a row are open."""

    __tablename__ = "incident_checklist_states"
    __table_args__ = (sa.UniqueConstraint("incident_id", "checklist", "item_id"),)

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    checklist: Mapped[str] = mapped_column(sa.String(20))
    """technical or business"""
    item_id: Mapped[str] = mapped_column(sa.String(100))
    state: Mapped[str] = mapped_column(sa.String(10))
    """open, done or waived"""
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    by: Mapped[str] = mapped_column(sa.String(400))
    at: Mapped[datetime]


class TimelineEvent(IdMixin, Base):
    """Append-only: events are never edited or removed (only a note's star is toggled)."""

    __tablename__ = "incident_timeline"
    __table_args__ = (sa.Index("ix_incident_timeline_incident_at", "incident_id", "at"),)

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(sa.String(40))
    actor_kind: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(sa.String(400))
    text: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    starred: Mapped[bool] = mapped_column(default=False)
