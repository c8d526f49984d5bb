"""API shapes of workstreams, tasks, decisions and conflicts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from tocsin.schemas import Input, Output

Priority = Literal["P1", "P2", "P3", "P4"]
TaskStatus = Literal["open", "in_progress", "blocked", "done"]
WorkstreamStatus = Literal["active", "paused", "done"]
TeamSlug = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(max_length=10000)]
Email = Annotated[str, StringConstraints(min_length=3, max_length=320)]


class WorkstreamCreate(Input):
    team: TeamSlug
    goal: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    lead: Email | None = None
    """email of the workstream's lead"""


class WorkstreamPatch(Input):
    goal: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    lead: Email | None = None
    status: WorkstreamStatus | None = None


class WorkstreamOut(Output):
    id: int
    team: str
    goal: str
    lead: str | None
    status: str
    created_at: datetime


class TaskCreate(Input):
    title: Short
    team: TeamSlug
    priority: Priority = "P3"
    owner: Email | None = None
    due_at: AwareDatetime | None = None
    workstream_id: int | None = None


class TaskPatch(Input):
    status: TaskStatus | None = None
    owner: Email | None = None
    priority: Priority | None = None
    due_at: AwareDatetime | None = None


class TaskOut(Output):
    id: int
    title: str
    team: str
    priority: str
    owner: str | None
    due_at: datetime | None
    status: str
    workstream_id: int | None
    created_at: datetime
    updated_at: datetime


class ConflictRaise(Input):
    other_task_id: int
    note: Text = ""
    """why both cannot happen: e.g. two teams want opposite changes"""


class DissentIn(Input):
    who: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    note: Text = ""


class DecisionCreate(Input):
    decision: Annotated[str, StringConstraints(min_length=1, max_length=10000)]
    options: list[Short] = Field(default_factory=list, max_length=50)
    """the options considered, including the one chosen"""
    rationale: Text = ""
    dissent: list[DissentIn] = Field(default_factory=list, max_length=50)


class DissentOut(Output):
    who: str
    note: str


class DecisionOut(Output):
    id: int
    decision: str
    options: list[str]
    rationale: str
    decided_by: str
    dissent: list[DissentOut]
    task_ids: list[int]
    at: datetime


class ConflictOut(Output):
    id: int
    task: TaskOut
    other_task: TaskOut
    note: str
    raised_by: str
    raised_at: datetime
    decision_id: int | None
