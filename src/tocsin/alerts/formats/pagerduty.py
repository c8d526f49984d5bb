"""PagerDuty Events API: v2 (`POST /v2/enqueue`) and the v1 generic shape.

Many tools (Alertmanager's `pagerduty_configs`, Datadog, Sentry, custom scripts…) only know
how to page through PagerDuty. Accepting its Events API lets them page through Tocsin by
changing one URL. Semantics follow PagerDuty's:

* the alert's identity is `dedup_key` (v1: `incident_key`); a trigger without one creates a
  new alert each time, under a generated key that the answer returns;
* only a trigger carries content (`payload`, required with `summary`, `source` and
  `severity`); acknowledge and resolve name an alert by key and change its state, whatever
  payload they carry (Alertmanager sends one on resolve; PagerDuty ignores it, so do we);
* the routing key (v1: service key) is the integration's key. It is required here and
  checked by the receiving endpoint (`routing_key()`), never stored with the alert.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from uuid import uuid4

from pydantic import Field

from tocsin.alerts.formats.errors import AlertFormatError, ErrorKind
from tocsin.alerts.formats.wire import Text, WireModel, WireTime, pointer, validate
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    Severity,
    SourceKind,
    WireFormat,
    first_line,
)

MAX_DEDUP_KEY = 255
"""PagerDuty's limit on `dedup_key`."""
MAX_SUMMARY = 1024
"""PagerDuty's limit on `summary`: a longer one is cut, not refused."""


def _uuid_key() -> str:
    return uuid4().hex


class Payload(WireModel):
    summary: str
    source: str
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: WireTime = None
    component: Text = ""
    group: Text = ""
    class_: Text = Field("", alias="class")
    custom_details: Any = None


class Link(WireModel):
    href: str
    text: Text = ""


class Image(WireModel):
    src: str
    href: Text = ""
    alt: Text = ""


class EventV2(WireModel):
    routing_key: str
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = None
    payload: dict[str, Any] | None = None
    client: Text = ""
    client_url: Text = ""
    links: list[Link] | None = None
    images: list[Image] | None = None


class EventV1(WireModel):
    service_key: str
    event_type: Literal["trigger", "acknowledge", "resolve"]
    incident_key: str | None = None
    description: Text = ""
    details: Any = None
    client: Text = ""
    client_url: Text = ""
    contexts: list[dict[str, Any]] | None = None


def _given_key(key: str | None, field: str) -> str | None:
    if not key:
        return None
    if len(key) > MAX_DEDUP_KEY:
        raise AlertFormatError.at((field,), f"must be at most {MAX_DEDUP_KEY} characters")
    return key


def _key_for(action: str, key: str | None, field: str) -> str:
    if key is None:
        raise AlertFormatError.at((field,), f"required for {action} events", ErrorKind.REQUIRED)
    return key


def _reference(*, action: str, key: str, now: datetime, wire_format: WireFormat) -> NormalizedAlert:
    """An acknowledge or resolve: names the alert, changes its state, brings no content."""
    resolve = action == "resolve"
    return NormalizedAlert(
        source=SourceKind.PAGERDUTY,
        wire_format=wire_format,
        dedup_key=key,
        dedup_basis=DedupBasis.DEDUP_KEY,
        status=AlertStatus.RESOLVED if resolve else AlertStatus.FIRING,
        starts_at=now,
        ends_at=now if resolve else None,
        acknowledged=not resolve,
        partial=True,
    )


def parse_events_v2(
    body: object, *, now: datetime, new_key: Callable[[], str] = _uuid_key
) -> list[NormalizedAlert]:
    """One Events API v2 event -> a one-element list (the same return type as the batch
    formats, so the ingestion pipeline treats every format alike)."""
    event = validate(EventV2, body)
    if not event.routing_key:
        raise AlertFormatError.at(("routing_key",), "must not be empty")
    given = _given_key(event.dedup_key, "dedup_key")
    if event.event_action != "trigger":
        return [
            _reference(
                action=event.event_action,
                key=_key_for(event.event_action, given, "dedup_key"),
                now=now,
                wire_format=WireFormat.PAGERDUTY_EVENTS_V2,
            )
        ]
    if event.payload is None:
        raise AlertFormatError.at(("payload",), "required for trigger events", ErrorKind.REQUIRED)
    # Validated only now: PagerDuty ignores the payload of acknowledge and resolve events,
    # so a sloppy one there must not get the state change rejected.
    payload = validate(Payload, event.payload, ("payload",))
    for name in ("summary", "source"):
        if not getattr(payload, name).strip():
            raise AlertFormatError.at(("payload", name), "must not be blank")
    labels = {
        "source": payload.source,
        "severity": payload.severity,
        "component": payload.component,
        "group": payload.group,
        "class": payload.class_,
    }
    details: dict[str, Any] = {}
    if payload.custom_details is not None:
        details["custom_details"] = payload.custom_details
    if event.links:
        details["links"] = [link.model_dump() for link in event.links]
    if event.images:
        details["images"] = [image.model_dump() for image in event.images]
    if event.client:
        details["client"] = event.client
    summary = payload.summary[:MAX_SUMMARY]
    return [
        NormalizedAlert(
            source=SourceKind.PAGERDUTY,
            wire_format=WireFormat.PAGERDUTY_EVENTS_V2,
            dedup_key=given or new_key(),
            dedup_basis=DedupBasis.DEDUP_KEY if given else DedupBasis.GENERATED,
            status=AlertStatus.FIRING,
            labels={name: value for name, value in labels.items() if value},
            annotations={"summary": summary},
            summary=first_line(summary),
            severity=Severity(payload.severity),
            starts_at=payload.timestamp or now,
            generator_url=event.client_url or None,
            details=details,
            raw_pointer=pointer(),
        )
    ]


def parse_events_v1(
    body: object, *, now: datetime, new_key: Callable[[], str] = _uuid_key
) -> list[NormalizedAlert]:
    """One v1 generic event (`create_event.json`) -> a one-element list.

    v1 has no severity and no timestamp: the alert starts when it is received, and its
    severity is left for the routing policy to decide.
    """
    event = validate(EventV1, body)
    if not event.service_key:
        raise AlertFormatError.at(("service_key",), "must not be empty")
    given = _given_key(event.incident_key, "incident_key")
    if event.event_type != "trigger":
        return [
            _reference(
                action=event.event_type,
                key=_key_for(event.event_type, given, "incident_key"),
                now=now,
                wire_format=WireFormat.PAGERDUTY_EVENTS_V1,
            )
        ]
    if not event.description.strip():
        raise AlertFormatError.at(("description",), "required for trigger events")
    summary = event.description[:MAX_SUMMARY]
    details: dict[str, Any] = {}
    if event.details is not None:
        details["details"] = event.details
    if event.contexts:
        details["contexts"] = event.contexts
    return [
        NormalizedAlert(
            source=SourceKind.PAGERDUTY,
            wire_format=WireFormat.PAGERDUTY_EVENTS_V1,
            dedup_key=given or new_key(),
            dedup_basis=DedupBasis.DEDUP_KEY if given else DedupBasis.GENERATED,
            status=AlertStatus.FIRING,
            labels={"client": event.client} if event.client else {},
            annotations={"summary": summary},
            summary=first_line(summary),
            starts_at=now,
            generator_url=event.client_url or None,
            details=details,
            raw_pointer=pointer(),
        )
    ]


def routing_key(body: object) -> str | None:
    """The integration key inside a v2 or v1 event, for the endpoint to authenticate with
    before parsing anything else."""
    if not isinstance(body, dict):
        return None
    key = body.get("routing_key", body.get("service_key"))
    return key if isinstance(key, str) else None


def accepted_v2(dedup_key: str) -> tuple[int, dict[str, str]]:
    """PagerDuty's answer to an accepted v2 event: 202 with the key to resolve it later."""
    return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def accepted_v1(incident_key: str) -> tuple[int, dict[str, str]]:
    return 200, {"status": "success", "message": "Event processed", "incident_key": incident_key}


def rejection(error: AlertFormatError) -> tuple[int, dict[str, Any]]:
    """PagerDuty's answer to an invalid event (both versions): 400 with one line per problem."""
    return 400, {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [str(field_error) for field_error in error.errors],
    }
