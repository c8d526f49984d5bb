"""API shape of an audit entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tocsin.schemas import Output


class AuditEntryOut(Output):
    id: int
    at: datetime
    actor_type: str
    actor_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
