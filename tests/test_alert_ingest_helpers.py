"""Shared builders for the alert ingestion tests (no tests here): a service, an integration,
fresh reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, AlertEvent
from tocsin.alerts.normalized import SourceKind
from tocsin.alerts.schemas import IntegrationCreate, IntegrationWithKey
from tocsin.audit.service import Actor
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import ServiceCreate
from tocsin.jobs.models import Job

WIRE = Path(__file__).parent / "fixtures" / "wire"
SYSTEM = Actor.system("test")


def capture(name: str) -> Any:
    return json.loads((WIRE / name).read_text())


async def make_service(session: AsyncSession, slug: str = "checkout", **extra: Any) -> str:
    await catalog.create_service(session, SYSTEM, ServiceCreate(slug=slug, name=slug, **extra))
    return slug


async def make_integration(
    session: AsyncSession, kind: SourceKind, service: str = "checkout", **extra: Any
) -> IntegrationWithKey:
    return await alerts.create_integration(
        session, SYSTEM, IntegrationCreate(service=service, kind=kind, **extra)
    )


async def stored_alerts(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Alert]:
    """A fresh session per read: a long-lived one would keep seeing its first snapshot."""
    async with sessionmaker() as session:
        return list(await session.scalars(sa.select(Alert).order_by(Alert.id)))


async def count(sessionmaker: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessionmaker() as session:
        found = await session.scalar(sa.select(sa.func.count()).select_from(model))
        return int(found or 0)


async def events_of(sessionmaker: async_sessionmaker[AsyncSession]) -> list[AlertEvent]:
    async with sessionmaker() as session:
        return list(await session.scalars(sa.select(AlertEvent).order_by(AlertEvent.id)))


async def process_jobs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Job]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                sa.select(Job).where(Job.kind == alerts.PROCESS_JOB).order_by(Job.id)
            )
        )
