"""Matrix war rooms through the client-server API (v3), as a bot account of the homeserver.

People are found by a template over their e-mail's local part (Matrix has no e-mail lookup
without an identity server); an id the homeserver does not know is left out of the room.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

import httpx

from tocsin.incidents.warrooms import naming
from tocsin.incidents.warrooms.adapters.base import AdapterError, ChatMessage, NameTaken, Room

API = "/_matrix/client/v3"
PERMANENT = frozenset({"M_FORBIDDEN", "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_NOT_FOUND"})
PERMALINK = re.compile(r"matrix\.to/#/(?P<room>[!#][^/?]+)/(?P<event>\$[^?/]+)")


def _q(value: str) -> str:
    return quote(value, safe="")


class MatrixAdapter:
    platform = "matrix"
    label = "Matrix"

    def __init__(
        self, homeserver: str, token: str, user_template: str, *, timeout: float = 10.0
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=homeserver.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        self._user_template = user_template
        self._me: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self._client.request(method, API + path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise AdapterError(f"Matrix {path}: {exc}") from exc
        if response.status_code < 400:
            result: dict[str, Any] = response.json()
            return result
        try:
            error = response.json()
        except ValueError:
            error = {}
        code = str(error.get("errcode", f"HTTP {response.status_code}"))
        message = f"Matrix {path}: {code} {error.get('error', '')}".strip()
        if code == "M_ROOM_IN_USE":
            raise NameTaken(message)
        if response.status_code == 429 or response.status_code >= 500:
            wait = error.get("retry_after_ms")
            retry_after = wait / 1000 if isinstance(wait, int | float) else None
            raise AdapterError(
                message, code=code, status=response.status_code, retry_after=retry_after
            )
        raise AdapterError(
            message, permanent=code in PERMANENT, code=code, status=response.status_code
        )

    async def me(self) -> str:
        if self._me is None:
            self._me = str((await self.call("GET", "/account/whoami"))["user_id"])
        return self._me

    async def server_name(self) -> str:
        return (await self.me()).split(":", 1)[1]

    async def rules(self) -> naming.Rules:
        return naming.matrix(await self.server_name())

    async def create_room(self, name: str, *, private: bool, topic: str) -> Room:
        body = await self.call(
            "POST",
            "/createRoom",
            {
                "room_alias_name": name,
                "name": name,
                "topic": topic,
                "preset": "private_chat" if private else "public_chat",
                "visibility": "private",
            },
        )
        alias = f"#{name}:{await self.server_name()}"
        return Room(
            external_id=str(body["room_id"]), name=alias, url=f"https://matrix.to/#/{_q(alias)}"
        )

    def user_id(self, email: str, server_name: str) -> str:
        localpart = email.split("@", 1)[0].lower()
        return self._user_template.format(localpart=localpart, server_name=server_name)

    async def resolve_users(self, emails: Iterable[str]) -> dict[str, str]:
        server = await self.server_name()
        found = {}
        for email in emails:
            user_id = self.user_id(email, server)
            try:
                await self.call("GET", f"/profile/{_q(user_id)}")
            except AdapterError as exc:
                if "M_NOT_FOUND" in str(exc):
                    continue
                raise
            found[email] = user_id
        return found

    async def members(self, room_id: str) -> set[str]:
        body = await self.call("GET", f"/rooms/{_q(room_id)}/members")
        present = {
            str(event["state_key"])
            for event in body.get("chunk", [])
            if event.get("content", {}).get("membership") in {"join", "invite"}
        }
        present.discard(await self.me())
        return present

    async def invite(self, room_id: str, user_ids: set[str]) -> None:
        for user in sorted(user_ids):
            await self.call("POST", f"/rooms/{_q(room_id)}/invite", {"user_id": user})

    async def remove(self, room_id: str, user_ids: set[str]) -> None:
        for user in sorted(user_ids):
            await self.call(
                "POST",
                f"/rooms/{_q(room_id)}/kick",
                {"user_id": user, "reason": "no longer takes part in the incident"},
            )

    async def post(self, room_id: str, text: str, *, key: str) -> None:
        # The transaction id makes a retried send land once.
        await self.call(
            "PUT",
            f"/rooms/{_q(room_id)}/send/m.room.message/{_q(key)}",
            {"msgtype": "m.text", "body": text},
        )

    async def fetch_message(self, room_id: str, message_id: str) -> ChatMessage:
        event = await self.call("GET", f"/rooms/{_q(room_id)}/event/{_q(message_id)}")
        return ChatMessage(
            external_id=message_id,
            author=str(event.get("sender", "unknown")),
            text=str(event.get("content", {}).get("body", "")),
            permalink=f"https://matrix.to/#/{_q(room_id)}/{_q(message_id)}",
        )

    async def _state(self, room_id: str, kind: str, content: dict[str, Any]) -> None:
        await self.call("PUT", f"/rooms/{_q(room_id)}/state/{kind}", content)

    async def archive(self, room_id: str, *, topic: str) -> None:
        """Matrix has no archive: the topic says the incident is closed and everyone but the
        bot is removed, so the room stops drawing people in; the history stays with the bot."""
        await self._state(room_id, "m.room.topic", {"topic": topic})
        await self.remove(room_id, await self.members(room_id))

    async def unarchive(self, room_id: str, *, topic: str) -> None:
        """The topic is restored; the membership sync that follows invites people back."""
        await self._state(room_id, "m.room.topic", {"topic": topic})

    async def make_private(self, room_id: str) -> bool:
        await self._state(room_id, "m.room.join_rules", {"join_rule": "invite"})
        # Later joiners see history only from their invitation on.
        await self._state(room_id, "m.room.history_visibility", {"history_visibility": "invited"})
        await self.call("PUT", f"/directory/list/room/{_q(room_id)}", {"visibility": "private"})
        return True

    async def reactions(
        self, room_id: str, since: str | None, key: str
    ) -> tuple[list[tuple[str, str]], str | None]:
        """(event reacted to, who reacted) for each `key` reaction after `since`, and the token
        to read on from. Reads forwards from the room's start when `since` is None."""
        found: list[tuple[str, str]] = []
        token = since
        wanted = key.replace("\ufe0f", "")
        for _ in range(50):  # at most 5,000 reactions per poll; the rest next time
            params = {"dir": "f", "limit": "100", "filter": json.dumps({"types": ["m.reaction"]})}
            if token:
                params["from"] = token
            body = await self.call("GET", f"/rooms/{_q(room_id)}/messages", params=params)
            chunk = body.get("chunk", [])
            for event in chunk:
                relates = (event.get("content") or {}).get("m.relates_to") or {}
                if (
                    event.get("type") == "m.reaction"
                    and relates.get("rel_type") == "m.annotation"
                    and str(relates.get("key", "")).replace("\ufe0f", "") == wanted
                    and relates.get("event_id")
                ):
                    found.append((str(relates["event_id"]), str(event.get("sender", "unknown"))))
            end = body.get("end")
            if end:
                token = str(end)
            if not chunk or not end:
                break
        return found, token

    def parse_permalink(self, permalink: str) -> tuple[str, str] | None:
        match = PERMALINK.search(unquote(permalink))
        if match is None:
            return None
        return match["room"], match["event"]

    async def aclose(self) -> None:
        await self._client.aclose()
