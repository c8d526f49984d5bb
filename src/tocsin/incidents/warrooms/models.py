"""War-room tables: the chat rooms opened for an incident, and the messages of its web room."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class WarRoom(IdMixin, TimestampMixin, Base):
    """One room on one chat platform. The row exists from the moment someone (or the
    declaration) asks for it; the job that creates it fills in the platform's ids, so a chat
    outage shows as a room still `pending` rather than as a failed declaration."""

    __tablename__ = "incident_war_rooms"
    __table_args__ = (sa.UniqueConstraint("incident_id", "platform"),)

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(sa.String(20))
    """slack or matrix (the web room needs no row: every incident page has it)"""
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    """pending, open, archived (the incident closed) or failed"""
    private: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    members: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """platform ids of the people the last membership sync left in the room"""
    opened_by: Mapped[str] = mapped_column(sa.String(400))
    posted_through: Mapped[int | None]
    """the last timeline event whose news the room has been given (posts go out in order)"""
    posting_until: Mapped[datetime | None]
    """a worker posting to the room holds it until then, so posts never race each other"""
    sync_token: Mapped[str | None] = mapped_column(sa.String(500))
    """where the last read of the room's reactions stopped (Matrix pagination token)"""


class WarRoomMessage(IdMixin, Base):
    """A message of the web room, or a chat message pinned from Slack or Matrix."""

    __tablename__ = "incident_war_room_messages"
    __table_args__ = (sa.UniqueConstraint("incident_id", "platform", "external_id"),)

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(sa.String(20), default="web")
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    """the platform's message id (Slack ts, Matrix event id); none for the web room"""
    permalink: Mapped[str | None] = mapped_column(sa.String(2000))
    author_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    author_label: Mapped[str] = mapped_column(sa.String(400))
    body: Mapped[str] = mapped_column(sa.Text)
    posted_at: Mapped[datetime]
    pinned_at: Mapped[datetime | None]
    pinned_by: Mapped[str | None] = mapped_column(sa.String(400))


# The listener that adds war-room jobs to incident transactions lives wherever these tables do.
from tocsin.incidents.warrooms import outbox as _outbox  # noqa: E402, F401
