"""Generic JSON: any tool that can POST JSON, with a per-integration field mapping.

The mapping says where each field of the normalized alert lives in the sender's body, as an
RFC 6901 JSON pointer relative to one alert (`/labels/team`, `/data/0/state`). The defaults
accept a plain body such as

    {"title": "disk full", "status": "firing", "labels": {"host": "db-1"}}

A body holds one alert, an array of alerts, or an array under the `alerts` pointer. Missing
fields fall back (status: firing; start: received time); a field that is present but has
the wrong type is an error naming where it was found. The alert's identity is the
`dedup_key` field when mapped and present, otherwise the label fingerprint; an alert with
no labels is labelled `alertname=<summary>` so that repeats of it still deduplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.alerts.formats.errors import AlertFormatError, ErrorKind, FieldError, Loc
from tocsin.alerts.formats.wire import non_empty_labels, parse_time, stringify
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    SourceKind,
    WireFormat,
    first_line,
    severity_from_word,
    summary_from,
)

MAX_DEDUP_KEY = 512


def _check_pointer(value: str) -> str:
    if value and not value.startswith("/"):
        raise ValueError(f'{value!r} is not a JSON pointer: it must be "" or start with "/"')
    return value


class GenericMapping(BaseModel):
    """Where each field is found in the sender's JSON (configured per integration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alerts: str | None = None
    """Pointer to an array of alerts in the body; None: the body is one alert or an array."""
    dedup_key: str | None = None
    status: str | None = "/status"
    firing_values: tuple[str, ...] = ("firing", "triggered", "alerting", "problem", "open")
    resolved_values: tuple[str, ...] = ("resolved", "ok", "recovered", "closed", "inactive")
    summary: str | None = "/title"
    labels: str | None = "/labels"
    """Pointer to an object of label pairs."""
    label_fields: dict[str, str] = Field(default_factory=dict)
    """Extra labels, each taken from a scalar: label name -> pointer."""
    annotations: str | None = "/annotations"
    annotation_fields: dict[str, str] = Field(default_factory=dict)
    severity: str | None = "/severity"
    starts_at: str | None = "/starts_at"
    ends_at: str | None = "/ends_at"
    generator_url: str | None = "/url"

    @field_validator(
        "alerts",
        "dedup_key",
        "status",
        "summary",
        "labels",
        "annotations",
        "severity",
        "starts_at",
        "ends_at",
        "generator_url",
    )
    @classmethod
    def _pointer(cls, value: str | None) -> str | None:
        return None if value is None else _check_pointer(value)

    @field_validator("label_fields", "annotation_fields")
    @classmethod
    def _pointers(cls, value: dict[str, str]) -> dict[str, str]:
        for pointer in value.values():
            _check_pointer(pointer)
        return value


DEFAULT_MAPPING = GenericMapping()


class _Missing:
    pass


MISSING = _Missing()


def _tokens(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def resolve(document: object, pointer: str) -> tuple[object, Loc]:
    """Follow an RFC 6901 pointer. Returns the value (MISSING when a step does not exist)
    and its location, list steps as integers, for error messages."""
    current = document
    loc: list[str | int] = []
    tokens = _tokens(pointer)
    for position, token in enumerate(tokens):
        if isinstance(current, Mapping) and token in current:
            current = current[token]
            loc.append(token)
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
            loc.append(int(token))
        else:
            return MISSING, (*loc, *tokens[position:])
    return current, tuple(loc)


class _Item:
    """One alert inside the body, with the location prefix its errors are reported under."""

    def __init__(self, document: object, loc: Loc) -> None:
        self.document = document
        self.loc = loc

    def get(self, pointer: str | None) -> tuple[object, Loc]:
        if pointer is None:
            return MISSING, self.loc
        value, loc = resolve(self.document, pointer)
        return value, self.loc + loc

    def text(self, pointer: str | None) -> tuple[str | None, Loc]:
        value, loc = self.get(pointer)
        if value is MISSING or value is None:
            return None, loc
        if isinstance(value, dict | list):
            raise AlertFormatError.at(loc, "must be a string", ErrorKind.TYPE, "string")
        return stringify(value), loc

    def pairs(self, pointer: str | None) -> dict[str, str]:
        value, loc = self.get(pointer)
        if value is MISSING or value is None:
            return {}
        if not isinstance(value, dict):
            raise AlertFormatError.at(loc, "must be an object", ErrorKind.TYPE, "object")
        out: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, dict | list):
                raise AlertFormatError.at(
                    (*loc, name), "must be a string", ErrorKind.TYPE, "string"
                )
            if name and item is not None:
                out[name] = stringify(item)
        return out

    def time(self, pointer: str | None) -> datetime | None:
        value, loc = self.get(pointer)
        if value is MISSING or value is None:
            return None
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return datetime.fromtimestamp(value, UTC)
            return parse_time(value)
        except (ValueError, OverflowError, OSError) as exc:
            message = str(exc) if isinstance(exc, ValueError) and str(exc) else ""
            if not message.startswith(("must", "is ")):
                message = "must be an RFC 3339 date-time or Unix seconds"
            raise AlertFormatError.at(loc, message) from None


def _items(body: object, mapping: GenericMapping) -> tuple[list[_Item], str]:
    if mapping.alerts is not None:
        found, loc = resolve(body, mapping.alerts)
        if found is MISSING:
            raise AlertFormatError.at(loc, "required", ErrorKind.REQUIRED)
        if not isinstance(found, list):
            raise AlertFormatError.at(loc, "must be an array", ErrorKind.TYPE, "array")
        return [_Item(item, (*loc, index)) for index, item in enumerate(found)], mapping.alerts
    if isinstance(body, list):
        return [_Item(item, (index,)) for index, item in enumerate(body)], ""
    return [_Item(body, ())], ""


def _one(
    item: _Item, index: int | None, base: str, mapping: GenericMapping, now: datetime
) -> NormalizedAlert:
    if not isinstance(item.document, dict):
        raise AlertFormatError.at(item.loc, "must be an object", ErrorKind.TYPE, "object")
    summary, summary_loc = item.text(mapping.summary)
    labels = item.pairs(mapping.labels)
    for name, pointer in mapping.label_fields.items():
        value, _ = item.text(pointer)
        if value:
            labels[name] = value
    labels = non_empty_labels(labels)
    summary = first_line(summary or "")
    if not summary and not labels:
        raise AlertFormatError.at(summary_loc, "required (or labels)", ErrorKind.REQUIRED)
    if not labels:
        labels = {"alertname": summary}
    annotations = item.pairs(mapping.annotations)
    for name, pointer in mapping.annotation_fields.items():
        value, _ = item.text(pointer)
        if value:
            annotations[name] = value
    summary = summary or summary_from(labels, annotations)
    annotations.setdefault("summary", summary)

    status = AlertStatus.FIRING
    raw_status, status_loc = item.text(mapping.status)
    if raw_status is not None:
        word = raw_status.strip().lower()
        if word in (value.lower() for value in mapping.resolved_values):
            status = AlertStatus.RESOLVED
        elif word not in (value.lower() for value in mapping.firing_values):
            accepted = ", ".join((*mapping.firing_values, *mapping.resolved_values))
            raise AlertFormatError.at(status_loc, f"must be one of {accepted}")

    starts_at = item.time(mapping.starts_at) or now
    ends_at = None
    if status is AlertStatus.RESOLVED:
        ends_at = item.time(mapping.ends_at) or max(now, starts_at)
        if ends_at < starts_at:
            _, ends_loc = item.get(mapping.ends_at)
            raise AlertFormatError.at(ends_loc, "must not be before the start")

    key, key_loc = item.text(mapping.dedup_key)
    if key is not None and len(key) > MAX_DEDUP_KEY:
        raise AlertFormatError.at(key_loc, f"must be at most {MAX_DEDUP_KEY} characters")
    severity_word, _ = item.text(mapping.severity)
    url, _ = item.text(mapping.generator_url)
    return NormalizedAlert(
        source=SourceKind.GENERIC,
        wire_format=WireFormat.GENERIC_JSON,
        dedup_key=key or "",
        dedup_basis=DedupBasis.FIELD if key else DedupBasis.LABELS,
        status=status,
        labels=labels,
        annotations=annotations,
        summary=summary,
        severity=severity_from_word(severity_word),
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=url or None,
        raw_pointer=base if index is None else f"{base}/{index}",
    )


def parse(
    body: object, *, now: datetime, mapping: GenericMapping = DEFAULT_MAPPING
) -> list[NormalizedAlert]:
    """A generic JSON body -> normalized alerts, following the integration's mapping."""
    items, base = _items(body, mapping)
    single = mapping.alerts is None and not isinstance(body, list)
    out: list[NormalizedAlert] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        try:
            out.append(_one(item, None if single else index, base, mapping, now))
        except AlertFormatError as exc:
            errors.extend(exc.errors)
    if errors:
        raise AlertFormatError(errors)
    return out
