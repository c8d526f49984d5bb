"""What a chat platform must offer to host war rooms.

Everything Tocsin does with a chat room reduces to these few calls, so a new platform
(Microsoft Teams through Graph, Mattermost, Zulip) is one class implementing `ChatAdapter`
plus a branch in `adapters.for_platform`: the service, the jobs, naming and membership sync
are shared. Adapters are only ever called from durable jobs, never inside a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from tocsin.incidents.warrooms.naming import Rules


class AdapterError(Exception):
    """The platform refused or could not be reached. Transient errors are retried by the
    job queue; permanent ones (bad token, missing scope) dead-letter the job at once."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        """the platform's own error code (Slack `error`, Matrix `errcode`), when it gave one"""
        self.status = status
        """the HTTP status of the refusal, when there was an answer"""
        self.retry_after = retry_after
        """seconds the platform asked to wait before trying again (rate limits)"""


class NameTaken(AdapterError):
    """The room name is in use: the caller tries the next candidate name."""


@dataclass(frozen=True)
class Room:
    external_id: str
    name: str
    url: str


@dataclass(frozen=True)
class ChatMessage:
    external_id: str
    author: str
    text: str
    permalink: str


class ChatAdapter(Protocol):
    platform: str
    label: str
    """the platform's name for people, e.g. Slack"""

    async def rules(self) -> Rules:
        """The naming rules of this platform (some depend on the server's name)."""
        ...

    async def create_room(self, name: str, *, private: bool, topic: str) -> Room:
        """Create the room; raises NameTaken when the name is in use."""
        ...

    async def resolve_users(self, emails: Iterable[str]) -> dict[str, str]:
        """Platform ids of the people with these e-mail addresses; unknown people are left out."""
        ...

    async def members(self, room_id: str) -> set[str]:
        """Who is in (or invited to) the room now, without the bot itself."""
        ...

    async def invite(self, room_id: str, user_ids: set[str]) -> None: ...

    async def remove(self, room_id: str, user_ids: set[str]) -> None: ...

    async def post(self, room_id: str, text: str, *, key: str) -> None:
        """Post a message; `key` makes a retried post land once where the platform allows."""
        ...

    async def fetch_message(self, room_id: str, message_id: str) -> ChatMessage: ...

    async def archive(self, room_id: str, *, topic: str) -> None:
        """Retire the room when the incident closes; its history stays readable."""
        ...

    async def unarchive(self, room_id: str, *, topic: str) -> None:
        """Bring an archived room back when the incident is re-opened."""
        ...

    async def make_private(self, room_id: str) -> bool:
        """Close the room to everyone not invited; False when the platform cannot do that to
        an existing room, so the caller replaces it with a new private one."""
        ...

    def parse_permalink(self, permalink: str) -> tuple[str, str] | None:
        """(room id, message id) named by a permalink, or None when it is not one."""
        ...

    async def aclose(self) -> None: ...
