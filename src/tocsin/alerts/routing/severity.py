"""Which incident severity an alert group opens with: pure, so it is property-tested.

Prometheus rules carry a `severity` label, PagerDuty events a `severity` field; people map
both onto their own incident severities (`critical → sev1`). The label wins because it is
what the rule author wrote; the event severity is the sender's own reading of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Mapped:
    severity: str
    why: str


def incident_severity(
    labels: Mapping[str, Any],
    event_severity: str | None,
    label: str,
    mapping: Mapping[str, str],
    default: str,
) -> Mapped:
    """Look the label's value up first, then the event severity; keys match without case."""
    table = {str(key).strip().lower(): value for key, value in mapping.items()}
    raw = labels.get(label)
    if raw is not None and str(raw).strip().lower() in table:
        return Mapped(table[str(raw).strip().lower()], f"label {label}={raw}")
    if event_severity is not None and event_severity.strip().lower() in table:
        return Mapped(table[event_severity.strip().lower()], f"event severity {event_severity}")
    return Mapped(default, "the rule's default severity")
