"""Opsgenie Alert API: create (`POST /v2/alerts`), close and acknowledge by alias.

Tools with an Opsgenie integration (Alertmanager's `opsgenie_configs` among them) create an
alert with a client-chosen `alias` and later close it with
`POST /v2/alerts/{alias}/close?identifierType=alias`. The alias is the alert's identity.
Opsgenie's other identifier types (`id`, `tiny`, and `id` is its default) name alerts by
identifiers Opsgenie itself assigned, which a sender can only have learnt from Opsgenie;
they are refused with a message saying to use the alias.

Mapping: `details` (string pairs; Alertmanager puts the alert's labels there) become the
labels, plus `entity` when given; `message` is the summary; `priority` (P1…P5, default P3)
sets the severity; `description`, `note`, `source`, `tags`, `user` and `priority` are kept
as annotations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from uuid import uuid4

from pydantic import field_validator

from tocsin.alerts.formats.errors import AlertFormatError, ErrorKind
from tocsin.alerts.formats.wire import Text, WireModel, pointer, stringify, validate
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    SourceKind,
    WireFormat,
    first_line,
    severity_from_word,
)

MAX_ALIAS = 512
"""Opsgenie's limit on `alias`."""
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
DEFAULT_PRIORITY = "P3"


def _uuid_key() -> str:
    return uuid4().hex


class CreateAlert(WireModel):
    message: str
    alias: Text = ""
    description: Text = ""
    tags: list[str] | None = None
    details: dict[str, Any] | None = None
    entity: Text = ""
    source: Text = ""
    priority: Text = ""
    user: Text = ""
    note: Text = ""

    @field_validator("details")
    @classmethod
    def _scalar_details(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, item in (value or {}).items():
            if isinstance(item, dict | list):
                raise ValueError(f"{key}: values must be strings")
        return value


class AlertAction(WireModel):
    """Body of close and acknowledge; every field is optional and the body may be empty."""

    user: Text = ""
    source: Text = ""
    note: Text = ""


def _alias(alias: str, loc: tuple[str, ...]) -> str:
    if len(alias) > MAX_ALIAS:
        raise AlertFormatError.at(loc, f"must be at most {MAX_ALIAS} characters")
    return alias


def parse_create(
    body: object, *, now: datetime, new_key: Callable[[], str] = _uuid_key
) -> list[NormalizedAlert]:
    """An Opsgenie create-alert body -> a one-element list of normalized alerts."""
    create = validate(CreateAlert, body)
    if not create.message.strip():
        raise AlertFormatError.at(("message",), "can not be empty")
    priority = create.priority or DEFAULT_PRIORITY
    if priority not in PRIORITIES:
        raise AlertFormatError.at(("priority",), f"should be one of [ {', '.join(PRIORITIES)} ]")
    alias = _alias(create.alias, ("alias",))
    labels = {name: stringify(value) for name, value in (create.details or {}).items()}
    labels = {name: value for name, value in labels.items() if name and value}
    if create.entity:
        labels.setdefault("entity", create.entity)
    annotations = {
        "summary": create.message,
        "priority": priority,
        "description": create.description,
        "note": create.note,
        "source": create.source,
        "user": create.user,
        "tags": ",".join(create.tags or []),
    }
    return [
        NormalizedAlert(
            source=SourceKind.OPSGENIE,
            wire_format=WireFormat.OPSGENIE_ALERT_V2,
            dedup_key=alias or new_key(),
            dedup_basis=DedupBasis.ALIAS if alias else DedupBasis.GENERATED,
            status=AlertStatus.FIRING,
            labels=labels,
            annotations={name: value for name, value in annotations.items() if value},
            summary=first_line(create.message),
            severity=severity_from_word(priority),
            starts_at=now,
            details={"tags": list(create.tags)} if create.tags else {},
            raw_pointer=pointer(),
        )
    ]


def _action(
    action: Literal["close", "acknowledge"],
    body: object,
    *,
    identifier: str,
    identifier_type: str | None,
    now: datetime,
) -> list[NormalizedAlert]:
    validate(AlertAction, {} if body is None else body)
    kind = identifier_type or "id"
    if kind != "alias":
        raise AlertFormatError.at(
            ("identifierType",),
            f'"{kind}" is not supported: close and acknowledge by alias (identifierType=alias)',
        )
    if not identifier:
        raise AlertFormatError.at(("identifier",), "required", ErrorKind.REQUIRED)
    close = action == "close"
    return [
        NormalizedAlert(
            source=SourceKind.OPSGENIE,
            wire_format=WireFormat.OPSGENIE_ALERT_V2,
            dedup_key=_alias(identifier, ("identifier",)),
            dedup_basis=DedupBasis.ALIAS,
            status=AlertStatus.RESOLVED if close else AlertStatus.FIRING,
            starts_at=now,
            ends_at=now if close else None,
            acknowledged=not close,
            partial=True,
            raw_pointer=pointer(),
        )
    ]


def parse_close(
    body: object, *, identifier: str, identifier_type: str | None, now: datetime
) -> list[NormalizedAlert]:
    """`POST /v2/alerts/{identifier}/close?identifierType=alias` -> a resolving reference.

    `identifier` comes from the URL path and `identifier_type` from the query string (None
    when absent, which Opsgenie reads as "id").
    """
    return _action("close", body, identifier=identifier, identifier_type=identifier_type, now=now)


def parse_acknowledge(
    body: object, *, identifier: str, identifier_type: str | None, now: datetime
) -> list[NormalizedAlert]:
    """`POST /v2/alerts/{identifier}/acknowledge?identifierType=alias` -> an acknowledging
    reference."""
    return _action(
        "acknowledge", body, identifier=identifier, identifier_type=identifier_type, now=now
    )


def accepted(request_id: str, took: float = 0.0) -> tuple[int, dict[str, Any]]:
    """Opsgenie's answer to an accepted request: 202, processed asynchronously."""
    return 202, {"result": "Request will be processed", "took": took, "requestId": request_id}


def rejection(error: AlertFormatError, request_id: str, took: float = 0.0) -> tuple[int, Any]:
    """Opsgenie's answer to an unprocessable body: 422 with the errors keyed by field."""
    return 422, {
        "message": "Request body is not processable. Please check the errors.",
        "errors": {field_error.field: field_error.message for field_error in error.errors},
        "took": took,
        "requestId": request_id,
    }
