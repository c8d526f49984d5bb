"""API shapes of war rooms."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints

from tocsin.schemas import Input, Output

ChatPlatform = Literal["slack", "matrix"]


class OpenIn(Input):
    platform: ChatPlatform | None = None
    """one platform; every enabled chat platform when left out"""


class MessageIn(Input):
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class PinIn(Input):
    """A Slack or Matrix message to pin to the timeline: its id, or its permalink."""

    platform: ChatPlatform
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    permalink: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None


class WarRoomOut(Output):
    id: int
    platform: str
    status: str
    """pending (being created; retried while the platform is down), open, archived (the
    incident closed) or failed"""
    private: bool
    name: str | None
    url: str | None
    last_error: str | None
    members: int


class MessageOut(Output):
    id: int
    platform: str
    author: str
    body: str
    posted_at: datetime
    permalink: str | None
    pinned_at: datetime | None
    pinned_by: str | None


class WarRoomsOut(Output):
    platforms: list[str]
    """where war rooms of this installation live"""
    rooms: list[WarRoomOut]
    messages: list[MessageOut]
    """the web room's messages and the chat messages pinned from elsewhere, oldest first"""


class PinQueued(Output):
    status: Literal["queued"]
    job_id: int
