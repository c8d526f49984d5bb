"""Turn a row into the JSON-safe dict the audit trail stores as before/after."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

REDACTED_COLUMNS = frozenset({"password_hash", "token_hash", "csrf_token", "secret"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def snapshot(obj: object, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Column values of a mapped object; secrets are never written to the audit trail."""
    mapper = sa.inspect(obj).mapper
    out: dict[str, Any] = {}
    for column in mapper.column_attrs:
        key = column.key
        if key in exclude or key in {"created_at", "updated_at"}:
            continue
        if key in REDACTED_COLUMNS:
            out[key] = "[redacted]" if getattr(obj, key) else None
            continue
        out[key] = _jsonable(getattr(obj, key))
    return out
