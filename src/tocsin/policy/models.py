"""Policy tables: the severity ladder, and one policy per severity.

Each policy section is JSON validated by the pydantic shapes in schemas.py: sections are read
and replaced whole, and their shape is richer than columns would carry comfortably.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class Severity(IdMixin, TimestampMixin, Base):
    __tablename__ = "severities"

    slug: Mapped[str] = mapped_column(sa.String(50), unique=True)
    """stable key other records refer to (SLAs, vendor contracts); never renamed"""
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    """what people see and say, e.g. SEV1 or P1; free to rename"""
    rank: Mapped[int]
    """1 is the most severe; ranks are always 1..n without gaps"""
    definition: Mapped[str] = mapped_column(sa.Text, default="")


class SeverityPolicy(IdMixin, TimestampMixin, Base):
    __tablename__ = "severity_policies"

    severity_id: Mapped[int] = mapped_column(
        sa.ForeignKey("severities.id", ondelete="CASCADE"), unique=True
    )
    kpi_targets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    escalation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    postmortem: Mapped[dict[str, Any]] = mapped_column(default=dict)
    communications: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    executive_notification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    technical_resolution: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """checklist items [{id, text}] that close technical resolution"""
    business_resolution: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """checklist items [{id, text}] that close business resolution"""
