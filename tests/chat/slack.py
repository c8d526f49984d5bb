"""A local server speaking the documented shapes of Slack's Web API methods war rooms use.

Every method answers HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": "..."}`
(https://api.slack.com/web#responses); channel names follow Slack's rules (lowercase, at most
80 characters, letters, digits, hyphens and underscores) and clash with `name_taken`.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "xoxb-test-token"
BOT = "UBOT"
NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    topic: str = ""
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    pins: set[str] = field(default_factory=set)
    is_archived: bool = False


@dataclass
class FakeSlack:
    users: dict[str, str] = field(default_factory=dict)
    """e-mail → user id"""
    channels: dict[str, Channel] = field(default_factory=dict)
    down: bool = False
    """answer every call with 503, as during an outage"""
    rate_limited: int = 0
    """answer this many next calls with 429 and Retry-After, as Slack's rate limiter does"""
    retry_after: int = 30
    dms: dict[str, Channel] = field(default_factory=dict)
    """user id → the bot's direct-message channel with them (conversations.open)"""
    calls: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def by_name(self, name: str) -> Channel:
        return next(c for c in self.channels.values() if c.name == name)

    def add_user(self, email: str) -> str:
        user_id = f"U{next(self._ids):04d}"
        self.users[email] = user_id
        return user_id

    def say(self, channel: Channel, user: str, text: str) -> str:
        ts = f"17000000{next(self._ids):02d}.{next(self._ids):06d}"
        channel.messages.append({"type": "message", "user": user, "text": text, "ts": ts})
        return ts

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/{method}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        self.calls.append(method)
        if self.down:
            return Response("upstream unavailable", status_code=503)
        if self.rate_limited:
            self.rate_limited -= 1
            return Response("", status_code=429, headers={"Retry-After": str(self.retry_after)})
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        params = dict(await request.form())
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        result: dict[str, Any] = handler(params)
        return JSONResponse(result)

    def _channel(self, params: dict[str, Any]) -> Channel | None:
        return self.channels.get(str(params.get("channel", "")))

    def m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT, "team": "Acme"}

    def m_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = self.users.get(str(params.get("email")))
        if user_id is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": user_id}}

    def texts(self, channel: Channel) -> list[str]:
        """What the bot posted in the channel, oldest first."""
        return [m["text"] for m in channel.messages if m["user"] == BOT]

    def m_conversations_create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params.get("name", ""))
        if not NAME.match(name):
            return {"ok": False, "error": "invalid_name_specials"}
        if any(c.name == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        channel = Channel(f"C{next(self._ids):04d}", name, params.get("is_private") == "true")
        channel.members.add(BOT)
        self.channels[channel.id] = channel
        return {"ok": True, "channel": {"id": channel.id, "name": name}}

    def m_conversations_setTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        channel.topic = str(params.get("topic", ""))
        return {"ok": True}

    def m_conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "members": sorted(channel.members),
            "response_metadata": {"next_cursor": ""},
        }

    def m_conversations_invite(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if set(users) <= channel.members:
            return {"ok": False, "error": "already_in_channel"}
        channel.members.update(users)
        return {"ok": True, "channel": {"id": channel.id}}

    def m_conversations_archive(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "already_archived"}
        channel.is_archived = True
        return {"ok": True}

    def m_conversations_unarchive(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not channel.is_archived:
            return {"ok": False, "error": "not_archived"}
        channel.is_archived = False
        return {"ok": True}

    def m_conversations_kick(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        user = str(params.get("user"))
        if user not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        channel.members.discard(user)
        return {"ok": True}

    def m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        blocks: list[dict[str, Any]] = []
        if params.get("blocks"):
            try:
                blocks = json.loads(str(params["blocks"]))
            except ValueError:
                return {"ok": False, "error": "invalid_blocks_format"}
            if not valid_blocks(blocks):
                return {"ok": False, "error": "invalid_blocks"}
        ts = self.say(channel, BOT, str(params.get("text", "")))
        channel.messages[-1]["blocks"] = blocks
        return {"ok": True, "channel": channel.id, "ts": ts}

    def m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """A DM with one person: the same channel every time (Slack's documented behaviour)."""
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if len(users) != 1:
            return {"ok": False, "error": "not_enough_users" if not users else "too_many_users"}
        user = users[0]
        if user not in self.users.values():
            return {"ok": False, "error": "user_not_found"}
        if user not in self.dms:
            dm = Channel(f"D{next(self._ids):04d}", "", is_private=True, members={BOT, user})
            self.dms[user] = dm
            self.channels[dm.id] = dm
        return {"ok": True, "channel": {"id": self.dms[user].id}}

    def m_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        latest = str(params.get("latest", "9999999999.999999"))
        inclusive = params.get("inclusive") == "true"
        older = [
            m
            for m in reversed(channel.messages)
            if float(m["ts"]) < float(latest) or (inclusive and m["ts"] == latest)
        ]
        return {"ok": True, "messages": older[: int(params.get("limit", 100))], "has_more": False}

    def m_chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(params.get("message_ts", ""))
        return {
            "ok": True,
            "channel": channel.id,
            "permalink": f"https://acme.slack.com/archives/{channel.id}/p{ts.replace('.', '')}",
        }

    def m_pins_add(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(params.get("timestamp"))
        if ts in channel.pins:
            return {"ok": False, "error": "already_pinned"}
        channel.pins.add(ts)
        return {"ok": True}


def valid_blocks(blocks: Any) -> bool:
    """The limits of Block Kit Slack enforces with `invalid_blocks`: at most 50 blocks, header
    text 150 characters, section text 3000, button URLs 3000, five buttons per actions block."""
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return False
    limits = {"header": 150, "section": 3000}
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in limits:
            text = block.get("text") or {}
            if not text.get("text") or len(text["text"]) > limits[kind]:
                return False
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 25:
                return False
            for element in elements:
                if element.get("type") == "button":
                    url = element.get("url", "")
                    if len(url) > 3000 or len(element.get("text", {}).get("text", "")) > 75:
                        return False
        elif kind != "context":
            return False
    return True
