"""Pure decisions of notifications: which steps a notification becomes, what the delivery
keys are, how addresses are checked, how webhooks are signed and how long an SMS may be.

Nothing here touches the database, the network or the clock, so the property tests can
explore it freely; the service feeds it rows and the current time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from tocsin.notifications.message import Urgency
from tocsin.notifications.models import Channel

MAX_DELAY_MINUTES = 24 * 60
SMS_LIMIT = 160
"""one GSM-7 segment: a page that arrives in pieces is read late or not at all"""
SIGNATURE_HEADER = "X-Tocsin-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
MATRIX_USER = re.compile(
    r"@[a-z0-9._=/+-]+:"
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::[0-9]{1,5})?"
)
MATRIX_USER_MAX = 255


@dataclass(frozen=True)
class Target:
    """Where a step goes: a stored contact method, or the account address (method None)."""

    channel: Channel
    address: str
    method_id: int | None = None


@dataclass(frozen=True)
class RuleSpec:
    urgency: Urgency
    delay_minutes: int
    target: Target


@dataclass(frozen=True)
class Step:
    target: Target
    delay_minutes: int


def plan(rules: Iterable[RuleSpec], urgency: Urgency, account_email: str) -> list[Step]:
    """The steps of one notification, soonest first.

    A user whose rules say nothing for this urgency still gets an e-mail at once to their
    account address: a page that reaches no one because a profile is incomplete is worse
    than an unwanted e-mail. The same target at the same delay is contacted once.
    """
    steps = {
        (r.target, r.delay_minutes): Step(r.target, r.delay_minutes)
        for r in rules
        if r.urgency == urgency
    }
    if not steps:
        fallback = Target(Channel.EMAIL, account_email)
        return [Step(fallback, 0)]
    return sorted(
        steps.values(),
        key=lambda s: (s.delay_minutes, s.target.channel.value, s.target.method_id or 0),
    )


def delivery_key(user_id: int, dedup_key: str, target: Target, delay_minutes: int) -> str:
    """Idempotency key of one step: asking twice for the same notification sends once.

    The dedup key is hashed so that the key fits its column whatever callers choose."""
    digest = hashlib.sha256(dedup_key.encode()).hexdigest()[:40]
    where = f"m{target.method_id}" if target.method_id is not None else "account"
    return f"notifications.deliver:{user_id}:{digest}:{where}:{delay_minutes}"


def normalise_address(channel: Channel, address: str) -> str:
    """The canonical form of an address, or ValueError saying what is wrong with it."""
    address = address.strip()
    if channel is Channel.EMAIL:
        try:
            return validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(str(exc)) from None
    if channel in (Channel.SMS, Channel.VOICE):
        return normalise_phone(address)
    if channel is Channel.SLACK:
        return normalise_slack_user(address)
    if channel is Channel.MATRIX:
        return normalise_matrix_user(address)
    return normalise_url(address)


def normalise_slack_user(user_id: str) -> str:
    """A Slack member ID (U… or, on Enterprise Grid, W…): the only thing a DM can be opened
    with. Display names and e-mail addresses change or repeat; the ID does not."""
    if SLACK_USER.fullmatch(user_id.upper()) is None:
        raise ValueError(
            "must be a Slack member ID such as U024BE7LH "
            "(in Slack: profile, More, Copy member ID), not a name or e-mail address"
        )
    return user_id.upper()


def normalise_matrix_user(user_id: str) -> str:
    """A Matrix user ID, @localpart:server (the grammar of the Matrix specification's
    "User Identifiers"; localparts are lowercase)."""
    if len(user_id) > MATRIX_USER_MAX or MATRIX_USER.fullmatch(user_id) is None:
        raise ValueError("must be a Matrix user ID such as @ada:example.org")
    return user_id


def normalise_phone(number: str) -> str:
    """E.164 (+4915112345678): the only form SMS and voice providers accept everywhere."""
    if not number.startswith("+"):
        raise ValueError("must be in international format starting with + and the country code")
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; use the signing secret instead")
    return url


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header of a webhook: HMAC-SHA256 over "<timestamp>.<body>".

    The timestamp is inside the MAC so a captured request cannot be replayed later."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: int,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does with the header: recompute, compare in constant time, and
    refuse signatures older (or newer) than the tolerance."""
    fields: dict[str, str] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, value)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def shorten(text: str, limit: int = SMS_LIMIT) -> str:
    """Collapse whitespace and cut to `limit` characters, marking the cut with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 3].rstrip() + "..."
