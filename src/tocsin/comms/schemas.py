"""API shapes of communications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from tocsin.comms.templates import Audience
from tocsin.schemas import Input, Output

Text = Annotated[str, StringConstraints(max_length=20_000)]
Channel = Literal["email", "chat", "status-page", "sms", "phone", "meeting", "webhook", "other"]


class UpdateIn(Input):
    technical_details: Text = ""
    """for responders only; never given to any other audience's template"""
    customers_affected: Text = ""
    customer_experience: Text = ""
    workaround: Text = ""
    next_update_at: datetime | None = None


class UpdateOut(Output):
    id: int
    technical_details: str
    customers_affected: str
    customer_experience: str
    workaround: str
    next_update_at: datetime | None
    created_at: datetime
    author: str


class PreviewIn(UpdateIn):
    audiences: list[Audience] = Field(default_factory=lambda: list(Audience), min_length=1)


class Rendering(Output):
    audience: Audience
    text: str
    template_version: int
    """0 for the shipped default"""


class TemplateIn(Input):
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class TemplateOut(Output):
    audience: Audience
    severity: str
    version: int
    body: str
    created_at: datetime | None
    author: str


class MessageIn(Input):
    audience: Audience
    channel: Channel = "email"
    recipients: Annotated[str, StringConstraints(max_length=5000)] = ""
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = None
    """left out, the message is rendered from `update_id` with the audience's template"""
    update_id: int | None = None


class MessageEdit(Input):
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = None
    recipients: Annotated[str, StringConstraints(max_length=5000)] | None = None
    channel: Channel | None = None


class MessageOut(Output):
    id: int
    incident: str
    audience: str
    channel: str
    recipients: str
    text: str
    status: Literal["draft", "approved", "published"]
    revision: int
    author: str
    approved_by: str | None
    approved_at: datetime | None
    published_at: datetime | None
    log_seq: int | None


class LogEntryOut(Output):
    seq: int
    at: str
    """exactly as hashed: ISO 8601 UTC with microseconds"""
    incident_id: int | None
    kind: str
    channel: str
    audience: str
    recipients: str
    text: str
    actor_type: str
    actor_id: int | None
    actor_label: str
    prev_hash: str
    hash: str


class GroupCadence(Output):
    group: str
    cadence_minutes: int
    last_update_at: datetime | None
    next_due: datetime | None
    overdue: bool
    on_time: int
    late: int
    missed: int


class VerifyOut(Output):
    ok: bool
    entries: int
    first_break_seq: int | None
    reason: str | None


class BriefOut(Output):
    threshold: str
    executive: str
    why: str
    at: datetime
    log_seq: int


class InquiryIn(Input):
    incident: Annotated[str, StringConstraints(max_length=20)] | None = None
    """the incident it is about (INC-42), if any"""
    outlet: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    reporter: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    question: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    deadline: datetime | None = None


class InquiryAnswer(Input):
    statement: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class InquiryOut(Output):
    id: int
    incident: str | None
    outlet: str
    reporter: str
    question: str
    deadline: datetime | None
    status: str
    created_at: datetime
    created_by: str
    statement: str | None
    answered_by: str | None
    answered_at: datetime | None
    log_seq: int | None


class StatementIn(Input):
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class StatementAckIn(Input):
    team: Literal["support", "sales", "account_management"]


class StatementAckOut(Output):
    team: str
    by: str
    at: datetime


class StatementOut(Output):
    incident: str
    version: int
    text: str
    approved_by: str
    created_at: datetime
    diff: str
    """unified diff from the previous version (empty for the first)"""
    acknowledged: list[StatementAckOut]
    unacknowledged: list[str]


Email = Annotated[
    str, StringConstraints(pattern=r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$", max_length=320)
]
SlackChannel = Annotated[str, StringConstraints(pattern=r"^([CG][A-Z0-9]{2,40})?$")]


class GroupIn(Input):
    emails: list[Email] = Field(default_factory=list, max_length=200)
    """every address receives the group's published messages by e-mail"""
    chat_channel: SlackChannel = ""
    """a Slack channel ID (C0123ABC); empty for none"""


class GroupOut(Output):
    audience: Audience
    emails: list[str]
    chat_channel: str
    updated_at: datetime | None
    updated_by: str | None


class DeliveryOut(Output):
    id: int
    kind: str
    message_id: int | None
    audience: str
    channel: str
    address: str
    status: Literal["queued", "sent", "failed"]
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    log_seq: int | None


class TemplatePreviewIn(Input):
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    incident: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    """the incident whose latest update the template is rendered with (INC-42)"""


class TemplatePreviewOut(Output):
    audience: Audience
    incident: str
    update_id: int | None
    """None when the incident has no update yet: only its own fields are filled in"""
    text: str
