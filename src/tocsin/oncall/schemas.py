"""API shapes of schedules, escalation policies and pages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, model_validator

from tocsin.schemas import Input, Output

Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=10000)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from None
    return value


Zone = Annotated[str, AfterValidator(_zone)]


def _not_reserved(value: str) -> str:
    """`new` is the web UI's create page (`/oncall/schedules/new`), so an item called that
    could never be opened there."""
    if value == "new":
        raise ValueError("'new' is reserved for the create page; choose another slug")
    return value


ItemSlug = Annotated[Slug, AfterValidator(_not_reserved)]


class RestrictionIn(Input):
    weekday: int | None = Field(default=None, ge=0, le=6)
    """0 = Monday; none means every day"""
    start: dt.time
    """local wall time in the layer's zone"""
    minutes: int = Field(ge=1, le=7 * 24 * 60)


class _Layer(Input):
    name: Name = "Layer"
    time_zone: Zone = "UTC"
    rotation: Literal["daily", "weekly", "custom"] = "weekly"
    turn_minutes: int | None = Field(default=None, ge=60, le=366 * 24 * 60)
    """length of a custom turn in wall-clock minutes (at least an hour)"""
    start_date: dt.date
    handoff_time: dt.time = dt.time(9, 0)
    restrictions: list[RestrictionIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _turn(self) -> _Layer:
        if self.rotation == "custom" and self.turn_minutes is None:
            raise ValueError("turn_minutes is needed for a custom rotation")
        return self

    @property
    def minutes(self) -> int:
        if self.rotation == "daily":
            return 24 * 60
        if self.rotation == "weekly":
            return 7 * 24 * 60
        assert self.turn_minutes is not None
        return self.turn_minutes


class LayerIn(_Layer):
    members: list[int] = Field(default_factory=list, max_length=100)
    """user ids in rotation order"""


class ScheduleIn(Input):
    slug: ItemSlug
    name: Name
    description: Text = ""
    team: Slug | None = None
    """owning team's slug"""
    layers: list[LayerIn] = Field(default_factory=list, max_length=20)
    """lowest precedence first: later layers override earlier ones"""


class LayerSpec(_Layer):
    """A layer in a configuration file: people by e-mail address."""

    members: list[Email] = Field(default_factory=list, max_length=100)


class ScheduleSpec(Input):
    """The `Schedule` kind of configuration as code (the slug is `metadata.slug`)."""

    slug: ItemSlug
    name: Name
    description: Text = ""
    team: Slug | None = None
    layers: list[LayerSpec] = Field(default_factory=list, max_length=20)


class LayerOut(Output):
    name: str
    time_zone: str
    turn_minutes: int
    start_date: dt.date
    handoff_time: dt.time
    members: list[int]
    restrictions: list[dict[str, object]]


class OverrideIn(Input):
    user_id: int
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class OverrideOut(Output):
    id: int
    user_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_by: str


class ScheduleOut(Output):
    id: int
    slug: str
    name: str
    description: str
    team: str | None
    layers: list[LayerOut]
    overrides: list[OverrideOut]


class SegmentOut(Output):
    start: dt.datetime
    end: dt.datetime
    user_id: int
    user: str
    source: str
    """the layer's name, or "override" """


class TargetIn(Input):
    type: Literal["user", "schedule", "team"]
    id: int


class LevelIn(Input):
    timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    targets: list[TargetIn] = Field(min_length=1, max_length=20)


class PolicyIn(Input):
    slug: ItemSlug
    name: Name
    description: Text = ""
    team: Slug | None = None
    repeat: int = Field(default=0, ge=0, le=9)
    levels: list[LevelIn] = Field(min_length=1, max_length=20)


class TargetSpec(Input):
    """A target in a configuration file: `user` by e-mail, `schedule` or `team` by slug."""

    type: Literal["user", "schedule", "team"]
    ref: Annotated[str, StringConstraints(min_length=1, max_length=320)]


class LevelSpec(Input):
    timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    targets: list[TargetSpec] = Field(min_length=1, max_length=20)


class EscalationPolicySpec(Input):
    """The `EscalationPolicy` kind of configuration as code, with the services it pages for."""

    slug: ItemSlug
    name: Name
    description: Text = ""
    team: Slug | None = None
    repeat: int = Field(default=0, ge=0, le=9)
    levels: list[LevelSpec] = Field(min_length=1, max_length=20)
    services: list[Slug] = Field(default_factory=list)


class PolicyOut(Output):
    id: int
    slug: str
    name: str
    description: str
    team: str | None
    repeat: int
    levels: list[LevelIn]
    services: list[str]


class ServicePolicyIn(Input):
    policy: Slug


class WhoLevel(Output):
    level: int
    user_ids: list[int]
    users: list[str]


class WhoOut(Output):
    service: str
    policy: str | None
    at: dt.datetime
    levels: list[WhoLevel]


class ShiftOut(Output):
    schedule: str
    schedule_name: str
    start: dt.datetime
    end: dt.datetime


class PageLogOut(Output):
    at: dt.datetime
    kind: str
    text: str
    actor: str


class PageOut(Output):
    id: int
    title: str
    summary: str
    service: str | None
    policy: str | None
    dedup_key: str
    incident_id: int | None
    alert_group_id: int | None
    status: str
    round: int
    level: int
    assigned_user_id: int | None
    notified: list[int]
    opened_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    resolved_by: str | None
    log: list[PageLogOut]


class ReassignIn(Input):
    user_id: int | None = None
    policy: Slug | None = None

    @model_validator(mode="after")
    def _one(self) -> ReassignIn:
        if (self.user_id is None) == (self.policy is None):
            raise ValueError("give either user_id or policy")
        return self
