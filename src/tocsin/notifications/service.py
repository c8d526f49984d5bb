"""Use cases of notifications: other domains call `notify_user` inside their own transaction.

The request only records the intent as a durable job (the outbox); the worker expands it by
the user's contact rules into deliveries, so nothing talks to a mail server or a phone
provider while a request holds a transaction.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import record
from tocsin.audit.snapshot import snapshot
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.config import Settings
from tocsin.db import dialect
from tocsin.errors import Conflict, Invalid, NotFound, ProblemError
from tocsin.jobs.models import Job, Priority
from tocsin.jobs.registry import PermanentError, RetryLater
from tocsin.jobs.service import enqueue
from tocsin.notifications import render
from tocsin.notifications.channels import ChannelError, Sent, chat, email, twilio, webhook
from tocsin.notifications.message import Notification, Urgency
from tocsin.notifications.models import (
    CancelledPage,
    Channel,
    ContactMethod,
    Delivery,
    DeliveryStatus,
    NotificationRule,
)
from tocsin.notifications.rules import (
    RuleSpec,
    Step,
    Target,
    delivery_key,
    normalise_address,
    plan,
)
from tocsin.notifications.schemas import (
    ContactMethodCreated,
    ContactMethodIn,
    ContactMethodOut,
    ContactMethodPatch,
    DeliveryOut,
    RuleIn,
    RuleOut,
    VerifyIn,
)

DISPATCH_KIND = "notifications.dispatch"
DELIVER_KIND = "notifications.deliver"
HIDDEN = frozenset({"secret", "verification_code"})
MAX_VERIFICATION_FAILURES = 5


async def notify_user(session: AsyncSession, user_id: int, notification: Notification) -> Job:
    """Queue `notification` for `user_id` in the caller's transaction; idempotent per
    (user, dedup key)."""
    return await enqueue(
        session,
        DISPATCH_KIND,
        {"user_id": user_id, "notification": notification.to_payload()},
        idempotency_key=f"{DISPATCH_KIND}:{user_id}:{notification.dedup_key}",
        priority=job_priority(notification),
    )


def job_priority(notification: Notification) -> int:
    """A page's notifications run ahead of any backlog (a person is waiting to be woken);
    information takes its turn."""
    return Priority.URGENT if notification.urgency == Urgency.HIGH else Priority.NORMAL


async def cancel_for_page(session: AsyncSession, page_id: int) -> int:
    """Stop the delayed steps of an acknowledged page in the caller's transaction; returns
    how many waiting deliveries were cancelled.

    The page is also remembered, so a dispatch that runs after the acknowledgement (a slow
    worker) records its delayed steps as cancelled instead of sending them.
    """
    now = utcnow()
    marker = dialect.insert_ignoring_conflicts(session, CancelledPage, ["page_id"])
    await session.execute(marker.values(page_id=page_id, cancelled_at=now))
    result = await session.execute(
        sa.update(Delivery)
        .where(
            Delivery.page_id == page_id,
            Delivery.status == DeliveryStatus.QUEUED.value,
            Delivery.delay_minutes > 0,
        )
        .values(status=DeliveryStatus.CANCELLED.value, error="page acknowledged", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- who may see and change whose settings ---------------------------------------------


def resolve_user(who: Principal, user_ref: str) -> int:
    """`me` or a user id; people manage their own contact settings, admins anyone's."""
    if user_ref == "me":
        if who.user_id is None:
            raise ProblemError(401, "Unauthorized", "sign in first")
        return who.user_id
    try:
        user_id = int(user_ref)
    except ValueError:
        raise Invalid("user", "must be a user id or 'me'") from None
    if user_id != who.user_id and Permission.NOTIFICATIONS_ADMIN not in who.permissions:
        raise ProblemError(403, "Forbidden", "you can only manage your own notifications")
    return user_id


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


# --- contact methods -------------------------------------------------------------------


def _address(channel: Channel, address: str) -> str:
    try:
        return normalise_address(channel, address)
    except ValueError as exc:
        raise Invalid("address", str(exc)) from None


async def list_contact_methods(session: AsyncSession, user_id: int) -> list[ContactMethodOut]:
    rows = await session.scalars(
        sa.select(ContactMethod).where(ContactMethod.user_id == user_id).order_by(ContactMethod.id)
    )
    return [ContactMethodOut.model_validate(row) for row in rows]


async def _method(session: AsyncSession, user_id: int, method_id: int) -> ContactMethod:
    row = await session.get(ContactMethod, method_id)
    if row is None or row.user_id != user_id:
        raise NotFound("contact method", method_id)
    return row


async def _no_duplicate(
    session: AsyncSession, user_id: int, channel: str, address: str, but: int | None = None
) -> None:
    stmt = sa.select(ContactMethod.id).where(
        ContactMethod.user_id == user_id,
        ContactMethod.channel == channel,
        ContactMethod.address == address,
    )
    found = await session.scalar(stmt)
    if found is not None and found != but:
        raise Conflict("you already have this contact method", "address")


async def create_contact_method(
    session: AsyncSession, who: Principal, user_id: int, body: ContactMethodIn
) -> ContactMethodCreated:
    await _user(session, user_id)
    address = _address(body.channel, body.address)
    await _no_duplicate(session, user_id, body.channel.value, address)
    secret = secrets.token_urlsafe(32) if body.channel is Channel.WEBHOOK else None
    row = ContactMethod(
        user_id=user_id,
        channel=body.channel.value,
        address=address,
        label=body.label,
        secret=secret,
    )
    session.add(row)
    await session.flush()
    record(
        session,
        who.actor,
        "notifications.contact_method.create",
        "contact_method",
        row.id,
        after=snapshot(row, exclude=HIDDEN),
    )
    out = ContactMethodCreated.model_validate(row)
    await session.commit()
    return out.model_copy(update={"secret": secret})


async def update_contact_method(
    session: AsyncSession, who: Principal, user_id: int, method_id: int, body: ContactMethodPatch
) -> ContactMethodOut:
    row = await _method(session, user_id, method_id)
    before = snapshot(row, exclude=HIDDEN)
    if body.address is not None:
        address = _address(Channel(row.channel), body.address)
        await _no_duplicate(session, user_id, row.channel, address, but=row.id)
        if address != row.address:
            row.address, row.verified_at, row.verification_code = address, None, None
    if body.label is not None:
        row.label = body.label
    await session.flush()
    record(
        session,
        who.actor,
        "notifications.contact_method.update",
        "contact_method",
        row.id,
        before=before,
        after=snapshot(row, exclude=HIDDEN),
    )
    out = ContactMethodOut.model_validate(row)
    await session.commit()
    return out


async def delete_contact_method(
    session: AsyncSession, who: Principal, user_id: int, method_id: int
) -> None:
    """Its rules go with it; past deliveries keep the address they were sent to."""
    row = await _method(session, user_id, method_id)
    before = snapshot(row, exclude=HIDDEN)
    await session.execute(
        sa.delete(NotificationRule).where(NotificationRule.contact_method_id == row.id)
    )
    await session.delete(row)
    record(
        session,
        who.actor,
        "notifications.contact_method.delete",
        "contact_method",
        method_id,
        before=before,
    )
    await session.commit()


async def send_test(session: AsyncSession, who: Principal, user_id: int, method_id: int) -> Job:
    """A low-urgency notification to this one method, whatever the rules say: people test a
    new phone number before they trust a page to it."""
    row = await _method(session, user_id, method_id)
    notification = Notification(
        subject="Test notification from Tocsin",
        body=f"This is a test of your {row.channel} contact method {row.label or row.address}.",
        urgency=Urgency.LOW,
        source="notifications.test",
        dedup_key=f"test:{uuid.uuid4().hex}",
    )
    job = await enqueue(
        session,
        DISPATCH_KIND,
        {"user_id": user_id, "notification": notification.to_payload(), "method_id": row.id},
    )
    record(session, who.actor, "notifications.test", "contact_method", row.id)
    await session.commit()
    return job


async def start_verification(
    session: AsyncSession, who: Principal, user_id: int, method_id: int
) -> Job:
    """Send a fresh code through the method itself: entering it proves the address (or
    number, or endpoint) reaches this person. A new code replaces the previous one."""
    row = await _method(session, user_id, method_id)
    code = f"{secrets.randbelow(10**8):08d}"
    row.verification_code, row.verification_failures = code, 0
    notification = Notification(
        subject=f"Tocsin verification code {code}",
        body=f"Enter {code} on your notification settings page to verify this contact method.",
        urgency=Urgency.LOW,
        source="notifications.verify",
        dedup_key=f"verify:{uuid.uuid4().hex}",
    )
    job = await enqueue(
        session,
        DISPATCH_KIND,
        {"user_id": user_id, "notification": notification.to_payload(), "method_id": row.id},
    )
    record(
        session, who.actor, "notifications.contact_method.verify_start", "contact_method", row.id
    )
    await session.commit()
    return job


async def verify(
    session: AsyncSession, who: Principal, user_id: int, method_id: int, body: VerifyIn
) -> ContactMethodOut:
    row = await _method(session, user_id, method_id)
    if row.verification_code is None:
        raise Invalid("code", "no code is pending; send a new one")
    if not secrets.compare_digest(row.verification_code, body.code.strip()):
        row.verification_failures += 1
        if row.verification_failures >= MAX_VERIFICATION_FAILURES:
            row.verification_code = None
        await session.commit()
        raise Invalid("code", "is not the code that was sent")
    row.verification_code, row.verification_failures = None, 0
    row.verified_at = utcnow()
    record(session, who.actor, "notifications.contact_method.verify", "contact_method", row.id)
    out = ContactMethodOut.model_validate(row)
    await session.commit()
    return out


# --- rules -----------------------------------------------------------------------------


async def list_rules(session: AsyncSession, user_id: int) -> list[RuleOut]:
    rows = await session.scalars(
        sa.select(NotificationRule)
        .where(NotificationRule.user_id == user_id)
        .order_by(NotificationRule.urgency, NotificationRule.delay_minutes, NotificationRule.id)
    )
    return [RuleOut.model_validate(row) for row in rows]


async def create_rule(session: AsyncSession, who: Principal, user_id: int, body: RuleIn) -> RuleOut:
    method = await session.get(ContactMethod, body.contact_method_id)
    if method is None or method.user_id != user_id:
        raise Invalid("contact_method_id", "is not one of this user's contact methods")
    exists = await session.scalar(
        sa.select(NotificationRule.id).where(
            NotificationRule.contact_method_id == method.id,
            NotificationRule.urgency == body.urgency.value,
            NotificationRule.delay_minutes == body.delay_minutes,
        )
    )
    if exists is not None:
        raise Conflict("this rule exists already", "delay_minutes")
    row = NotificationRule(
        user_id=user_id,
        contact_method_id=method.id,
        urgency=body.urgency.value,
        delay_minutes=body.delay_minutes,
    )
    session.add(row)
    await session.flush()
    record(
        session,
        who.actor,
        "notifications.rule.create",
        "notification_rule",
        row.id,
        after=snapshot(row),
    )
    out = RuleOut.model_validate(row)
    await session.commit()
    return out


async def delete_rule(session: AsyncSession, who: Principal, user_id: int, rule_id: int) -> None:
    row = await session.get(NotificationRule, rule_id)
    if row is None or row.user_id != user_id:
        raise NotFound("notification rule", rule_id)
    before = snapshot(row)
    await session.delete(row)
    record(
        session,
        who.actor,
        "notifications.rule.delete",
        "notification_rule",
        rule_id,
        before=before,
    )
    await session.commit()


# --- deliveries ------------------------------------------------------------------------


async def list_deliveries(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    status: DeliveryStatus | None = None,
    limit: int = 100,
) -> list[DeliveryOut]:
    stmt = sa.select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(Delivery.user_id == user_id)
    if status is not None:
        stmt = stmt.where(Delivery.status == status.value)
    return [DeliveryOut.model_validate(row) for row in await session.scalars(stmt)]


async def _page_cancelled(session: AsyncSession, page_id: int | None) -> bool:
    return page_id is not None and await session.get(CancelledPage, page_id) is not None


def _target(method: ContactMethod) -> Target:
    return Target(Channel(method.channel), method.address, method.id)


async def dispatch(
    session: AsyncSession,
    user_id: int,
    notification: Notification,
    *,
    method_id: int | None = None,
) -> list[int]:
    """Expand a notification into one delivery (and one durable job) per step; returns the
    ids of the deliveries added. Safe to run twice: each step has a unique key."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return []
    methods = {
        m.id: m
        for m in await session.scalars(
            sa.select(ContactMethod).where(ContactMethod.user_id == user_id)
        )
    }
    steps: list[Step]
    if method_id is not None:
        if method_id not in methods:
            return []
        steps = [Step(_target(methods[method_id]), 0)]
    else:
        rules = await session.scalars(
            sa.select(NotificationRule).where(NotificationRule.user_id == user_id)
        )
        specs = [
            RuleSpec(Urgency(r.urgency), r.delay_minutes, _target(methods[r.contact_method_id]))
            for r in rules
            if r.contact_method_id in methods
        ]
        steps = plan(specs, notification.urgency, user.email)
    cancelled = await _page_cancelled(session, notification.page_id)
    now = utcnow()
    added = []
    for step in steps:
        key = delivery_key(user_id, notification.dedup_key, step.target, step.delay_minutes)
        skip = cancelled and step.delay_minutes > 0
        insert = dialect.insert_ignoring_conflicts(session, Delivery, ["key"])
        delivery_id = await session.scalar(
            insert.values(
                user_id=user_id,
                contact_method_id=step.target.method_id,
                key=key,
                channel=step.target.channel.value,
                address=step.target.address,
                urgency=notification.urgency.value,
                source=notification.source[:100],
                dedup_key=notification.dedup_key[:200],
                subject=notification.subject[:500],
                incident_id=notification.incident_id,
                page_id=notification.page_id,
                delay_minutes=step.delay_minutes,
                due_at=now + timedelta(minutes=step.delay_minutes),
                status=(DeliveryStatus.CANCELLED if skip else DeliveryStatus.QUEUED).value,
                error="page acknowledged" if skip else None,
                attempts=0,
                created_at=now,
                updated_at=now,
            ).returning(Delivery.id)
        )
        if delivery_id is None:
            continue
        added.append(delivery_id)
        if skip:
            continue
        job = await enqueue(
            session,
            DELIVER_KIND,
            {"delivery_id": delivery_id, "notification": notification.to_payload()},
            run_at=now + timedelta(minutes=step.delay_minutes),
            idempotency_key=key,
            priority=job_priority(notification),
        )
        await session.execute(
            sa.update(Delivery).where(Delivery.id == delivery_id).values(job_id=job.id)
        )
    return added


async def deliver(
    session: AsyncSession, settings: Settings, delivery_id: int, notification: Notification
) -> None:
    """Send one delivery. A failure is recorded and committed before it is raised, so the
    record shows it while the job waits for its retry (or dead-letters, if permanent)."""
    row = await session.get(Delivery, delivery_id)
    if row is None or row.status in (DeliveryStatus.SENT, DeliveryStatus.CANCELLED):
        return
    if row.delay_minutes > 0 and await _page_cancelled(session, row.page_id):
        row.status, row.error = DeliveryStatus.CANCELLED.value, "page acknowledged"
        return
    row.attempts += 1
    try:
        sent = await _send(session, settings, row, notification)
    except ChannelError as exc:
        row.status, row.error = DeliveryStatus.FAILED.value, str(exc)[:2000]
        await session.commit()
        if exc.permanent:
            raise PermanentError(str(exc)) from None
        if exc.retry_after is not None:
            raise RetryLater(str(exc), exc.retry_after) from None
        raise
    row.status, row.error = DeliveryStatus.SENT.value, None
    row.provider_id, row.sent_at = sent.provider_id, utcnow()


async def _send(
    session: AsyncSession, settings: Settings, row: Delivery, notification: Notification
) -> Sent:
    channel = Channel(row.channel)
    if channel is Channel.EMAIL:
        words = render.email(notification, settings.base_url)
        return await email.send(settings, row.address, words.subject, words.text, words.html)
    if channel is Channel.SMS:
        return await twilio.send_sms(
            settings, row.address, render.sms(notification, settings.base_url)
        )
    if channel is Channel.VOICE:
        return await twilio.call(
            settings, row.address, render.voice(notification, settings.base_url)
        )
    if channel is Channel.SLACK:
        words = render.chat(notification, settings.base_url)
        blocks = render.slack_blocks(notification, settings.base_url)
        return await chat.send_slack(settings, row.address, words.text, blocks)
    if channel is Channel.MATRIX:
        words = render.chat(notification, settings.base_url)
        return await chat.send_matrix(settings, row.address, words.text, words.html, key=row.key)
    method = None
    if row.contact_method_id is not None:
        method = await session.get(ContactMethod, row.contact_method_id)
    if method is None or not method.secret:
        raise ChannelError("the webhook was deleted", permanent=True)
    payload = {
        "event": "notification",
        "delivery_id": row.id,
        "user_id": row.user_id,
        **notification.to_payload(),
    }
    timestamp = int(utcnow().timestamp())
    return await webhook.send(
        settings, row.address, method.secret, payload, timestamp=timestamp, key=row.key
    )
