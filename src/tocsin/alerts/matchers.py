"""Label matchers of silences, with Alertmanager's semantics, on plain values.

People move silences between Alertmanager and Tocsin, so a matcher must mean the same in
both: a missing label matches as the empty string, regular expressions are anchored at both
ends, and a silence whose matchers would all match an alert without labels is refused
(it would silence everything, which is never what someone typing a silence meant).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class Op(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class MatcherError(ValueError):
    """A matcher that cannot be used; the message says why in words for the person."""


@lru_cache(maxsize=1024)
def _anchored(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(f"^(?:{pattern})$")
    except re.error as exc:
        raise MatcherError(f"invalid regular expression {pattern!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str

    def __post_init__(self) -> None:
        if not LABEL_NAME.match(self.name):
            raise MatcherError(f"invalid label name {self.name!r}")
        if self.op in (Op.REGEX, Op.NOT_REGEX):
            _anchored(self.value)

    def matches(self, labels: Mapping[str, Any]) -> bool:
        raw = labels.get(self.name)
        value = "" if raw is None else str(raw)
        if self.op is Op.EQUAL:
            return value == self.value
        if self.op is Op.NOT_EQUAL:
            return value != self.value
        found = _anchored(self.value).match(value) is not None
        return found if self.op is Op.REGEX else not found

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op.value, "value": self.value}


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, Any]) -> bool:
    """A silence applies when every one of its matchers matches (and it has at least one)."""
    return bool(matchers) and all(m.matches(labels) for m in matchers)


def check_silence(matchers: Sequence[Matcher]) -> None:
    """Refuse what Alertmanager refuses: no matchers, or matchers that match empty labels."""
    if not matchers:
        raise MatcherError("a silence needs at least one matcher")
    if all(m.matches({}) for m in matchers):
        raise MatcherError("at least one matcher must not match the empty string")


def parse(data: Sequence[Mapping[str, Any]]) -> list[Matcher]:
    """Matchers from their stored or posted form ({name, op, value})."""
    out: list[Matcher] = []
    for item in data:
        try:
            op = Op(str(item.get("op", "=")))
        except ValueError:
            raise MatcherError(
                f"unknown operator {item.get('op')!r}; use =, !=, =~ or !~"
            ) from None
        out.append(Matcher(str(item.get("name", "")), op, str(item.get("value", ""))))
    return out
