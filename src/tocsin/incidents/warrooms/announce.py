"""What Tocsin says in a war room: one line per timeline event, and the closing summary.

Pure (no database, clock or platform) so the wording can be checked on its own; plain text
so the same message reads well on Slack, Matrix and anything added later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

HEADINGS = {
    "update": "Update",
    "status_changed": "Status",
    "reopened": "Re-opened",
    "severity_changed": "Severity",
    "role_assigned": "Role",
    "role_handed_over": "Hand-over",
    "alert.attached": "Alert",
}
MILESTONES = (
    ("impact_started", "Impact started"),
    ("detected", "Detected"),
    ("declared", "Declared"),
    ("mitigated", "Mitigated"),
    ("resolved", "Resolved"),
    ("business_resolved", "Resolved (business)"),
    ("closed", "Closed"),
)


def event_message(ref: str, kind: str, text: str, data: Mapping[str, Any], author: str) -> str:
    """One message for one timeline event, led by the incident's reference."""
    heading = HEADINGS.get(kind, kind.replace("_", " ").capitalize())
    if kind != "update":
        return f"[{ref}] {heading}: {text} ({author})"
    lines = [f"[{ref}] {heading} from {author}: {data.get('current_status') or text}"]
    for key, label in (("actions", "Actions under way"), ("next_steps", "Next steps")):
        if data.get(key):
            lines.append(f"{label}: {data[key]}")
    if data.get("next_due"):
        lines.append(f"Next update due: {data['next_due']}")
    return "\n".join(lines)


def duration(span: timedelta) -> str:
    minutes = max(int(span.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def closing_summary(
    ref: str,
    title: str,
    severity: str,
    milestones: Mapping[str, datetime],
    roles: Mapping[str, str],
    pinned: int,
) -> str:
    """Posted as the room is archived: what happened, when, who led it."""
    lines = [f"[{ref}] Closed: {title} ({severity})"]
    start = milestones.get("impact_started") or milestones.get("declared")
    end = milestones.get("resolved") or milestones.get("closed")
    if start is not None and end is not None:
        lines.append(f"Impact lasted {duration(end - start)}")
    for name, label in MILESTONES:
        if name in milestones:
            lines.append(f"{label}: {milestones[name].strftime('%Y-%m-%d %H:%M UTC')}")
    for role, holder in sorted(roles.items()):
        lines.append(f"{role}: {holder}")
    if pinned:
        lines.append(f"{pinned} message(s) pinned to the timeline")
    lines.append("This room is archived; re-opening the incident brings it back.")
    return "\n".join(lines)
