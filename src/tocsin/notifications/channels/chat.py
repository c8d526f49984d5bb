"""Direct messages on Slack and Matrix, through the war rooms' chat adapters and their bot.

One bot per platform serves both war rooms and pages, so an operator configures (and a
workspace admin approves) one integration. A platform that is not configured fails as a
transient error like the other channels, so deliveries go out once it is set up.

Slack: `conversations.open` with the member ID gives the DM channel (the same one every
time), `chat.postMessage` posts Block Kit there. Matrix: the bot keeps its direct rooms in its
`m.direct` account data, as clients do; a room the person is no longer in is replaced by a new
`createRoom` with `is_direct` and an invitation. The message is a `PUT` of `m.room.message`
whose transaction id is the delivery key, so a retried send lands once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from tocsin.config import Settings
from tocsin.incidents.warrooms.adapters import for_platform
from tocsin.incidents.warrooms.adapters.base import AdapterError
from tocsin.incidents.warrooms.adapters.matrix import MatrixAdapter
from tocsin.incidents.warrooms.adapters.slack import SlackAdapter
from tocsin.notifications.channels import ChannelError, Sent

SLACK_TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
"""Slack `ok: false` errors that are Slack's trouble, not ours; every other one is a refusal
of this request (unknown user, invalid blocks, revoked token) and is final"""
MATRIX_REFUSED = frozenset(
    {"M_BAD_JSON", "M_NOT_JSON", "M_INVALID_PARAM", "M_UNRECOGNIZED", "M_BAD_STATE"}
)
"""Matrix errors that refuse the request itself, in addition to the adapter's permanent ones"""


def _q(value: str) -> str:
    return quote(value, safe="")


def _failure(exc: AdapterError, platform: str) -> ChannelError:
    permanent = exc.permanent
    if platform == "slack" and exc.code is not None:
        permanent = exc.code not in SLACK_TRANSIENT
    if platform == "matrix" and exc.code in MATRIX_REFUSED:
        permanent = True
    return ChannelError(str(exc), permanent=permanent, retry_after=exc.retry_after)


@asynccontextmanager
async def _adapter(settings: Settings, platform: str) -> AsyncIterator[Any]:
    configured = (
        bool(settings.warroom_slack_bot_token)
        if platform == "slack"
        else bool(settings.warroom_matrix_homeserver_url and settings.warroom_matrix_access_token)
    )
    if not configured:
        names = (
            "TOCSIN_WARROOM_SLACK_BOT_TOKEN"
            if platform == "slack"
            else "TOCSIN_WARROOM_MATRIX_HOMESERVER_URL and _ACCESS_TOKEN"
        )
        raise ChannelError(f"{platform.title()} is not configured ({names} unset)")
    adapter = for_platform(platform, settings)
    try:
        yield adapter
    except AdapterError as exc:
        raise _failure(exc, platform) from None
    finally:
        await adapter.aclose()


async def send_slack(
    settings: Settings, user_id: str, text: str, blocks: list[dict[str, Any]]
) -> Sent:
    """DM `user_id`; `text` is the fallback shown in notifications and by screen readers."""
    async with _adapter(settings, "slack") as slack:
        assert isinstance(slack, SlackAdapter)
        opened = await slack.call("conversations.open", users=user_id, return_im="false")
        channel = str(opened["channel"]["id"])
        posted = await slack.call(
            "chat.postMessage",
            channel=channel,
            text=text,
            blocks=json.dumps(blocks, separators=(",", ":")),
            unfurl_links="false",
            unfurl_media="false",
        )
        return Sent(f"{channel}/{posted.get('ts', '')}")


async def send_matrix(settings: Settings, user_id: str, text: str, html: str, *, key: str) -> Sent:
    async with _adapter(settings, "matrix") as matrix:
        assert isinstance(matrix, MatrixAdapter)
        room = await _direct_room(matrix, user_id)
        sent = await matrix.call(
            "PUT",
            f"/rooms/{_q(room)}/send/m.room.message/{_q(key)}",
            {
                "msgtype": "m.text",
                "body": text,
                "format": "org.matrix.custom.html",
                "formatted_body": html,
            },
        )
        return Sent(f"{room}/{sent.get('event_id', '')}")


async def _direct_room(matrix: MatrixAdapter, user_id: str) -> str:
    me = await matrix.me()
    direct = await _account_direct(matrix, me)
    for room in reversed(direct.get(user_id, [])):
        if await _present(matrix, room, user_id):
            return room
    await _exists(matrix, user_id)
    created = await matrix.call(
        "POST",
        "/createRoom",
        {
            "is_direct": True,
            "invite": [user_id],
            "preset": "trusted_private_chat",
            "name": "Tocsin",
            "topic": "Pages and notifications from Tocsin",
        },
    )
    room = str(created["room_id"])
    direct[user_id] = [*direct.get(user_id, []), room]
    await matrix.call("PUT", f"/user/{_q(me)}/account_data/m.direct", direct)
    return room


async def _exists(matrix: MatrixAdapter, user_id: str) -> None:
    """Homeservers accept invitations for accounts that do not exist, so a mistyped ID would
    page an empty room forever; the profile tells. A server that hides profiles (M_FORBIDDEN)
    is given the benefit of the doubt."""
    try:
        await matrix.call("GET", f"/profile/{_q(user_id)}")
    except AdapterError as exc:
        if exc.code == "M_NOT_FOUND" or exc.status == 404:
            raise ChannelError(f"Matrix has no user {user_id}", permanent=True) from None
        if exc.code != "M_FORBIDDEN":
            raise


async def _account_direct(matrix: MatrixAdapter, me: str) -> dict[str, list[str]]:
    try:
        data = await matrix.call("GET", f"/user/{_q(me)}/account_data/m.direct")
    except AdapterError as exc:
        if exc.code == "M_NOT_FOUND" or exc.status == 404:  # the bot has no direct rooms yet
            return {}
        raise
    return {
        str(user): [str(room) for room in rooms]
        for user, rooms in data.items()
        if isinstance(rooms, list)
    }


async def _present(matrix: MatrixAdapter, room: str, user_id: str) -> bool:
    """The person is still in (or invited to) the room, and the bot can still post there."""
    try:
        member = await matrix.call("GET", f"/rooms/{_q(room)}/state/m.room.member/{_q(user_id)}")
    except AdapterError as exc:
        if exc.code in ("M_NOT_FOUND", "M_FORBIDDEN"):
            return False
        raise
    return member.get("membership") in ("join", "invite")
