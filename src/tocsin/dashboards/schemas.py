"""API shapes of the dashboards: /api/v1/dashboards/command and /api/v1/dashboards/stakeholder."""

from __future__ import annotations

from datetime import datetime

from tocsin.schemas import Output


class RoleHolder(Output):
    role: str
    label: str
    email: str
    name: str


class ClockOut(Output):
    """A running KPI or customer-tier SLA clock."""

    name: str
    """e.g. "time to acknowledge", or "gold: resolution SLA" """
    kind: str
    """kpi or sla"""
    status: str
    """kpi: running, met, breached…; sla: on_track, at_risk, breached, met"""
    deadline: datetime | None = None
    time_left_seconds: int | None = None
    overrun_seconds: int | None = None


class TaskBrief(Output):
    id: int
    title: str
    priority: str
    status: str
    team: str
    owner: str | None = None
    due_at: datetime | None = None


class TimelineBrief(Output):
    at: datetime
    kind: str
    text: str
    actor: str


class CommandCard(Output):
    """One active incident as the incident commander's board shows it."""

    id: int
    ref: str
    title: str
    severity: str
    severity_name: str
    status: str
    visibility: str
    opened_at: datetime
    age_seconds: int
    services: list[str]
    roles: list[RoleHolder]
    missing_roles: list[str]
    """role slugs an active incident of this severity should have and lacks (IC first)"""
    next_update_due: datetime | None
    update_state: str
    """none, on_track, due_soon or overdue"""
    overdue_by_seconds: int | None = None
    clocks: list[ClockOut]
    worst_clock: str | None
    """breached or at_risk when any clock is, else null"""
    open_tasks: int
    tasks: list[TaskBrief]
    """the most urgent open tasks (at most five)"""
    recent: list[TimelineBrief]
    """the latest timeline entries (at most three), newest first"""


class CommandView(Output):
    generated_at: datetime
    incidents: list[CommandCard]
    without_commander: int
    overdue_updates: int


class StakeholderCard(Output):
    """Business impact only: nothing here names a service, a person, an alert or a note."""

    ref: str
    title: str
    severity: str
    severity_name: str
    status: str
    plain_status: str
    opened_at: datetime
    customers: list[str]
    customer_tiers: list[str]
    business_units: list[str]
    customers_affected: int | None
    regulatory: bool
    next_update_due: datetime | None


class StakeholderView(Output):
    generated_at: datetime
    incidents: list[StakeholderCard]
