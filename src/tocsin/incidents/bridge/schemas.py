"""API shapes of the bridge: the link, the cadence, the next due update and adherence."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, StringConstraints

from tocsin.schemas import Input, Output

Text = Annotated[str, StringConstraints(max_length=20_000)]


class UpdateIn(Input):
    """A structured bridge update. `next_due` defaults to now plus the severity's cadence."""

    current_status: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    actions: Text = ""
    """actions under way"""
    next_steps: Text = ""
    next_due: AwareDatetime | None = None


class UpdateOut(Output):
    id: int
    at: datetime
    current_status: str
    actions: str
    next_steps: str
    next_due: datetime | None
    cadence_minutes: int | None
    author: str


class LinkIn(Input):
    """Set the conference link by hand; an empty value goes back to the generated one."""

    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^(https?://\S+)?$")]


class AdherenceOut(Output):
    due: int
    on_time: int
    late: int
    missed: int
    late_by_seconds: list[int]
    worst_late_by_seconds: int | None


class BridgeOut(Output):
    ref: str
    url: str
    url_set_by_hand: bool
    cadence_minutes: int | None
    """None: this severity has no update cadence"""
    last_update_at: datetime | None
    next_due: datetime | None
    overdue: bool
    overdue_by_seconds: int | None
    incident_commander: str | None
    active: bool
    adherence: AdherenceOut
