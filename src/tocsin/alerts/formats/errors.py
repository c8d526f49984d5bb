"""The one error every parser raises for a body it cannot accept, naming the field.

Senders are machines whose operators read the rejection in a log far away; the message must
say which field of which alert was wrong (`alerts[0].labels: required`). The error keeps the
structured location so each receiving endpoint can answer in the shape its clients expect
(problem+json for Tocsin's own API, Alertmanager's `{"code": 602, ...}`, PagerDuty's
`{"status": "invalid event", ...}`) without parsing the text back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

Loc = tuple[str | int, ...]

MAX_REPORTED_ERRORS = 20
"""A body of ten thousand bad alerts is answered with the first few, not a megabyte of text."""


class ErrorKind(StrEnum):
    REQUIRED = "required"
    TYPE = "type"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class FieldError:
    loc: Loc
    message: str
    kind: ErrorKind = ErrorKind.INVALID
    expected: str | None = None
    """For type errors, the JSON type that was expected ("object", "string", …)."""

    @property
    def field(self) -> str:
        return format_loc(self.loc)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def format_loc(loc: Loc) -> str:
    """("alerts", 0, "labels") -> "alerts[0].labels"; the body itself is "body"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "body"


class AlertFormatError(ValueError):
    """A body that does not have the shape its format requires."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("an AlertFormatError needs at least one field error")
        self.errors: tuple[FieldError, ...] = tuple(errors[:MAX_REPORTED_ERRORS])
        super().__init__("; ".join(str(error) for error in self.errors))

    @classmethod
    def at(
        cls,
        loc: Loc,
        message: str,
        kind: ErrorKind = ErrorKind.INVALID,
        expected: str | None = None,
    ) -> AlertFormatError:
        return cls([FieldError(loc, message, kind, expected)])

    @property
    def field(self) -> str:
        return self.errors[0].field

    @property
    def message(self) -> str:
        return self.errors[0].message

    def problem_errors(self) -> list[dict[str, str]]:
        """The `errors` member of a problem+json answer (see tocsin.errors)."""
        return [{"field": error.field, "message": error.message} for error in self.errors]


_TYPE_NAMES: dict[str, str] = {
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
    "tuple_type": "array",
    "string_type": "string",
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "float_type": "number",
    "float_parsing": "number",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
}


def _field_error(detail: Any) -> FieldError:
    loc: Loc = tuple(detail.get("loc", ()))
    kind_name = str(detail.get("type", ""))
    if kind_name == "missing":
        return FieldError(loc, "required", ErrorKind.REQUIRED)
    if kind_name in _TYPE_NAMES:
        expected = _TYPE_NAMES[kind_name]
        article = "an" if expected[0] in "aeiou" else "a"
        return FieldError(loc, f"must be {article} {expected}", ErrorKind.TYPE, expected)
    if kind_name in {"literal_error", "enum"}:
        expected_values = str(detail.get("ctx", {}).get("expected", ""))
        return FieldError(loc, f"must be {expected_values}")
    message = str(detail.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    return FieldError(loc, message[:1].lower() + message[1:])


def from_validation_error(exc: ValidationError, prefix: Loc = ()) -> AlertFormatError:
    """Translate pydantic's report into field errors, each located from the body's root."""
    errors = [_field_error(detail) for detail in exc.errors(include_url=False)]
    return AlertFormatError(
        [FieldError(prefix + e.loc, e.message, e.kind, e.expected) for e in errors]
    )
