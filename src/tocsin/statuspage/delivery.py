"""Telling subscribers: the fan-out of one update into batch jobs, and each batch's sends.

A batch that could not reach some subscribers succeeds anyway and enqueues a smaller batch of
just those for later, so a retry never sends twice to the ones already reached. (A worker that
dies in the middle of a batch leaves the whole batch to be run again once its lease expires,
so those already reached then hear the update twice.)

A batch's e-mails go over one SMTP connection, one after another, and the message is rendered
once per batch (only the unsubscribe link differs): a connection and a MIME build per message
cost more CPU than anything else here, and the worker may share its event loop with the API.
"""

from __future__ import annotations

import asyncio
import html
import weakref
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.clock import utcnow
from tocsin.comms import log as comms_log
from tocsin.config import Settings, get_settings
from tocsin.jobs import service as jobs
from tocsin.jobs.service import NewJob
from tocsin.notifications.channels import ChannelError
from tocsin.notifications.channels import email as email_channel
from tocsin.notifications.channels import webhook as webhook_channel
from tocsin.statuspage import rules, service
from tocsin.statuspage.models import StatusIncident, StatusIncidentUpdate, StatusPage, Subscriber

RETRY_DELAY = timedelta(minutes=1)
MAX_ROUNDS = 5
CONCURRENCY = 20
_mail_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def fan_out(session: AsyncSession, update_id: int) -> int:
    """Split the confirmed subscribers interested in this update into batch jobs; returns how
    many batches were queued."""
    update = await session.get(StatusIncidentUpdate, update_id)
    if update is None:
        return 0
    incident = await session.get(StatusIncident, update.status_incident_id)
    if incident is None:
        return 0
    touched = {int(i) for i in incident.component_ids}
    rows = await session.execute(
        sa.select(Subscriber.id, Subscriber.component_ids)
        .where(
            Subscriber.page_id == incident.page_id,
            Subscriber.confirmed_at.is_not(None),
            Subscriber.unsubscribed_at.is_(None),
        )
        .order_by(Subscriber.id)
    )
    ids = [sid for sid, wanted in rows if not wanted or touched & {int(c) for c in wanted}]
    size = get_settings().statuspage_batch_size
    batches = [ids[i : i + size] for i in range(0, len(ids), size)]
    await jobs.enqueue_many(
        session,
        [
            NewJob(
                service.DELIVER_KIND,
                {"update_id": update_id, "subscribers": batch, "round": 1},
                idempotency_key=f"{service.DELIVER_KIND}:{update_id}:{batch[0]}:1",
            )
            for batch in batches
        ],
    )
    return len(batches)


async def _log_batch(
    session: AsyncSession,
    page: StatusPage,
    incident: StatusIncident,
    update: StatusIncidentUpdate,
    reached: list[Subscriber],
) -> None:
    """One comms-log entry per batch: who was reached, through which channel, the exact text."""
    emails = sorted(s.address for s in reached if s.mode == "email")
    hooks = len(reached) - len(emails)
    channel = "+".join(sorted({s.mode for s in reached}))
    _, text, _ = _message(page, incident, update, "(per-subscriber unsubscribe link)")
    await comms_log.record(
        session,
        incident_id=incident.incident_id,
        kind="subscriber_batch",
        channel=channel,
        audience="status page subscribers",
        recipients=", ".join(emails)
        + (f"{', ' if emails else ''}{hooks} webhook(s)" if hooks else ""),
        text=text,
        actor=Actor.system("status page"),
    )


def _message(
    page: StatusPage, incident: StatusIncident, update: StatusIncidentUpdate, unsubscribe: str
) -> tuple[str, str, str]:
    label = rules.LABELS.get(update.status, update.status)
    subject = f"[{page.name}] {incident.name}: {label}"
    text = (
        f"{incident.name}\n{label} — {update.at:%Y-%m-%d %H:%M} UTC\n\n{update.body}\n\n"
        f"Status page: {service.public_url(page)}\nUnsubscribe: {unsubscribe}\n"
    )
    body = (
        f"<h2>{html.escape(incident.name)}</h2><p><strong>{html.escape(label)}</strong> — "
        f"{update.at:%Y-%m-%d %H:%M} UTC</p><p>{html.escape(update.body)}</p>"
        f'<p><a href="{html.escape(service.public_url(page))}">Status page</a> · '
        f'<a href="{html.escape(unsubscribe)}">Unsubscribe</a></p>'
    )
    return subject, text, body


def _payload(
    page: StatusPage, incident: StatusIncident, update: StatusIncidentUpdate
) -> dict[str, Any]:
    """The webhook body: Statuspage's webhook shape (page, incident with its latest update)."""
    return {
        "meta": {"unsubscribe": None, "documentation": None},
        "page": {
            "id": page.slug,
            "status_indicator": None,
            "status_description": None,
        },
        "incident": {
            "id": str(incident.id),
            "name": incident.name,
            "status": incident.status,
            "impact": incident.impact,
            "created_at": incident.created_at.isoformat(),
            "updated_at": update.at.isoformat(),
            "incident_updates": [
                {
                    "id": str(update.id),
                    "status": update.status,
                    "body": update.body,
                    "created_at": update.at.isoformat(),
                    "affected_components": list(update.affected_components),
                }
            ],
        },
    }


async def _mail(
    settings: Settings,
    subscribers: list[Subscriber],
    page: StatusPage,
    incident: StatusIncident,
    update: StatusIncidentUpdate,
) -> dict[int, ChannelError]:
    """E-mail one batch over a single SMTP connection, the message rendered once; returns
    the subscribers it could not reach and why."""
    if not subscribers:
        return {}
    # Composing the MIME message takes a few milliseconds of CPU: off the event loop, which
    # may be serving API requests in the same process.
    circular = await asyncio.to_thread(
        email_channel.Circular, settings, lambda leave: _message(page, incident, update, leave)
    )
    errors: dict[int, ChannelError] = {}
    async with _mail_gate(settings), email_channel.Mailer(settings) as mailer:
        for subscriber in subscribers:
            try:
                await mailer.send_circular(
                    circular, subscriber.address, service.link(subscriber, "unsubscribe")
                )
            except ChannelError as exc:
                errors[subscriber.id] = exc
    return errors


def _mail_gate(settings: Settings) -> asyncio.Semaphore:
    """How many batches this process e-mails at once (`statuspage_smtp_connections`). Against a
    nearby SMTP server sending is CPU-bound on our side: more connections would not send
    faster, they would only lengthen every turn of the event loop, which the API may share."""
    loop = asyncio.get_running_loop()
    gate = _mail_gates.get(loop)
    if gate is None:
        gate = _mail_gates[loop] = asyncio.Semaphore(settings.statuspage_smtp_connections)
    return gate


async def _post(
    settings: Settings,
    subscribers: list[Subscriber],
    page: StatusPage,
    incident: StatusIncident,
    update: StatusIncidentUpdate,
) -> dict[int, ChannelError]:
    """Call the webhook subscribers of one batch, a few at a time; returns the failures."""
    body = _payload(page, incident, update)
    stamp = int(utcnow().timestamp())
    gate = asyncio.Semaphore(CONCURRENCY)
    errors: dict[int, ChannelError] = {}

    async def one(subscriber: Subscriber) -> None:
        payload = body | {
            "meta": body["meta"] | {"unsubscribe": service.link(subscriber, "unsubscribe")}
        }
        async with gate:
            try:
                await webhook_channel.send(
                    settings,
                    subscriber.address,
                    subscriber.secret or "",
                    payload,
                    timestamp=stamp,
                    key=f"statuspage-{update.id}-{subscriber.id}",
                )
            except ChannelError as exc:
                errors[subscriber.id] = exc

    await asyncio.gather(*(one(s) for s in subscribers))
    return errors


async def deliver_batch(session: AsyncSession, payload: dict[str, Any]) -> list[int]:
    """Send one update to a batch of subscribers; returns the ids that failed for now."""
    update = await session.get(StatusIncidentUpdate, int(payload["update_id"]))
    if update is None:
        return []
    incident = await session.get(StatusIncident, update.status_incident_id)
    page = None if incident is None else await session.get(StatusPage, incident.page_id)
    if incident is None or page is None:
        return []
    ids = [int(i) for i in payload["subscribers"]]
    subscribers = list(
        await session.scalars(
            sa.select(Subscriber)
            .where(Subscriber.id.in_(ids), Subscriber.unsubscribed_at.is_(None))
            .order_by(Subscriber.id)
        )
    )
    await session.commit()  # no transaction stays open while talking to the outside
    settings = get_settings()
    mailed, posted = await asyncio.gather(
        _mail(settings, [s for s in subscribers if s.mode == "email"], page, incident, update),
        _post(settings, [s for s in subscribers if s.mode != "email"], page, incident, update),
    )
    errors = mailed | posted
    failed = sorted(i for i, exc in errors.items() if not exc.permanent)
    reached = [s for s in subscribers if s.id not in errors]
    if reached:
        await _log_batch(session, page, incident, update, reached)
    round_ = int(payload.get("round", 1))
    if failed and round_ < MAX_ROUNDS:
        await jobs.enqueue(
            session,
            service.DELIVER_KIND,
            {"update_id": update.id, "subscribers": failed, "round": round_ + 1},
            run_at=utcnow() + RETRY_DELAY * round_,
            idempotency_key=f"{service.DELIVER_KIND}:{update.id}:{failed[0]}:{round_ + 1}",
        )
    return failed


async def send_confirmation(session: AsyncSession, subscriber_id: int) -> None:
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.confirmed_at is not None:
        return
    page = await session.get(StatusPage, subscriber.page_id)
    if page is None:
        return
    confirm = service.link(subscriber, "confirm")
    leave = service.link(subscriber, "unsubscribe")
    await session.commit()
    subject = f"Confirm your subscription to {page.name}"
    text = (
        f"Someone (hopefully you) asked to receive updates from {page.name}.\n\n"
        f"Confirm: {confirm}\n\nIf it was not you, ignore this message; nothing will be sent.\n"
        f"Unsubscribe: {leave}\n"
    )
    body = (
        f"<p>Someone (hopefully you) asked to receive updates from "
        f'{html.escape(page.name)}.</p><p><a href="{html.escape(confirm)}">Confirm your '
        f"subscription</a></p><p>If it was not you, ignore this message.</p>"
    )
    await email_channel.send(get_settings(), subscriber.address, subject, text, body)
