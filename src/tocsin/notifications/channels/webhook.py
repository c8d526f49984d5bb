"""Signed webhooks: a JSON POST the receiver can authenticate with the shared secret."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tocsin.config import Settings
from tocsin.notifications.channels import ChannelError, Sent, is_permanent_http
from tocsin.notifications.rules import SIGNATURE_HEADER, sign


async def send(
    settings: Settings, url: str, secret: str, payload: dict[str, Any], *, timestamp: int, key: str
) -> Sent:
    """POST `payload`; `key` goes out as Idempotency-Key so a receiver can drop a retry that
    follows a lost response."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tocsin-Notifications",
        "Idempotency-Key": key,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    try:
        async with httpx.AsyncClient(timeout=settings.notification_webhook_timeout_seconds) as http:
            response = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise ChannelError(f"the webhook could not be reached: {exc}") from None
    if response.status_code >= 300:
        raise ChannelError(
            f"the webhook answered {response.status_code}",
            permanent=is_permanent_http(response.status_code),
        )
    return Sent(response.headers.get("X-Request-Id"))
