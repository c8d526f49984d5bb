"""Building blocks shared by the wire-format parsers: tolerant models, times, JSON pointers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from tocsin.alerts.formats.errors import (
    AlertFormatError,
    ErrorKind,
    FieldError,
    Loc,
    from_validation_error,
)
from tocsin.alerts.normalized import GO_ZERO_TIME


class WireModel(BaseModel):
    """A sender's body: fields we do not know are ignored, as the real receivers do, so a
    newer sender version never breaks ingestion."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


_DATETIME = TypeAdapter(datetime)


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 string as aware UTC; null and Go's zero time mean "not set"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    try:
        parsed = _DATETIME.validate_python(value)
    except ValidationError:
        raise ValueError("must be an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the representable time range") from None
    return None if parsed == GO_ZERO_TIME else parsed


WireTime = Annotated[datetime | None, PlainValidator(parse_time)]

ModelT = TypeVar("ModelT", bound=BaseModel)


def validate(model: type[ModelT], body: object, loc: Loc = ()) -> ModelT:
    """Validate `body` against `model`, raising AlertFormatError located from the root."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise from_validation_error(exc, loc) from None


def validate_list(model: type[ModelT], body: object, loc: Loc = ()) -> list[ModelT]:
    """A JSON array of `model` (Alertmanager API v2 posts a bare array)."""
    if not isinstance(body, list):
        raise AlertFormatError.at(loc, "must be an array", ErrorKind.TYPE, "array")
    items: list[ModelT] = []
    errors: list[FieldError] = []
    for index, item in enumerate(body):
        try:
            items.append(validate(model, item, (*loc, index)))
        except AlertFormatError as exc:
            errors.extend(exc.errors)
    if errors:
        raise AlertFormatError(errors)
    return items


def _null_is_missing(value: object) -> object:
    if value is None:
        raise PydanticCustomError("missing", "Field required")
    return value


def _null_is_empty(value: object) -> object:
    return {} if value is None else value


def _check_names(labels: dict[str, str]) -> dict[str, str]:
    if "" in labels:
        raise ValueError("label names must not be empty")
    return labels


Labels = Annotated[dict[str, str], BeforeValidator(_null_is_missing), AfterValidator(_check_names)]
"""A required label set; null counts as missing, as Alertmanager's API validation has it."""
OptionalLabels = Annotated[
    dict[str, str], BeforeValidator(_null_is_empty), AfterValidator(_check_names)
]
"""Annotations, group labels…: absent or null is the empty set."""
Text = Annotated[str, BeforeValidator(lambda value: "" if value is None else value)]
"""An optional string where Go senders may write null."""


def pointer(*parts: str | int) -> str:
    """RFC 6901 JSON pointer to a place in the raw body, e.g. pointer("alerts", 0)."""
    return "".join(
        f"/{part}" if isinstance(part, int) else "/" + part.replace("~", "~0").replace("/", "~1")
        for part in parts
    )


def non_empty_labels(labels: dict[str, str]) -> dict[str, str]:
    """Prometheus semantics: a label with an empty value is the same as no label at all, so
    it must not change the fingerprint."""
    return {name: value for name, value in labels.items() if value != ""}


def stringify(value: Any) -> str:
    """A scalar detail as text (numbers and booleans the way JSON writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
