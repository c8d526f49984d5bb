"""Status pages, their components, published incidents and maintenances, and subscribers.

A status-page incident is a statement to customers, separate from the Tocsin incident it may
be linked to: nothing about a Tocsin incident reaches the public page unless someone publishes
it here. Scheduled maintenances share the incident table (as in Statuspage's model) and differ
by `kind` and their status values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class StatusPage(IdMixin, TimestampMixin, Base):
    __tablename__ = "status_pages"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    url: Mapped[str] = mapped_column(sa.String(2000), default="")
    """the company's home page, linked from the page header"""
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="Etc/UTC")
    is_default: Mapped[bool] = mapped_column(default=False)
    """served at /status and /api/v2/…; exactly one page has it"""
    version: Mapped[int] = mapped_column(default=1)
    """bumped by every change that shows on the public page: the key of its render cache"""
    email_subscriptions: Mapped[bool] = mapped_column(default=True)
    """whether the public may subscribe by e-mail"""
    webhook_subscriptions: Mapped[bool] = mapped_column(default=True)
    """whether the public may subscribe a webhook"""


class ComponentGroup(IdMixin, TimestampMixin, Base):
    __tablename__ = "status_component_groups"

    page_id: Mapped[int] = mapped_column(sa.ForeignKey("status_pages.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)


class Component(IdMixin, TimestampMixin, Base):
    __tablename__ = "status_components"

    page_id: Mapped[int] = mapped_column(
        sa.ForeignKey("status_pages.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("status_component_groups.id", ondelete="SET NULL")
    )
    service_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("services.id", ondelete="SET NULL")
    )
    """the catalog service behind it: the guard reads that service's alerts and checks"""
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(32), default="operational")
    position: Mapped[int] = mapped_column(default=0)
    only_show_if_degraded: Mapped[bool] = mapped_column(default=False)
    start_date: Mapped[datetime | None]


class ComponentStatusChange(IdMixin, Base):
    """Append-only: each state a component entered, when. Uptime history is derived from it."""

    __tablename__ = "status_component_changes"
    __table_args__ = (sa.Index("ix_status_component_changes_component_at", "component_id", "at"),)

    component_id: Mapped[int] = mapped_column(
        sa.ForeignKey("status_components.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime]


class StatusIncident(IdMixin, TimestampMixin, Base):
    __tablename__ = "status_incidents"

    page_id: Mapped[int] = mapped_column(
        sa.ForeignKey("status_pages.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16), default="incident")
    """incident or maintenance"""
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(32))
    impact: Mapped[str] = mapped_column(sa.String(16), default="none")
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL")
    )
    """the Tocsin incident it speaks about, if any; the guard checks it before resolving"""
    component_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    started_at: Mapped[datetime]
    monitoring_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    scheduled_for: Mapped[datetime | None]
    scheduled_until: Mapped[datetime | None]


class StatusIncidentUpdate(IdMixin, Base):
    __tablename__ = "status_incident_updates"

    status_incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("status_incidents.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime]
    affected_components: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """[{code, name, old_status, new_status}] as Statuspage reports them"""
    author: Mapped[str] = mapped_column(sa.String(400), default="")


class Subscriber(IdMixin, TimestampMixin, Base):
    __tablename__ = "status_subscribers"
    __table_args__ = (sa.UniqueConstraint("page_id", "mode", "address"),)

    page_id: Mapped[int] = mapped_column(
        sa.ForeignKey("status_pages.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(sa.String(16))
    """email or webhook"""
    address: Mapped[str] = mapped_column(sa.String(2000))
    component_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """empty: the whole page"""
    secret: Mapped[str | None] = mapped_column(sa.String(100))
    """a webhook's signing secret, shown once when it subscribes"""
    confirmed_at: Mapped[datetime | None]
    """e-mail needs double opt-in; webhooks are confirmed at once"""
    unsubscribed_at: Mapped[datetime | None]
