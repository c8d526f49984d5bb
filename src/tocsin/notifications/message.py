"""What one notification says, independent of the channel that carries it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Urgency(StrEnum):
    HIGH = "high"
    """a page: someone must act now (contact rules for high urgency apply)"""
    LOW = "low"
    """information: no one is woken up for it"""


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str
    urgency: Urgency
    source: str
    """what sent it, e.g. "incident.escalation", "oncall.page", "incident.bridge" """
    dedup_key: str
    """the same key for the same user is delivered once, however often it is asked for"""
    incident_id: int | None = None
    page_id: int | None = None
    """the on-call page this notification belongs to; acknowledging it stops escalation"""
    link: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Notification:
        return cls(**{**data, "urgency": Urgency(data["urgency"])})
