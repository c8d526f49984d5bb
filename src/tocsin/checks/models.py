"""Checks, their results, and the secrets their steps reference by name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class Check(IdMixin, TimestampMixin, Base):
    """Definition and live state in one row: the list page reads state for hundreds of checks
    in one query, and the worker updates it in the transaction that stores the result."""

    __tablename__ = "checks"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    interval_seconds: Mapped[int] = mapped_column(default=60)
    jitter_seconds: Mapped[int] = mapped_column(default=10)
    timeout_seconds: Mapped[float] = mapped_column(default=10.0)
    failure_threshold: Mapped[int] = mapped_column(default=3)
    locations: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    generation: Mapped[int] = mapped_column(default=1)
    """bumped when the schedule changes, so runs queued under the old one retire themselves"""

    status: Mapped[str] = mapped_column(sa.String(16), default="unknown")
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_run_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    green_since: Mapped[datetime | None]
    """start of the current unbroken run of passes; the status page guard reads it"""


class CheckResult(IdMixin, Base):
    __tablename__ = "check_results"
    __table_args__ = (sa.Index("ix_check_results_check_started", "check_id", "started_at"),)

    check_id: Mapped[int] = mapped_column(sa.ForeignKey("checks.id", ondelete="CASCADE"))
    location: Mapped[str] = mapped_column(sa.String(100))
    started_at: Mapped[datetime] = mapped_column(index=True)
    ok: Mapped[bool]
    latency_ms: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    """the failing assertion or what went wrong; never contains a secret value"""
    failed_step: Mapped[str | None] = mapped_column(sa.String(200))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    steps: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    trigger: Mapped[str] = mapped_column(sa.String(16), default="schedule")
    """schedule, or manual (run on demand, e.g. from an incident)"""
    requested_by: Mapped[str | None] = mapped_column(sa.String(400))


class CheckSecret(IdMixin, TimestampMixin, Base):
    """A value steps reference as `{{ secrets.NAME }}`, encrypted with a key derived from the
    server's secret key so a copied database alone does not reveal it."""

    __tablename__ = "check_secrets"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    ciphertext: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str] = mapped_column(sa.Text, default="")
