"""API shapes of contact methods, notification rules and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from tocsin.notifications.message import Urgency
from tocsin.notifications.models import Channel
from tocsin.notifications.rules import MAX_DELAY_MINUTES
from tocsin.schemas import Input, Output

Label = Annotated[str, StringConstraints(max_length=100)]
Address = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class ContactMethodIn(Input):
    channel: Channel
    address: Address
    """e-mail address, E.164 phone number (+4915112345678), webhook URL, Slack member ID
    (U024BE7LH) or Matrix user ID (@ada:example.org)"""
    label: Label = ""


class ContactMethodPatch(Input):
    label: Label | None = None
    address: Address | None = None


class ContactMethodOut(Output):
    id: int
    user_id: int
    channel: Channel
    label: str
    address: str
    verified_at: datetime | None
    created_at: datetime


class VerifyIn(Input):
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ContactMethodCreated(ContactMethodOut):
    secret: str | None = None
    """webhooks: the signing secret, shown once, like an API token"""


class RuleIn(Input):
    contact_method_id: int
    urgency: Urgency
    delay_minutes: int = Field(default=0, ge=0, le=MAX_DELAY_MINUTES)


class RuleOut(Output):
    id: int
    user_id: int
    contact_method_id: int
    urgency: Urgency
    delay_minutes: int


class DeliveryOut(Output):
    id: int
    user_id: int
    contact_method_id: int | None
    channel: Channel
    address: str
    urgency: Urgency
    source: str
    subject: str
    incident_id: int | None
    page_id: int | None
    delay_minutes: int
    due_at: datetime
    status: str
    attempts: int
    provider_id: str | None
    error: str | None
    sent_at: datetime | None
    created_at: datetime
