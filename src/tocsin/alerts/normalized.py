"""One shape for every alert, whatever tool sent it.

Each wire format (Alertmanager, Grafana, PagerDuty, Opsgenie, generic JSON) is turned into
`NormalizedAlert` at the edge, so deduplication, grouping, silences and paging are written
once. The model also keeps what the rest of the pipeline must not lose: the sender's own
identity for the alert (`dedup_key`), the group it arrived in, and where in the stored raw
body it came from (`raw_pointer`), so a decision can always be traced to the bytes received.

Invariants (checked on construction): a resolved alert has `ends_at`; a firing one does not
(it may have `expires_at`, the moment it resolves by itself unless the sender repeats it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tocsin.alerts.fingerprint import label_fingerprint


class SourceKind(StrEnum):
    """The kind of integration an alert arrives through."""

    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"
    GENERIC = "generic"


class WireFormat(StrEnum):
    """The exact body shape that was parsed, kept for tracing and troubleshooting."""

    ALERTMANAGER_WEBHOOK_V4 = "alertmanager-webhook-v4"
    ALERTMANAGER_API_V2 = "alertmanager-api-v2"
    GRAFANA_WEBHOOK_V1 = "grafana-webhook-v1"
    PAGERDUTY_EVENTS_V2 = "pagerduty-events-v2"
    PAGERDUTY_EVENTS_V1 = "pagerduty-events-v1"
    OPSGENIE_ALERT_V2 = "opsgenie-alert-v2"
    GENERIC_JSON = "generic-json"


class DedupBasis(StrEnum):
    """Where `dedup_key` comes from; each sender has its own notion of "the same alert"."""

    LABELS = "labels"
    """Alertmanager-compatible label fingerprint (Alertmanager, Grafana, generic default)."""
    DEDUP_KEY = "dedup_key"
    """PagerDuty `dedup_key` (v2) or `incident_key` (v1)."""
    ALIAS = "alias"
    """Opsgenie `alias`."""
    FIELD = "field"
    """A field of a generic body chosen by the integration's mapping."""
    GENERATED = "generated"
    """The sender gave no key (PagerDuty trigger without dedup_key, Opsgenie without alias):
    every such event is a new alert, as with the original services."""


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(StrEnum):
    """PagerDuty's four levels: the common denominator the senders can be mapped onto."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_SEVERITY_WORDS: dict[str, Severity] = {
    **dict.fromkeys(
        ("critical", "crit", "page", "fatal", "emergency", "emerg", "alert", "disaster", "p1"),
        Severity.CRITICAL,
    ),
    **dict.fromkeys(("error", "err", "high", "major", "severe", "p2"), Severity.ERROR),
    **dict.fromkeys(("warning", "warn", "medium", "average", "minor", "p3"), Severity.WARNING),
    **dict.fromkeys(
        ("info", "informational", "information", "low", "notice", "debug", "none", "p4", "p5"),
        Severity.INFO,
    ),
}


def severity_from_word(word: str | None) -> Severity | None:
    """Map a sender's severity word (label `severity`, Opsgenie priority…) onto `Severity`.

    Unknown words give None rather than a guess: the policy that maps alerts to incident
    severities can then fall back to its own default and say so.
    """
    if not word:
        return None
    return _SEVERITY_WORDS.get(word.strip().lower())


def first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0].strip() if stripped else ""


def summary_from(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The one-line text a person sees: the summary annotation first, as Alertmanager users
    write it, then the description, then the alert's name, then its labels."""
    for key in ("summary", "description", "message"):
        line = first_line(annotations.get(key, ""))
        if line:
            return line
    name = first_line(labels.get("alertname", ""))
    if name:
        return name
    return first_line(", ".join(f"{key}={value}" for key, value in sorted(labels.items())))[
        :SUMMARY_FALLBACK_LENGTH
    ]


SUMMARY_FALLBACK_LENGTH = 200


GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
"""Go's zero time: what Alertmanager and Grafana send for "no end time"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalizedAlert:
    source: SourceKind
    wire_format: WireFormat
    dedup_basis: DedupBasis
    dedup_key: str = ""
    """Identity of the alert within its integration: re-posts with the same key merge. With
    `DedupBasis.LABELS` it is always the label fingerprint (computed, never passed in)."""
    status: AlertStatus
    starts_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    severity: Severity | None = None
    ends_at: datetime | None = None
    """When a resolved alert stopped; None while firing."""
    expires_at: datetime | None = None
    """When a firing alert resolves by itself unless repeated (Alertmanager API v2 `endsAt`
    in the future, or the resolve timeout when absent); None if it never expires."""
    acknowledged: bool = False
    """The sender acknowledged the alert (PagerDuty `acknowledge`, Opsgenie acknowledge)."""
    partial: bool = False
    """The event names an alert by key and says what happened to it, but carries no content
    (PagerDuty acknowledge/resolve, Opsgenie close): merging keeps the stored content."""
    generator_url: str | None = None
    group_key: str | None = None
    """The sender's grouping (Alertmanager and Grafana `groupKey`), when it has one."""
    group_labels: dict[str, str] = field(default_factory=dict)
    sender_fingerprint: str | None = None
    """The fingerprint the sender claimed, kept as received (Grafana's may cover labels it
    does not send, so it can differ from `fingerprint`)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Structured extras that are neither labels nor annotations (PagerDuty custom_details,
    Grafana values, links)."""
    raw_pointer: str = ""
    """JSON pointer (RFC 6901) to this alert inside the stored raw body; "" is the body."""
    fingerprint: str = field(init=False)
    """Alertmanager-compatible fingerprint of `labels`, whatever `dedup_basis` is."""

    def __post_init__(self) -> None:
        if self.status is AlertStatus.RESOLVED and self.ends_at is None:
            raise ValueError("a resolved alert needs ends_at")
        if self.status is AlertStatus.FIRING and self.ends_at is not None:
            raise ValueError("a firing alert has no ends_at (use expires_at)")
        for moment in (self.starts_at, self.ends_at, self.expires_at):
            if moment is not None and moment.utcoffset() != UTC.utcoffset(None):
                raise ValueError("alert times must be aware UTC")
        object.__setattr__(self, "fingerprint", label_fingerprint(self.labels))
        if self.dedup_basis is DedupBasis.LABELS:
            object.__setattr__(self, "dedup_key", self.fingerprint)
        elif not self.dedup_key:
            raise ValueError(f"dedup_basis {self.dedup_basis} needs a dedup_key")

    @property
    def firing(self) -> bool:
        return self.status is AlertStatus.FIRING
