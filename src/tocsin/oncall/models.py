"""On-call tables: schedules and their layers and overrides, escalation policies, the
service-to-policy mapping, and pages with their log."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class OncallSchedule(IdMixin, TimestampMixin, Base):
    __tablename__ = "oncall_schedules"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    """the team whose responders may change it (admins may change any)"""


class OncallLayer(IdMixin, Base):
    """One rotation; `position` 0 is the lowest layer, higher layers override lower ones."""

    __tablename__ = "oncall_layers"

    schedule_id: Mapped[int] = mapped_column(
        sa.ForeignKey("oncall_schedules.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(200))
    time_zone: Mapped[str] = mapped_column(sa.String(64))
    start_date: Mapped[date] = mapped_column(sa.Date)
    handoff_time: Mapped[time] = mapped_column(sa.Time)
    turn_minutes: Mapped[int]
    """wall-clock length of a turn in the layer's zone (1440 daily, 10080 weekly)"""
    members: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """user ids in rotation order"""
    restrictions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """[{weekday: 0-6 or null, start: "HH:MM", minutes: int}] in the layer's zone"""


class OncallOverride(IdMixin, TimestampMixin, Base):
    __tablename__ = "oncall_overrides"

    schedule_id: Mapped[int] = mapped_column(
        sa.ForeignKey("oncall_schedules.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(sa.String(400))


class EscalationPolicy(IdMixin, TimestampMixin, Base):
    __tablename__ = "escalation_policies"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    repeat: Mapped[int] = mapped_column(default=0)
    """how many more times the levels run after the last one times out"""
    levels: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """[{timeout_minutes: int, targets: [{type: user|schedule|team, id: int}]}]"""


class ServiceEscalationPolicy(Base):
    """Which policy pages for a service; kept here so the catalog knows nothing of paging."""

    __tablename__ = "oncall_service_policies"

    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    policy_id: Mapped[int] = mapped_column(
        sa.ForeignKey("escalation_policies.id", ondelete="CASCADE"), index=True
    )


class OncallPage(IdMixin, TimestampMixin, Base):
    __tablename__ = "oncall_pages"

    service_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("services.id", ondelete="SET NULL"), index=True
    )
    policy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(sa.String(500))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    dedup_key: Mapped[str] = mapped_column(sa.String(300), index=True)
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL")
    )
    alert_group_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    """open, acknowledged, resolved"""
    round: Mapped[int] = mapped_column(default=0)
    level: Mapped[int] = mapped_column(default=0)
    generation: Mapped[int] = mapped_column(default=0)
    """bumped by every escalation or reassignment; a timer of an older generation is stale"""
    assigned_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    """set when reassigned to one person instead of a policy"""
    notified: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """user ids reached by the current step"""
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(400))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(sa.String(400))


class OncallPageLog(IdMixin, Base):
    __tablename__ = "oncall_page_log"

    page_id: Mapped[int] = mapped_column(
        sa.ForeignKey("oncall_pages.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(sa.String(50))
    text: Mapped[str] = mapped_column(sa.Text)
    actor: Mapped[str] = mapped_column(sa.String(400))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
