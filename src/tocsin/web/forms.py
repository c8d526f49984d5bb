"""HTML forms on top of the API's shapes: the same validation, errors shown beside fields.

A form is parsed into the domain's pydantic input model and saved through its service, so a
page can never accept what the API would refuse. Errors are keyed by the same dotted field
names the API reports (`tags.2`, `runbooks.0.url`), and a template shows each one next to
the input it belongs to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from tocsin.errors import ProblemError

T = TypeVar("T")

PAGE_REFUSALS = frozenset({403, 404, 409, 422})
"""Refusals a management page shows beside its form, answering with their own status."""


@dataclass
class FormErrors:
    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    status: int = 422
    """the refusal's own status (403, 404, 409 …) for pages that answer with it"""

    def add(self, name: str | None, message: str) -> None:
        if name:
            self.by_field.setdefault(name, []).append(message)
        else:
            self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)

    def of(self, name: str) -> list[str]:
        """Messages for a field and anything inside it (`runbooks` includes `runbooks.0.url`)."""
        found: list[str] = []
        for key, messages in sorted(self.by_field.items()):
            if key == name:
                found.extend(messages)
            elif key.startswith(name + "."):
                inner = key[len(name) + 1 :]
                found.extend(f"{_describe(inner)}: {m}" for m in messages)
        return found

    def exact(self, name: str) -> list[str]:
        return list(self.by_field.get(name, []))

    @property
    def fields(self) -> list[str]:
        return sorted(self.by_field)


def _describe(path: str) -> str:
    """`0.url` → `row 1, url`: people count from one."""
    parts = []
    for part in path.split("."):
        parts.append(f"row {int(part) + 1}" if part.isdigit() else part.replace("_", " "))
    return ", ".join(parts)


def _clean_message(message: str) -> str:
    # pydantic prefixes custom errors with "Value error, "; the field name already says where.
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def from_validation(exc: ValidationError, aliases: Mapping[str, str] | None = None) -> FormErrors:
    """pydantic's errors under the dotted names of the fields they concern."""
    errors = FormErrors()
    for err in exc.errors():
        name = ".".join(str(p) for p in err.get("loc", ()))
        if aliases:
            name = aliases.get(name, name)
        errors.add(name or None, _clean_message(str(err.get("msg", "invalid"))))
    return errors


def from_problem(exc: ProblemError) -> FormErrors:
    """A service's refusal (Invalid, Conflict …) under the field it names, if any."""
    errors = FormErrors(status=exc.status)
    if exc.errors:
        for item in exc.errors:
            errors.add(item.get("field"), str(item.get("message", exc.detail or exc.title)))
    else:
        errors.add(None, exc.detail or exc.title)
    return errors


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional(form: FormData, name: str) -> str | None:
    """Empty inputs mean "none": a cleared field is sent as null, not as an empty string."""
    return text(form, name) or None


def texts(form: FormData, name: str) -> list[str]:
    return [v.strip() if isinstance(v, str) else "" for v in form.getlist(name)]


def split_list(value: str) -> list[str]:
    """Comma- or newline-separated values, blanks dropped, order kept."""
    items = [part.strip() for chunk in value.splitlines() for part in chunk.split(",")]
    return [item for item in items if item]


def rows(
    form: FormData, *names: str, blank_unless: Iterable[str] | None = None
) -> list[dict[str, str]]:
    """Repeated inputs (one per row) zipped into dicts. A row whose `blank_unless` inputs (all
    of them by default; a select always has a value) are empty is an unused row: dropped."""
    columns = [texts(form, name) for name in names]
    length = max((len(c) for c in columns), default=0)
    deciding = list(blank_unless) if blank_unless is not None else list(names)
    result = []
    for i in range(length):
        row = {
            name: (col[i] if i < len(col) else "") for name, col in zip(names, columns, strict=True)
        }
        if any(row[name] for name in deciding):
            result.append(row)
    return result


async def attempt(
    session: AsyncSession,
    action: Callable[[], Awaitable[T]],
    refusals: frozenset[int] = frozenset({409, 422}),
) -> tuple[T | None, FormErrors | None]:
    """Run one form action. A refusal the user can fix (invalid input, or a ProblemError whose
    status is in `refusals`) rolls the transaction back and comes back as form errors, so the
    page can be shown again with the reason beside the form and nothing half-saved; any other
    failure propagates."""
    try:
        return await action(), None
    except ValidationError as exc:
        await session.rollback()
        return None, from_validation(exc)
    except ProblemError as exc:
        await session.rollback()
        if exc.status not in refusals:
            raise
        return None, from_problem(exc)
