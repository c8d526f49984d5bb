"""Integrations: where alerts come from, and the key each sender proves itself with.

The key is shown once (on creation and rotation) and stored only as a digest, like API
tokens: a leaked table gives no working key, and lookup is one index probe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Integration
from tocsin.alerts.normalized import SourceKind
from tocsin.alerts.schemas import (
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    IntegrationWithKey,
)
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.auth.secrets import digest, new_secret
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.clock import utcnow
from tocsin.config import get_settings
from tocsin.errors import Invalid, NotFound
from tocsin.events import publish

KEY_PREFIX = "tocsin_int_"
PREFIX_SHOWN = len(KEY_PREFIX) + 4

Who = Principal | Actor
"""A person calling through the API or a page, or the system (command line, manifests)."""

INGEST_PATHS: dict[SourceKind, str] = {
    SourceKind.ALERTMANAGER: "/api/v1/ingest/{key}/alertmanager",
    SourceKind.GRAFANA: "/api/v1/ingest/{key}/grafana",
    SourceKind.PAGERDUTY: "/api/v1/ingest/{key}/pagerduty",
    SourceKind.OPSGENIE: "/api/v1/ingest/{key}/opsgenie",
    SourceKind.GENERIC: "/api/v1/ingest/{key}/generic",
}


def ingestion_url(kind: SourceKind, key: str, base_url: str | None = None) -> str:
    base = (base_url or get_settings().base_url).rstrip("/")
    return base + INGEST_PATHS[kind].format(key=key)


def _actor(who: Who) -> Actor:
    return who.actor if isinstance(who, Principal) else who


async def _check_owner(session: AsyncSession, who: Who, service_slug: str) -> int:
    """The id of the service; responders manage integrations of their own teams' services."""
    service = await catalog.get_service(session, service_slug)
    if not isinstance(who, Principal) or who.is_admin:
        return service.id
    if not who.can(Permission.INTEGRATIONS_MANAGE):
        raise catalog.Forbidden(f"this needs the {Permission.INTEGRATIONS_MANAGE.value} permission")
    owner = await catalog.get_team(session, service.owner_team) if service.owner_team else None
    if owner is None or owner.id not in who.team_ids:
        raise catalog.Forbidden(
            f"integrations of service {service_slug} can only be managed by an admin or a "
            "member of the team that owns it"
        )
    return service.id


async def service_slugs(session: AsyncSession, service_ids: set[int]) -> dict[int, str]:
    if not service_ids:
        return {}
    rows = await session.execute(
        sa.select(Service.id, Service.slug).where(Service.id.in_(service_ids))
    )
    return {row[0]: row[1] for row in rows}


def _out(row: Integration, service: str) -> IntegrationOut:
    return IntegrationOut(
        id=row.id,
        service=service,
        kind=SourceKind(row.kind),
        name=row.name,
        key_prefix=row.key_prefix,
        rate_limit_per_minute=row.rate_limit_per_minute,
        enabled=row.enabled,
        mapping=row.mapping,
        last_received_at=row.last_received_at,
        heartbeat_minutes=row.heartbeat_minutes,
        last_ping_at=row.last_ping_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _with_key(out: IntegrationOut, key: str) -> IntegrationWithKey:
    return IntegrationWithKey(**out.model_dump(), key=key, url=ingestion_url(out.kind, key))


def _check_mapping(kind: SourceKind, mapping: Any) -> None:
    if mapping is not None and kind is not SourceKind.GENERIC:
        raise Invalid("mapping", "only generic integrations have a field mapping")


async def create_integration(
    session: AsyncSession, who: Who, body: IntegrationCreate
) -> IntegrationWithKey:
    service_id = await _check_owner(session, who, body.service)
    _check_mapping(body.kind, body.mapping)
    key = new_secret(KEY_PREFIX)
    row = Integration(
        service_id=service_id,
        kind=body.kind.value,
        name=body.name or f"{body.kind.value} for {body.service}",
        key_prefix=key[:PREFIX_SHOWN],
        token_hash=digest(key),
        rate_limit_per_minute=body.rate_limit_per_minute,
        enabled=True,
        mapping=body.mapping.model_dump(mode="json") if body.mapping else None,
        heartbeat_minutes=body.heartbeat_minutes,
    )
    session.add(row)
    await session.flush()
    await _start_heartbeat(session, row)
    audit.record(session, _actor(who), "create", "integration", row.id, after=snapshot(row))
    await session.commit()
    await publish("alert.integration.created", {"id": row.id}, Permission.ALERTS_READ.value)
    return _with_key(_out(row, body.service), key)


async def _start_heartbeat(session: AsyncSession, row: Integration) -> None:
    """Configuring a heartbeat counts as the first sign of life: the first check is due one
    period later, so a sender that never pings is noticed."""
    if not row.heartbeat_minutes:
        return
    from tocsin.alerts.service import heartbeats

    row.last_ping_at = row.last_ping_at or utcnow()
    await heartbeats.schedule_check(session, row, row.last_ping_at)


async def _row(session: AsyncSession, integration_id: int) -> tuple[Integration, str]:
    row = await session.get(Integration, integration_id)
    if row is None:
        raise NotFound("integration", integration_id)
    slugs = await service_slugs(session, {row.service_id})
    return row, slugs[row.service_id]


async def list_integrations(
    session: AsyncSession, *, service: str | None = None
) -> list[IntegrationOut]:
    stmt = sa.select(Integration).order_by(Integration.id)
    if service is not None:
        stmt = stmt.where(Integration.service_id == await catalog.service_id(session, service))
    rows = list(await session.scalars(stmt))
    slugs = await service_slugs(session, {row.service_id for row in rows})
    return [_out(row, slugs[row.service_id]) for row in rows]


async def get_integration(session: AsyncSession, integration_id: int) -> IntegrationOut:
    row, slug = await _row(session, integration_id)
    return _out(row, slug)


async def update_integration(
    session: AsyncSession, who: Who, integration_id: int, body: IntegrationUpdate
) -> IntegrationOut:
    row, slug = await _row(session, integration_id)
    await _check_owner(session, who, slug)
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "rate_limit_per_minute", "enabled"):
        if field in changes and changes[field] is None:
            raise Invalid(field, "must not be null")
    _check_mapping(SourceKind(row.kind), changes.get("mapping"))
    before = snapshot(row)
    for field, value in changes.items():
        setattr(row, field, value)
    await session.flush()
    if changes.get("heartbeat_minutes"):
        await _start_heartbeat(session, row)
    audit.record(
        session, _actor(who), "update", "integration", row.id, before=before, after=snapshot(row)
    )
    await session.commit()
    forget_keys()
    return _out(row, slug)


async def rotate_key(session: AsyncSession, who: Who, integration_id: int) -> IntegrationWithKey:
    """A new key; the old one stops working at once (senders must be reconfigured)."""
    row, slug = await _row(session, integration_id)
    await _check_owner(session, who, slug)
    before = snapshot(row)
    key = new_secret(KEY_PREFIX)
    row.token_hash = digest(key)
    row.key_prefix = key[:PREFIX_SHOWN]
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "rotate-key",
        "integration",
        row.id,
        before=before,
        after=snapshot(row),
    )
    await session.commit()
    forget_keys()
    return _with_key(_out(row, slug), key)


@dataclass(frozen=True, slots=True)
class Sender:
    """What a receiving endpoint knows once a key checked out."""

    integration_id: int
    service_id: int
    kind: SourceKind
    enabled: bool
    rate_limit_per_minute: int
    mapping: dict[str, Any] | None


KEY_CACHE_SECONDS = 5.0
"""How long a process trusts a key it looked up. A change made through this process (rotate,
disable, new limit) applies at once; one made through another process reaches this one
within this time."""
KEY_CACHE_SIZE = 10_000

_senders: dict[str, tuple[float, Sender]] = {}
"""token digest -> (monotonic expiry, sender); known keys only, so unknown keys cannot fill it"""


def forget_keys() -> None:
    """Drop every cached key: an integration changed."""
    _senders.clear()


def cached_sender(key: str) -> Sender | None:
    """The integration of a key this process checked less than `KEY_CACHE_SECONDS` ago;
    None when only the database can tell (the caller then asks `sender_for_key`). Lets the
    ingestion path skip opening a session at all for a known key."""
    if not key:
        return None
    cached = _senders.get(digest(key))
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    return None


async def sender_for_key(session: AsyncSession, key: str) -> Sender | None:
    """The integration whose key this is, or None for an unknown key.

    Every ingestion request asks, so known keys are kept for `KEY_CACHE_SECONDS`: the
    look-up would otherwise be a transaction of its own before the write."""
    if not key:
        return None
    token_hash = digest(key)
    cached = _senders.get(token_hash)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    row = await session.scalar(sa.select(Integration).where(Integration.token_hash == token_hash))
    if row is None:
        _senders.pop(token_hash, None)
        return None
    sender = _sender(row)
    if len(_senders) >= KEY_CACHE_SIZE:
        _senders.clear()
    _senders[token_hash] = (now + KEY_CACHE_SECONDS, sender)
    return sender


def _sender(row: Integration) -> Sender:
    return Sender(
        integration_id=row.id,
        service_id=row.service_id,
        kind=SourceKind(row.kind),
        enabled=row.enabled,
        rate_limit_per_minute=row.rate_limit_per_minute,
        mapping=row.mapping,
    )
