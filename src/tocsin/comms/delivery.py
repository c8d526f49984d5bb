"""Delivering what was published: stakeholder groups' addresses, and one job per address.

Publishing (a message, an executive brief) writes the comms log and plans one delivery per
address in the same transaction; the durable job outbox sends each one later, retrying when the
mail server or Slack is unavailable. A delivery that went out gets a comms log entry of its own
(`message_delivered`, `executive_brief_delivered`), so the log tells what was published from
what actually reached someone.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Permission
from tocsin.clock import utcnow
from tocsin.comms import log
from tocsin.comms.models import CommsDelivery, CommsMessage, CommsStakeholderGroup
from tocsin.comms.schemas import DeliveryOut, GroupIn, GroupOut
from tocsin.comms.templates import Audience
from tocsin.config import Settings
from tocsin.errors import Invalid
from tocsin.incidents.models import Incident
from tocsin.incidents.service.common import Who, actor_of, load, ref_of, require
from tocsin.incidents.warrooms.adapters.base import AdapterError
from tocsin.incidents.warrooms.adapters.slack import SlackAdapter
from tocsin.jobs import service as jobs
from tocsin.jobs.registry import PermanentError
from tocsin.notifications.channels import ChannelError
from tocsin.notifications.channels import email as smtp

DELIVER_KIND = "comms.deliver"

GROUP_AUDIENCES = (
    Audience.EXECUTIVES,
    Audience.SUPPORT,
    Audience.SALES,
    Audience.ACCOUNT_MANAGEMENT,
)
"""Groups Tocsin delivers to. Responders have the bridge and war room; customers hear through
the status page."""

DELIVERED_CHANNELS = frozenset({"email", "chat"})
"""Message channels Tocsin sends itself; a message for a meeting or a phone call is said by a
person, so publishing it only records it."""

_EMAIL = re.compile(r"[^@\s,;<>()]+@[^@\s,;<>()]+\.[^@\s,;<>()]+")


def emails_in(text: str) -> list[str]:
    """E-mail addresses written in a message's free-text recipients, in order, once each."""
    return _unique(_EMAIL.findall(text))


def _unique(addresses: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


# --- stakeholder groups -------------------------------------------------------------------------


def _group_audience(audience: Audience) -> Audience:
    if audience not in GROUP_AUDIENCES:
        names = ", ".join(a.value for a in GROUP_AUDIENCES)
        raise Invalid("audience", f"messages are delivered to the groups {names}")
    return audience


async def list_groups(session: AsyncSession) -> list[GroupOut]:
    """Every deliverable group, configured or not."""
    rows = {r.audience: r for r in await session.scalars(sa.select(CommsStakeholderGroup))}
    out = []
    for audience in GROUP_AUDIENCES:
        row = rows.get(audience.value)
        out.append(
            GroupOut(
                audience=audience,
                emails=list(row.emails) if row else [],
                chat_channel=row.chat_channel if row else "",
                updated_at=row.updated_at if row else None,
                updated_by=row.updated_by if row else None,
            )
        )
    return out


async def save_group(
    session: AsyncSession, who: Who, audience: Audience, body: GroupIn
) -> GroupOut:
    require(who, Permission.COMMS_APPROVE)
    _group_audience(audience)
    actor = actor_of(who)
    row = await session.scalar(
        sa.select(CommsStakeholderGroup).where(CommsStakeholderGroup.audience == audience.value)
    )
    before = {"emails": list(row.emails), "chat_channel": row.chat_channel} if row else None
    if row is None:
        row = CommsStakeholderGroup(audience=audience.value, updated_by=actor.label)
        session.add(row)
    row.emails = _unique(body.emails)
    row.chat_channel = body.chat_channel
    row.updated_at = utcnow()
    row.updated_by = actor.label
    audit.record(
        session,
        actor,
        "comms.group_saved",
        "comms_group",
        audience.value,
        before=before,
        after={"emails": row.emails, "chat_channel": row.chat_channel},
    )
    await session.flush()
    out = GroupOut(
        audience=audience,
        emails=list(row.emails),
        chat_channel=row.chat_channel,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )
    await session.commit()
    return out


async def _group(session: AsyncSession, audience: str) -> CommsStakeholderGroup | None:
    return await session.scalar(
        sa.select(CommsStakeholderGroup).where(CommsStakeholderGroup.audience == audience)
    )


# --- planning, in the publisher's transaction ------------------------------------------------


async def _plan(
    session: AsyncSession,
    *,
    key: str,
    incident: Incident,
    message_id: int | None,
    kind: str,
    audience: str,
    channel: str,
    address: str,
    subject: str,
    text: str,
    actor: Actor,
) -> None:
    row = CommsDelivery(
        key=key[:200],
        incident_id=incident.id,
        message_id=message_id,
        kind=kind,
        audience=audience,
        channel=channel,
        address=address,
        subject=subject[:500],
        text=text,
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        status="queued",
        attempts=0,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await jobs.enqueue(
        session, DELIVER_KIND, {"delivery_id": row.id}, idempotency_key=f"comms-delivery-{row.id}"
    )


async def plan_message(
    session: AsyncSession, incident: Incident, message: CommsMessage, actor: Actor
) -> int:
    """One delivery per address of the message's group (and per e-mail address written in its
    recipients), plus the group's chat channel; returns how many were planned."""
    if message.channel not in DELIVERED_CHANNELS or message.audience not in GROUP_AUDIENCES:
        return 0
    group = await _group(session, message.audience)
    addresses = list(group.emails) if group else []
    addresses = _unique([*addresses, *emails_in(message.recipients)])
    subject = f"{ref_of(incident.id)} {incident.title}: update for {message.audience}"
    planned = 0
    for address in addresses:
        await _plan(
            session,
            key=f"message-{message.id}/email/{address.lower()}",
            incident=incident,
            message_id=message.id,
            kind="message",
            audience=message.audience,
            channel="email",
            address=address,
            subject=subject,
            text=message.text,
            actor=actor,
        )
        planned += 1
    if group is not None and group.chat_channel:
        await _plan(
            session,
            key=f"message-{message.id}/chat/{group.chat_channel}",
            incident=incident,
            message_id=message.id,
            kind="message",
            audience=message.audience,
            channel="chat",
            address=group.chat_channel,
            subject=subject,
            text=message.text,
            actor=actor,
        )
        planned += 1
    return planned


async def plan_brief(
    session: AsyncSession,
    incident: Incident,
    *,
    threshold: str,
    executive: str,
    subject: str,
    text: str,
    actor: Actor,
) -> None:
    """An executive brief goes to the executive's own address by e-mail."""
    await _plan(
        session,
        key=f"brief-{incident.id}/{threshold}/{executive.lower()}",
        incident=incident,
        message_id=None,
        kind="executive_brief",
        audience="executives",
        channel="email",
        address=executive,
        subject=subject,
        text=text,
        actor=actor,
    )


# --- sending, in a job ---------------------------------------------------------------------------


async def _send_chat(settings: Settings, channel: str, text: str) -> str:
    if not settings.warroom_slack_bot_token:
        # Not configured yet is not the message's fault: it goes out once Slack is set up.
        raise ChannelError("Slack is not configured (TOCSIN_WARROOM_SLACK_BOT_TOKEN unset)")
    slack = SlackAdapter(settings.warroom_slack_api_base_url, settings.warroom_slack_bot_token)
    try:
        posted = await slack.call(
            "chat.postMessage",
            channel=channel,
            text=text,
            unfurl_links="false",
            unfurl_media="false",
        )
    except AdapterError as exc:
        raise ChannelError(str(exc), permanent=exc.permanent) from None
    finally:
        await slack.aclose()
    return f"{channel}/{posted.get('ts', '')}"


async def _send(settings: Settings, row: CommsDelivery) -> str | None:
    if row.channel == "chat":
        return await _send_chat(settings, row.address, row.text)
    body = f'<pre style="white-space: pre-wrap">{html.escape(row.text)}</pre>'
    sent = await smtp.send(settings, row.address, row.subject, row.text, body)
    return sent.provider_id


async def deliver(session: AsyncSession, settings: Settings, delivery_id: int) -> None:
    """Send one delivery. A failure is stored and committed before it is raised, so the page
    shows it while the job waits for its retry; a refusal (an unknown mailbox, a missing
    channel) dead-letters at once."""
    row = await session.get(CommsDelivery, delivery_id)
    if row is None or row.status == "sent":
        return
    row.attempts += 1
    try:
        provider_id = await _send(settings, row)
    except ChannelError as exc:
        row.status, row.error = "failed", str(exc)[:2000]
        await session.commit()
        if exc.permanent:
            raise PermanentError(str(exc)) from None
        raise
    entry = await log.record(
        session,
        incident_id=row.incident_id,
        kind=f"{row.kind}_delivered",
        channel=row.channel,
        audience=row.audience,
        recipients=row.address,
        text=row.text,
        actor=Actor(row.actor_type, row.actor_id, row.actor_label),
    )
    row.status, row.error = "sent", None
    row.provider_id = (provider_id or "")[:300] or None
    row.sent_at = entry.at
    row.log_seq = entry.seq


def _delivery_out(row: CommsDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(row)


async def list_deliveries(session: AsyncSession, who: Who, ref: str) -> list[DeliveryOut]:
    """Every delivery of the incident's messages and briefs, oldest first."""
    require(who, Permission.COMMS_WRITE)
    incident = await load(session, who, ref)
    rows = await session.scalars(
        sa.select(CommsDelivery)
        .where(CommsDelivery.incident_id == incident.id)
        .order_by(CommsDelivery.id)
    )
    return [_delivery_out(r) for r in rows]
