"""Contact methods, notification rules, deliveries and the pages whose delayed steps stop.

A delivery copies the address and channel it was sent to: editing or deleting a contact
method later must not rewrite the record of what was actually sent where.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, IdMixin, TimestampMixin


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    WEBHOOK = "webhook"
    SLACK = "slack"
    """a direct message from the Slack bot of the war rooms"""
    MATRIX = "matrix"
    """a direct room with the Matrix bot of the war rooms"""


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    """waiting for its delay or for the worker"""
    SENT = "sent"
    """the provider accepted it"""
    FAILED = "failed"
    """the last attempt failed; the job may still retry, or gave up (see the job)"""
    CANCELLED = "cancelled"
    """the page was acknowledged before this delayed step was due"""


class ContactMethod(IdMixin, TimestampMixin, Base):
    __tablename__ = "notification_contact_methods"
    __table_args__ = (sa.UniqueConstraint("user_id", "channel", "address"),)

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    address: Mapped[str] = mapped_column(sa.String(2000))
    """an e-mail address, an E.164 phone number, an https URL or a chat user id, by channel"""
    secret: Mapped[str | None] = mapped_column(sa.String(200))
    """webhooks only: the key of the HMAC signature the receiver checks"""
    verified_at: Mapped[datetime | None]
    verification_code: Mapped[str | None] = mapped_column(sa.String(64))
    """the code last sent to prove the address reaches its owner; cleared once used"""
    verification_failures: Mapped[int] = mapped_column(default=0)
    """wrong codes entered since it was sent: a handful voids it, so it cannot be guessed"""


class NotificationRule(IdMixin, TimestampMixin, Base):
    """One step: "for high urgency, use this contact method after N minutes"."""

    __tablename__ = "notification_rules"
    __table_args__ = (sa.UniqueConstraint("contact_method_id", "urgency", "delay_minutes"),)

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_method_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notification_contact_methods.id", ondelete="CASCADE"), index=True
    )
    urgency: Mapped[str] = mapped_column(sa.String(8))
    delay_minutes: Mapped[int] = mapped_column(default=0)


class Delivery(IdMixin, TimestampMixin, Base):
    __tablename__ = "notification_deliveries"
    __table_args__ = (sa.Index("ix_notification_deliveries_page_status", "page_id", "status"),)

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_method_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("notification_contact_methods.id", ondelete="SET NULL")
    )
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    """user + dedup key + channel target + delay: the same step is recorded once"""
    channel: Mapped[str] = mapped_column(sa.String(16))
    address: Mapped[str] = mapped_column(sa.String(2000))
    urgency: Mapped[str] = mapped_column(sa.String(8))
    source: Mapped[str] = mapped_column(sa.String(100))
    dedup_key: Mapped[str] = mapped_column(sa.String(200))
    subject: Mapped[str] = mapped_column(sa.String(500))
    incident_id: Mapped[int | None]
    page_id: Mapped[int | None]
    delay_minutes: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(sa.String(16), default=DeliveryStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    provider_id: Mapped[str | None] = mapped_column(sa.String(200))
    error: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[datetime | None]
    job_id: Mapped[int | None]


class CancelledPage(Base):
    """A page acknowledged (or otherwise stopped): delayed steps of it are not sent, even
    those expanded after the acknowledgement because the dispatch job ran late."""

    __tablename__ = "notification_cancelled_pages"

    page_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    cancelled_at: Mapped[datetime]
