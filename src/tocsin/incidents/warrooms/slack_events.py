"""Slack's Events API: a pin reaction on a war-room message pins it to the incident timeline.

Slack signs each request with the app's signing secret: `X-Slack-Signature` is `v0=` and the
hex HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}`. A request that is not signed
so, or whose timestamp is more than five minutes from now (a replay), changes nothing. The
answer is quick and always 2xx for a verified request, as Slack retries anything else; the
message itself is fetched and pinned by a job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.clock import utcnow
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.incidents.service.common import ref_of
from tocsin.incidents.warrooms.models import WarRoom
from tocsin.incidents.warrooms.outbox import PIN_KIND
from tocsin.jobs import service as jobs

router = APIRouter(prefix="/api/v1/chat/slack", tags=["incident war rooms"])

MAX_SKEW_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verified(secret: str, timestamp: str, body: bytes, given: str, now: datetime) -> bool:
    """True when Slack signed exactly this body within the last five minutes."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)


def pin_request(event: dict[str, Any], reaction: str) -> tuple[str, str, str] | None:
    """(channel, message ts, who reacted) when the event is the pin reaction on a message."""
    item = event.get("item") or {}
    if (
        event.get("type") != "reaction_added"
        or event.get("reaction") != reaction
        or item.get("type") != "message"
        or not item.get("channel")
        or not item.get("ts")
    ):
        return None
    return str(item["channel"]), str(item["ts"]), str(event.get("user") or "someone")


@router.post("/events")
async def slack_events(
    request: Request,
    _: Any = Depends(Requires(Permission.PUBLIC)),
    session: AsyncSession = Depends(get_session),
) -> Response:
    """Slack's Events API callback (subscribe the app to `reaction_added`)."""
    settings = request.app.state.settings
    body = await request.body()
    secret = settings.warroom_slack_signing_secret
    if not secret or not verified(
        secret,
        request.headers.get("x-slack-request-timestamp", ""),
        body,
        request.headers.get("x-slack-signature", ""),
        utcnow(),
    ):
        raise ProblemError(401, "Unauthorized", "the request is not signed by Slack")
    try:
        envelope = json.loads(body)
    except ValueError:
        raise ProblemError(400, "Bad Request", "the body is not JSON") from None
    if not isinstance(envelope, dict):
        raise ProblemError(400, "Bad Request", "the body is not a JSON object")
    if envelope.get("type") == "url_verification":
        return JSONResponse({"challenge": str(envelope.get("challenge", ""))})
    event = envelope.get("event") if envelope.get("type") == "event_callback" else None
    wanted = pin_request(event, settings.warroom_slack_pin_reaction) if event else None
    if wanted is None:
        return Response(status_code=204)
    channel, ts, user = wanted
    room = await session.scalar(
        sa.select(WarRoom).where(
            WarRoom.platform == "slack", WarRoom.external_id == channel, WarRoom.status == "open"
        )
    )
    if room is None:
        return Response(status_code=204)
    payload = {
        "war_room_id": room.id,
        "message_id": ts,
        "permalink": None,
        "actor": f"Slack user {user} (reaction)",
    }
    await jobs.enqueue(session, PIN_KIND, payload, idempotency_key=f"{PIN_KIND}:{room.id}:{ts}")
    audit.record(
        session,
        Actor.system("Slack events"),
        "incident.warroom.pin_requested",
        "incident",
        ref_of(room.incident_id),
        before=None,
        after=payload,
    )
    await session.commit()
    return Response(status_code=202)
