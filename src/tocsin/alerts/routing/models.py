"""Tables of routing: the rules people declare, and the tickets they open (internal, and
mirrored to an external tracker when the rule names one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class RoutingRule(IdMixin, TimestampMixin, Base):
    """One rule of a service or of every service of a team; the first that matches wins."""

    __tablename__ = "alert_routing_rules"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    service_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=100)
    """Lower runs first; a service's own rules always run before its team's."""
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    """Label matchers (as silences have them); none: every alert matches."""
    action: Mapped[str] = mapped_column(sa.String(16))
    """page, incident or ticket"""
    severity_label: Mapped[str] = mapped_column(sa.String(100), default="severity")
    severity_map: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """Label value (or event severity) → incident severity slug."""
    default_severity: Mapped[str] = mapped_column(sa.String(100), default="sev3")
    page: Mapped[bool] = mapped_column(default=True)
    """For action incident: also page the on-call (an incident nobody hears about waits)."""
    visibility: Mapped[str] = mapped_column(sa.String(16), default="public")
    """For action incident: public, or private (seen only by its members and admins)."""
    tracker: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """For action ticket: the external tracker that also gets the ticket (kind, project, …)."""


class AlertTicket(IdMixin, TimestampMixin, Base):
    """Work that should be done, but not by waking someone: opened by a `ticket` rule."""

    __tablename__ = "alert_tickets"

    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("alert_groups.id", ondelete="SET NULL"), unique=True
    )
    rule_slug: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(500))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    severity: Mapped[str | None] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)
    """open or closed"""
    alerts_resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(sa.String(400))
    tracker: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The rule's tracker as it was when the ticket opened; None: internal only."""
    external_status: Mapped[str | None] = mapped_column(sa.String(16))
    """pending (queued), waiting (for the tracker's search to show what an earlier attempt
    may have filed), open (filed there), resolved (told the alerts resolved), failed (gave
    up); None: internal only."""
    external_key: Mapped[str | None] = mapped_column(sa.String(100))
    external_url: Mapped[str | None] = mapped_column(sa.String(1000))
    external_attempted_at: Mapped[datetime | None]
    """When the last call creating the issue started, committed before it is made: until its
    answer is recorded the issue may exist, so no other is created before the tracker's search
    could show it."""
    external_waiting_until: Mapped[datetime | None]
    """While the status is waiting: when the filing is tried again, the search then bound to
    show an issue the earlier attempt may have filed."""
    external_error: Mapped[str | None] = mapped_column(sa.Text)
    """The tracker's last refusal, kept until a later call succeeds, so people see why."""
    external_resolved_at: Mapped[datetime | None]
    """When the tracker was told the alerts resolved (comment, and transition if set)."""
