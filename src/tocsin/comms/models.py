"""Communications tables. The log table is append-only: database triggers refuse changes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.clock import utcnow
from tocsin.db.base import Base, IdMixin, JSONType


class CommsLogEntry(IdMixin, Base):
    """One external communication, exactly as sent, chained to the entry before it.

    `seq` is unique and gap-free, so a removed row shows as a gap; `prev_hash` and `hash` make
    an altered row break the chain from that point on."""

    __tablename__ = "comms_log_entries"

    seq: Mapped[int] = mapped_column(unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(64))
    audience: Mapped[str] = mapped_column(sa.String(64))
    recipients: Mapped[str] = mapped_column(sa.Text)
    text: Mapped[str] = mapped_column(sa.Text)
    actor_type: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(sa.String(320))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class CommsTemplate(IdMixin, Base):
    """One version of the template for an audience (and optionally one severity). Edits add a
    version; the newest wins; the shipped defaults apply until the first edit."""

    __tablename__ = "comms_templates"
    __table_args__ = (sa.UniqueConstraint("audience", "severity", "version"),)

    audience: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(50), default="")
    """empty: every severity without a template of its own"""
    version: Mapped[int]
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    author_label: Mapped[str] = mapped_column(sa.String(320))


class CommsUpdate(IdMixin, Base):
    """An update written once: technical details for responders, business impact for all."""

    __tablename__ = "comms_updates"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    technical_details: Mapped[str] = mapped_column(sa.Text, default="")
    customers_affected: Mapped[str] = mapped_column(sa.Text, default="")
    customer_experience: Mapped[str] = mapped_column(sa.Text, default="")
    workaround: Mapped[str] = mapped_column(sa.Text, default="")
    next_update_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    author_id: Mapped[int | None]
    author_label: Mapped[str] = mapped_column(sa.String(320))


class CommsMessage(IdMixin, Base):
    """An outgoing message for one audience: draft, approved, then published (and logged)."""

    __tablename__ = "comms_messages"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    update_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("comms_updates.id", ondelete="SET NULL")
    )
    audience: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(32))
    recipients: Mapped[str] = mapped_column(sa.Text, default="")
    text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    revision: Mapped[int] = mapped_column(default=1)
    """bumped by every edit, so an approval names the exact text it approved"""
    author_id: Mapped[int | None]
    author_label: Mapped[str] = mapped_column(sa.String(320))
    approved_by_id: Mapped[int | None]
    approved_by_label: Mapped[str | None] = mapped_column(sa.String(320))
    approved_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    log_seq: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommsCadence(IdMixin, Base):
    """Per incident and stakeholder group: which due time was already reminded/escalated."""

    __tablename__ = "comms_cadence"
    __table_args__ = (sa.UniqueConstraint("incident_id", "group"),)

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    group: Mapped[str] = mapped_column(sa.String(100))
    reminded_due: Mapped[datetime | None]
    escalated_due: Mapped[datetime | None]


class CommsExecutiveBrief(IdMixin, Base):
    """One brief to one executive for one threshold: the unique key makes it once only."""

    __tablename__ = "comms_executive_briefs"
    __table_args__ = (sa.UniqueConstraint("incident_id", "threshold", "executive"),)

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    threshold: Mapped[str] = mapped_column(sa.String(64))
    executive: Mapped[str] = mapped_column(sa.String(320))
    why: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    log_seq: Mapped[int]


class CommsMediaInquiry(IdMixin, Base):
    __tablename__ = "comms_media_inquiries"

    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    outlet: Mapped[str] = mapped_column(sa.String(200))
    reporter: Mapped[str] = mapped_column(sa.String(200))
    question: Mapped[str] = mapped_column(sa.Text)
    deadline: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    """open, answered"""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(320))
    statement: Mapped[str | None] = mapped_column(sa.Text)
    answered_by: Mapped[str | None] = mapped_column(sa.String(320))
    answered_at: Mapped[datetime | None]
    log_seq: Mapped[int | None]


class CommsStatement(IdMixin, Base):
    """One version of the incident's single approved statement; versions are never changed."""

    __tablename__ = "comms_statements"
    __table_args__ = (sa.UniqueConstraint("incident_id", "version"),)

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str] = mapped_column(sa.String(320))


class CommsStatementAck(IdMixin, Base):
    __tablename__ = "comms_statement_acks"
    __table_args__ = (sa.UniqueConstraint("statement_id", "team"),)

    statement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("comms_statements.id", ondelete="CASCADE"), index=True
    )
    team: Mapped[str] = mapped_column(sa.String(32))
    by: Mapped[str] = mapped_column(sa.String(320))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CommsStakeholderGroup(IdMixin, Base):
    """Where a stakeholder group's messages go: the group is named like its audience, and its
    published messages are e-mailed to each address and posted to its chat channel, if any."""

    __tablename__ = "comms_stakeholder_groups"

    audience: Mapped[str] = mapped_column(sa.String(32), unique=True)
    emails: Mapped[list[str]] = mapped_column(JSONType, default=list)
    chat_channel: Mapped[str] = mapped_column(sa.String(100), default="")
    """a Slack channel ID (C0123…); empty: no chat delivery"""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(sa.String(320))


class CommsDelivery(IdMixin, Base):
    """One published message (or executive brief) on its way to one address. Sending happens
    in a job, never in the request; the comms log gets an entry when it was actually sent."""

    __tablename__ = "comms_deliveries"

    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    """what was delivered where (message-12/email/ops@example.com): each at most once"""
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("comms_messages.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(64))
    """what was published: message or executive_brief"""
    audience: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(16))
    """email or chat"""
    address: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(500))
    text: Mapped[str] = mapped_column(sa.Text)
    """the exact text published, fixed when it was published"""
    actor_type: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(sa.String(320))
    """who published it: the delivery is on their behalf"""
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    """queued, sent, failed (retried until the job gives up)"""
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    provider_id: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    log_seq: Mapped[int | None]
