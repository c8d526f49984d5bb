"""Slack war rooms through the Web API (conversations.*, chat.*, users.lookupByEmail).

Every call is a form-encoded POST, which every Web API method accepts; Slack answers HTTP 200
with `{"ok": false, "error": "..."}` for refusals and 429 with Retry-After when rate limited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import httpx

from tocsin.incidents.warrooms import naming
from tocsin.incidents.warrooms.adapters.base import AdapterError, ChatMessage, NameTaken, Room

PERMANENT = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "no_permission",
        "restricted_action",
        "channel_not_found",
        "message_not_found",
    }
)
ALREADY_DONE = frozenset(
    {"already_in_channel", "not_in_channel", "already_pinned", "already_archived", "not_archived"}
)
PERMALINK = re.compile(r"/archives/(?P<channel>[A-Z0-9]+)/p(?P<sec>\d{10})(?P<micro>\d{6})")


def _seconds(value: str | None) -> float | None:
    """Slack's Retry-After is a whole number of seconds."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class SlackAdapter:
    platform = "slack"
    label = "Slack"

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        self._bot_user: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            response = await self._client.post(method, data=params)
        except httpx.HTTPError as exc:
            raise AdapterError(f"Slack {method}: {exc}") from exc
        if response.status_code == 429:
            wait = _seconds(response.headers.get("Retry-After"))
            after = "" if wait is None else f"; retry after {wait:g} s"
            raise AdapterError(f"Slack {method}: rate limited{after}", retry_after=wait)
        if response.status_code >= 400:
            raise AdapterError(f"Slack {method}: HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
        if not body.get("ok"):
            error = str(body.get("error", "unknown_error"))
            if error == "name_taken":
                raise NameTaken(f"Slack {method}: {error}")
            raise AdapterError(f"Slack {method}: {error}", permanent=error in PERMANENT, code=error)
        return body

    async def _quiet(self, method: str, **params: Any) -> None:
        """A call whose 'already so' refusal means success (the job may be running again)."""
        try:
            await self.call(method, **params)
        except AdapterError as exc:
            if not any(str(exc).endswith(done) for done in ALREADY_DONE):
                raise

    async def rules(self) -> naming.Rules:
        return naming.SLACK

    async def bot_user(self) -> str:
        if self._bot_user is None:
            self._bot_user = str((await self.call("auth.test"))["user_id"])
        return self._bot_user

    async def create_room(self, name: str, *, private: bool, topic: str) -> Room:
        body = await self.call(
            "conversations.create", name=name, is_private="true" if private else "false"
        )
        channel = body["channel"]
        channel_id = str(channel["id"])
        if topic:
            await self.call("conversations.setTopic", channel=channel_id, topic=topic[:250])
        return Room(
            external_id=channel_id,
            name=str(channel.get("name", name)),
            url=f"https://slack.com/app_redirect?channel={channel_id}",
        )

    async def resolve_users(self, emails: Iterable[str]) -> dict[str, str]:
        found = {}
        for email in emails:
            try:
                body = await self.call("users.lookupByEmail", email=email)
            except AdapterError as exc:
                if str(exc).endswith("users_not_found"):
                    continue
                raise
            found[email] = str(body["user"]["id"])
        return found

    async def members(self, room_id: str) -> set[str]:
        members: set[str] = set()
        cursor = ""
        while True:
            params: dict[str, Any] = {"channel": room_id, "limit": 200}
            if cursor:
                params["cursor"] = cursor
            body = await self.call("conversations.members", **params)
            members.update(str(m) for m in body.get("members", []))
            cursor = str((body.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        members.discard(await self.bot_user())
        return members

    async def invite(self, room_id: str, user_ids: set[str]) -> None:
        if user_ids:
            await self._quiet(
                "conversations.invite", channel=room_id, users=",".join(sorted(user_ids))
            )

    async def remove(self, room_id: str, user_ids: set[str]) -> None:
        for user in sorted(user_ids):
            await self._quiet("conversations.kick", channel=room_id, user=user)

    async def post(self, room_id: str, text: str, *, key: str) -> None:
        await self.call("chat.postMessage", channel=room_id, text=text)

    async def fetch_message(self, room_id: str, message_id: str) -> ChatMessage:
        body = await self.call(
            "conversations.history",
            channel=room_id,
            latest=message_id,
            inclusive="true",
            limit=1,
        )
        messages = [m for m in body.get("messages", []) if m.get("ts") == message_id]
        if not messages:
            raise AdapterError("Slack: message_not_found", permanent=True)
        message = messages[0]
        link = await self.call("chat.getPermalink", channel=room_id, message_ts=message_id)
        return ChatMessage(
            external_id=message_id,
            author=str(message.get("user") or message.get("username") or "unknown"),
            text=str(message.get("text", "")),
            permalink=str(link["permalink"]),
        )

    async def archive(self, room_id: str, *, topic: str) -> None:
        await self._quiet("conversations.archive", channel=room_id)

    async def unarchive(self, room_id: str, *, topic: str) -> None:
        await self._quiet("conversations.unarchive", channel=room_id)

    async def make_private(self, room_id: str) -> bool:
        # Only an Enterprise Grid org admin token may convert a public channel
        # (admin.conversations.convertToPrivate); a bot token cannot, so the room is replaced.
        return False

    async def pin(self, room_id: str, message_id: str) -> None:
        await self._quiet("pins.add", channel=room_id, timestamp=message_id)

    def parse_permalink(self, permalink: str) -> tuple[str, str] | None:
        match = PERMALINK.search(permalink)
        if match is None:
            return None
        return match["channel"], f"{match['sec']}.{match['micro']}"

    async def aclose(self) -> None:
        await self._client.aclose()
