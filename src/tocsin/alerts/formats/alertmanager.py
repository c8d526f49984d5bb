"""Prometheus Alertmanager: its webhook notifications and its own alert-posting API.

Two shapes reach Tocsin from the Prometheus world:

* the webhook an Alertmanager receiver sends (`version` "4"): one notification per alert
  group, with `groupKey`, per-alert `status` and Alertmanager's own `fingerprint`;
* the body of Alertmanager's `POST /api/v2/alerts` (a bare array of alerts), so Prometheus
  and the OpenTelemetry Collector can send straight to Tocsin as if it were an Alertmanager.
  There the status is not stated but follows from `endsAt`, exactly as in Alertmanager: an
  alert whose `endsAt` has passed is resolved; a firing alert without `endsAt` resolves by
  itself after the resolve timeout unless it is sent again.

Grafana's webhook shares the webhook shape; see `grafana.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from tocsin.alerts.formats.errors import AlertFormatError, ErrorKind, FieldError, Loc
from tocsin.alerts.formats.wire import (
    Labels,
    OptionalLabels,
    Text,
    WireModel,
    WireTime,
    non_empty_labels,
    pointer,
    validate,
    validate_list,
)
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    SourceKind,
    WireFormat,
    severity_from_word,
    summary_from,
)

WEBHOOK_VERSION = "4"
DEFAULT_RESOLVE_TIMEOUT = timedelta(minutes=5)
"""Alertmanager's default `resolve_timeout`."""


class WebhookAlert(WireModel):
    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: OptionalLabels = {}
    startsAt: WireTime = None
    endsAt: WireTime = None
    generatorURL: Text = ""
    fingerprint: Text = ""


class WebhookMessage(WireModel):
    version: str
    status: Literal["firing", "resolved"] | None = None
    receiver: Text = ""
    groupKey: Text = ""
    alerts: list[WebhookAlert]
    groupLabels: OptionalLabels = {}
    commonLabels: OptionalLabels = {}
    commonAnnotations: OptionalLabels = {}
    externalURL: Text = ""
    truncatedAlerts: int = 0


class PostableAlert(WireModel):
    """One element of the `POST /api/v2/alerts` array (Alertmanager's OpenAPI `postableAlert`)."""

    labels: Labels
    annotations: OptionalLabels = {}
    startsAt: WireTime = None
    endsAt: WireTime = None
    generatorURL: Text = ""


def _labels_or_error(labels: dict[str, str], loc: Loc) -> dict[str, str]:
    kept = non_empty_labels(labels)
    if not kept:
        raise AlertFormatError.at(loc, "at least one label pair required")
    return kept


def webhook_alerts(
    message: WebhookMessage,
    *,
    now: datetime,
    source: SourceKind,
    wire_format: WireFormat,
    extras: Callable[[int], dict[str, Any]] | None = None,
) -> list[NormalizedAlert]:
    """Normalize a webhook notification (Alertmanager's, or Grafana's which shares it).

    A webhook never sets `expires_at`: Alertmanager repeats a firing group only every
    `repeat_interval` (hours) and reports resolution explicitly, so silence between
    notifications does not mean the alert ended.
    """
    out: list[NormalizedAlert] = []
    errors: list[FieldError] = []
    for index, alert in enumerate(message.alerts):
        loc: Loc = ("alerts", index)
        try:
            labels = _labels_or_error(alert.labels, (*loc, "labels"))
            starts_at = alert.startsAt or alert.endsAt or now
            status = AlertStatus(alert.status)
            ends_at = None
            if status is AlertStatus.RESOLVED:
                ends_at = alert.endsAt or now
                if ends_at < starts_at:
                    raise AlertFormatError.at((*loc, "endsAt"), "must not be before startsAt")
        except AlertFormatError as exc:
            errors.extend(exc.errors)
            continue
        out.append(
            NormalizedAlert(
                source=source,
                wire_format=wire_format,
                dedup_basis=DedupBasis.LABELS,
                status=status,
                labels=labels,
                annotations=dict(alert.annotations),
                summary=summary_from(labels, alert.annotations),
                severity=severity_from_word(labels.get("severity")),
                starts_at=starts_at,
                ends_at=ends_at,
                generator_url=alert.generatorURL or None,
                group_key=message.groupKey or None,
                group_labels=dict(message.groupLabels),
                sender_fingerprint=alert.fingerprint or None,
                details=extras(index) if extras else {},
                raw_pointer=pointer("alerts", index),
            )
        )
    if errors:
        raise AlertFormatError(errors)
    return out


def check_version(version: str, expected: str) -> None:
    if version != expected:
        raise AlertFormatError.at(("version",), f'must be "{expected}"')


def parse_webhook(body: object, *, now: datetime) -> list[NormalizedAlert]:
    """Alertmanager webhook notification (`version` "4") -> normalized alerts."""
    message = validate(WebhookMessage, body)
    check_version(message.version, WEBHOOK_VERSION)
    return webhook_alerts(
        message,
        now=now,
        source=SourceKind.ALERTMANAGER,
        wire_format=WireFormat.ALERTMANAGER_WEBHOOK_V4,
    )


def parse_api_v2(
    body: object,
    *,
    now: datetime,
    resolve_timeout: timedelta = DEFAULT_RESOLVE_TIMEOUT,
) -> list[NormalizedAlert]:
    """Alertmanager `POST /api/v2/alerts` body (an array) -> normalized alerts.

    Timing follows Alertmanager: no `startsAt` means `endsAt` if given, else now; an alert
    whose `endsAt` is not after `now` is resolved; a firing alert expires at its `endsAt`,
    or `resolve_timeout` after now when it has none. Unlike Alertmanager, which stores the
    valid alerts of a partly invalid batch, Tocsin rejects the whole batch, so that a
    rejected request never changes anything.
    """
    posted = validate_list(PostableAlert, body)
    out: list[NormalizedAlert] = []
    errors: list[FieldError] = []
    for index, alert in enumerate(posted):
        try:
            labels = _labels_or_error(alert.labels, (index, "labels"))
            starts_at = alert.startsAt or alert.endsAt or now
            if alert.endsAt is not None and alert.endsAt < starts_at:
                raise AlertFormatError.at((index, "endsAt"), "start time must be before end time")
        except AlertFormatError as exc:
            errors.extend(exc.errors)
            continue
        resolved = alert.endsAt is not None and alert.endsAt <= now
        out.append(
            NormalizedAlert(
                source=SourceKind.ALERTMANAGER,
                wire_format=WireFormat.ALERTMANAGER_API_V2,
                dedup_basis=DedupBasis.LABELS,
                status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
                labels=labels,
                annotations=dict(alert.annotations),
                summary=summary_from(labels, alert.annotations),
                severity=severity_from_word(labels.get("severity")),
                starts_at=starts_at,
                ends_at=alert.endsAt if resolved else None,
                expires_at=None if resolved else (alert.endsAt or now + resolve_timeout),
                generator_url=alert.generatorURL or None,
                raw_pointer=pointer(index),
            )
        )
    if errors:
        raise AlertFormatError(errors)
    return out


def api_v2_rejection(error: AlertFormatError) -> tuple[int, dict[str, Any]]:
    """The status and body Alertmanager's API answers for the same mistake.

    Its OpenAPI validation reports only the first problem, e.g. 422
    `{"code": 602, "message": "0.labels in body is required"}` (602 = required, 601 = wrong
    type); problems found after decoding are 400s.
    """
    first = error.errors[0]
    name = ".".join(str(part) for part in first.loc) or "alerts"
    if first.kind is ErrorKind.REQUIRED:
        return 422, {"code": 602, "message": f"{name} in body is required"}
    if first.kind is ErrorKind.TYPE:
        return 422, {"code": 601, "message": f"{name} in body must be of type {first.expected}"}
    return 400, {"code": 400, "message": str(first)}
