"""Escalation tables: each escalation sent (once per incident and rule), and the post-mortem
flag an incident earns when its impact or duration crosses the policy's trigger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType


class IncidentEscalation(IdMixin, Base):
    """One escalation sent; the unique key is what makes "once per crossed rule" hold even when
    two workers evaluate the same incident at the same moment."""

    __tablename__ = "incident_escalations"
    __table_args__ = (sa.UniqueConstraint("incident_id", "rule"),)

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(sa.String(200))
    """the policy rule id, `missing-commander`, or `bridge-<due time>` for a second miss"""
    kind: Mapped[str] = mapped_column(sa.String(32))
    """threshold, missing_commander or bridge"""
    at: Mapped[datetime]
    severity: Mapped[str] = mapped_column(sa.String(50))
    reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    recipients: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """[{email, group, mode}] as notified"""
    unresolved: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """configured targets that named no active user or known team"""


class IncidentPostmortemFlag(IdMixin, Base):
    """Set once and kept: impact that later shrinks does not undo the need for a review."""

    __tablename__ = "incident_postmortem_flags"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    at: Mapped[datetime]
    reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
