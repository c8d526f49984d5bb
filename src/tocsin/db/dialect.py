"""The few places where SQLite and PostgreSQL must be spoken to differently.

Every dialect branch in the code base lives here so that the rest reads as plain SQLAlchemy.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

S = TypeVar("S", bound=Select[Any])


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def is_postgres(session: AsyncSession) -> bool:
    return dialect_name(session) == "postgresql"


def lock_skip_locked(session: AsyncSession, stmt: S) -> S:
    """Row locks that let concurrent claimers pass each other (PostgreSQL).

    SQLite has a single writer and BEGIN IMMEDIATE, so the claim is already exclusive there.
    """
    if is_postgres(session):
        return stmt.with_for_update(skip_locked=True)
    return stmt
