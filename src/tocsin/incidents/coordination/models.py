"""Coordination tables: what each team works on, what was decided, and where teams collide."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class IncidentWorkstream(IdMixin, TimestampMixin, Base):
    __tablename__ = "incident_workstreams"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    team_slug: Mapped[str] = mapped_column(sa.String(100))
    lead_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    goal: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="active")


class IncidentTask(IdMixin, TimestampMixin, Base):
    __tablename__ = "incident_tasks"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    workstream_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incident_workstreams.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(sa.String(300))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    team_slug: Mapped[str] = mapped_column(sa.String(100))
    priority: Mapped[str] = mapped_column(sa.String(2))
    due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(20), default="open")


class IncidentDecision(IdMixin, Base):
    """Append-only: a decision that turns out wrong is superseded by a later one, not edited."""

    __tablename__ = "incident_decisions"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(sa.Text)
    options: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    rationale: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by: Mapped[str] = mapped_column(sa.String(400))
    dissent: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """[{who, note}]"""
    task_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """tasks the decision settles (both sides of a resolved conflict)"""
    at: Mapped[datetime]


class IncidentTaskConflict(IdMixin, Base):
    """Two tasks that cannot both be done as asked; open until a decision settles it."""

    __tablename__ = "incident_task_conflicts"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("incident_tasks.id", ondelete="CASCADE"))
    other_task_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incident_tasks.id", ondelete="CASCADE")
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")
    raised_by: Mapped[str] = mapped_column(sa.String(400))
    raised_at: Mapped[datetime]
    decision_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incident_decisions.id", ondelete="SET NULL")
    )
