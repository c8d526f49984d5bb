"""Reading customer reports out of a CSV file and a support desk's ticket webhook.

Both are all-or-nothing: every row is checked before anything is stored, and the first bad
one is reported by line number and column, so a support lead can fix the file and re-send it
(already stored external ids are skipped, so a re-send is safe).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError

from tocsin.errors import Invalid
from tocsin.incidents.reports.schemas import ReportIn

COLUMNS = ("external_id", "service", "reported_at", "customer", "customer_name", "description")
REQUIRED = ("external_id", "service", "reported_at")
MAX_ROWS = 5000


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    column = str(error["loc"][0]) if error["loc"] else "row"
    return column, str(error["msg"])


def parse_csv(text: str) -> list[tuple[int, ReportIn]]:
    """Rows with their line numbers in the file (the header is line 1)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise Invalid("header", f"unknown column {unknown[0]!r} (known: {', '.join(COLUMNS)})")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise Invalid("header", f"the column {missing[0]!r} is required")
    rows: list[tuple[int, ReportIn]] = []
    for raw in reader:
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            raise Invalid("rows", f"a file may hold at most {MAX_ROWS} reports")
        if None in raw:
            raise Invalid(f"line {line}", "this row has more cells than the header")
        values = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        fields = {k: v for k, v in values.items() if v or k in REQUIRED}
        try:
            rows.append((line, ReportIn.model_validate(fields)))
        except ValidationError as exc:
            column, message = _first_error(exc)
            raise Invalid(f"line {line}.{column}", message) from exc
    if not rows:
        raise Invalid("rows", "the file holds no reports")
    return rows


def _service_of(ticket: Mapping[str, Any], services: Collection[str]) -> str | None:
    for tag in ticket.get("tags") or []:
        text = str(tag).lower()
        for prefix in ("service_", "service:"):
            if text.startswith(prefix):
                slug = text[len(prefix) :].replace("_", "-")
                if slug in services:
                    return slug
    for field in ticket.get("custom_fields") or []:
        value = field.get("value") if isinstance(field, Mapping) else None
        if isinstance(value, str) and value.strip().lower() in services:
            return value.strip().lower()
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_zendesk(
    payload: Mapping[str, Any], services: Collection[str], customers: Collection[str]
) -> ReportIn:
    """A Zendesk-style ticket (wrapped in `ticket` or bare) as a report.

    The service comes from a tag `service_<slug>` (or `service:<slug>`) or else from the first
    custom field whose value is a known service slug; the customer from the organization's
    `external_id` when it is a catalog customer, its name otherwise, then the requester's name.
    """
    ticket = _mapping(payload.get("ticket", payload))
    if ticket.get("id") in (None, ""):
        raise Invalid("ticket.id", "a ticket id is required")
    service = _service_of(ticket, services)
    if service is None:
        raise Invalid("ticket.tags", "no tag service_<slug> or custom field names a known service")
    organization = _mapping(ticket.get("organization"))
    requester = _mapping(ticket.get("requester"))
    org_key = str(organization.get("external_id") or "").strip().lower()
    name = str(organization.get("name") or requester.get("name") or "")[:300]
    subject = str(ticket.get("subject") or "")
    description = str(ticket.get("description") or "")
    text = f"{subject}\n\n{description}".strip() if description else subject
    fields = {
        "external_id": str(ticket["id"]),
        "service": service,
        "reported_at": ticket.get("created_at"),
        "customer": org_key if org_key in customers else None,
        "customer_name": name,
        "description": text[:20_000],
    }
    try:
        return ReportIn.model_validate(fields)
    except ValidationError as exc:
        column, message = _first_error(exc)
        field = {"reported_at": "created_at"}.get(column, column)
        raise Invalid(f"ticket.{field}", message) from exc
