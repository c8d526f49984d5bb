"""The schedule and escalation policy forms of the web UI.

A posted form becomes the API's own input body (`ScheduleIn`, `PolicyIn`), so the UI, the API
and `tocsin apply` refuse the same things. The form's values stay strings (what the person
typed) until then, so a refused form is shown again exactly as it was sent. Input names are
the API's dotted field names (`layers.0.time_zone`), so an error the API reports under a field
lands beside that input.

Rows are added and removed by plain submit buttons (`add`, `remove`) that re-show the form
without saving: the editor works without JavaScript.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.datastructures import FormData

from tocsin.errors import Invalid
from tocsin.incidents.warrooms.naming import slugify
from tocsin.oncall.schemas import OverrideIn, PolicyOut, ScheduleOut
from tocsin.web import forms

Values = dict[str, Any]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WORKWEEK = "mon-fri"
"""a restriction's weekday choice that stands for one restriction on each of Monday to Friday"""
ROTATIONS = {24 * 60: "daily", 7 * 24 * 60: "weekly"}
TARGET_TYPES = ("user", "schedule", "team")


# --- stored → form values ---------------------------------------------------------------------


def _hours(minutes: int) -> str:
    """Whole hours without a decimal point; 90 minutes is "1.5"."""
    value = Decimal(minutes) / 60
    return str(value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize())


def new_layer(position: int, time_zone: str = "UTC", start: date | None = None) -> Values:
    return {
        "name": f"Layer {position + 1}",
        "time_zone": time_zone,
        "rotation": "weekly",
        "turn_hours": "",
        "start_date": start.isoformat() if start else "",
        "handoff_time": "09:00",
        "members": [],
        "restrictions": [],
    }


def new_schedule(team: str, today: date) -> Values:
    return {
        "slug": "",
        "name": "",
        "description": "",
        "team": team,
        "layers": [new_layer(0, start=today)],
    }


def schedule_values(schedule: ScheduleOut) -> Values:
    layers = []
    for layer in schedule.layers:
        rotation = ROTATIONS.get(layer.turn_minutes, "custom")
        layers.append(
            {
                "name": layer.name,
                "time_zone": layer.time_zone,
                "rotation": rotation,
                "turn_hours": _hours(layer.turn_minutes) if rotation == "custom" else "",
                "start_date": layer.start_date.isoformat(),
                "handoff_time": layer.handoff_time.strftime("%H:%M"),
                "members": [str(m) for m in layer.members],
                "restrictions": [
                    {
                        "weekday": "" if r["weekday"] is None else str(r["weekday"]),
                        "start": str(r["start"]),
                        "hours": _hours(int(str(r["minutes"]))),
                    }
                    for r in layer.restrictions
                ],
            }
        )
    return {
        "slug": schedule.slug,
        "name": schedule.name,
        "description": schedule.description,
        "team": schedule.team or "",
        "layers": layers,
    }


def new_level() -> Values:
    return {"timeout_minutes": "30", "targets": []}


def new_policy(team: str) -> Values:
    return {
        "slug": "",
        "name": "",
        "description": "",
        "team": team,
        "repeat": "0",
        "levels": [new_level()],
    }


def policy_values(policy: PolicyOut) -> Values:
    return {
        "slug": policy.slug,
        "name": policy.name,
        "description": policy.description,
        "team": policy.team or "",
        "repeat": str(policy.repeat),
        "levels": [
            {
                "timeout_minutes": str(level.timeout_minutes),
                "targets": [f"{t.type}:{t.id}" for t in level.targets],
            }
            for level in policy.levels
        ],
    }


# --- posted form → form values ----------------------------------------------------------------


def _indices(form: FormData, prefix: str) -> list[int]:
    """The row numbers of `prefix.N.…` inputs, in order (numbers may have gaps)."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    found = {int(m.group(1)) for key in form if (m := pattern.match(key))}
    return sorted(found)


def parse_schedule(form: FormData, *, keep_blank: bool = False) -> Values:
    """The schedule form as values. A layer without members and restrictions is an unused
    row and is dropped (unless the form is only being re-shown); a "Monday to Friday"
    restriction becomes one restriction per weekday."""
    layers = []
    for i in _indices(form, "layers"):
        key = f"layers.{i}"
        restrictions: list[dict[str, str]] = []
        for row in forms.rows(
            form,
            f"{key}.restriction_weekday",
            f"{key}.restriction_start",
            f"{key}.restriction_hours",
            blank_unless=(f"{key}.restriction_start", f"{key}.restriction_hours"),
        ):
            weekday = row[f"{key}.restriction_weekday"]
            start, hours = row[f"{key}.restriction_start"], row[f"{key}.restriction_hours"]
            days = [str(d) for d in range(5)] if weekday == WORKWEEK else [weekday]
            restrictions.extend({"weekday": d, "start": start, "hours": hours} for d in days)
        layer = {
            "name": forms.text(form, f"{key}.name"),
            "time_zone": forms.text(form, f"{key}.time_zone"),
            "rotation": forms.text(form, f"{key}.rotation"),
            "turn_hours": forms.text(form, f"{key}.turn_hours"),
            "start_date": forms.text(form, f"{key}.start_date"),
            "handoff_time": forms.text(form, f"{key}.handoff_time"),
            "members": [m for m in forms.texts(form, f"{key}.members") if m],
            "restrictions": restrictions,
        }
        if keep_blank or layer["members"] or layer["restrictions"]:
            layers.append(layer)
    return {
        "slug": forms.text(form, "slug"),
        "name": forms.text(form, "name"),
        "description": forms.text(form, "description"),
        "team": forms.text(form, "team"),
        "layers": layers,
    }


def parse_policy(form: FormData, *, keep_blank: bool = False) -> Values:
    """The policy form as values; a level without targets is an unused row and is dropped
    (unless the form is only being re-shown)."""
    levels = []
    for i in _indices(form, "levels"):
        level = {
            "timeout_minutes": forms.text(form, f"levels.{i}.timeout_minutes"),
            "targets": [t for t in forms.texts(form, f"levels.{i}.targets") if t],
        }
        if keep_blank or level["targets"]:
            levels.append(level)
    return {
        "slug": forms.text(form, "slug"),
        "name": forms.text(form, "name"),
        "description": forms.text(form, "description"),
        "team": forms.text(form, "team"),
        "repeat": forms.text(form, "repeat"),
        "levels": levels,
    }


def fill_slug(values: Values) -> None:
    """A new schedule or policy without a slug gets one from its name, as people expect."""
    if not values["slug"]:
        values["slug"] = slugify(values["name"])[:100].strip("-")


# --- adding and removing rows -----------------------------------------------------------------

BLANK_ROWS = ("members", "targets", "restrictions", "levels", "layers")


def _blank(kind: str, values: Values) -> Any:
    """An empty row of `kind`; a new layer starts like the one above it."""
    if kind in ("members", "targets"):
        return ""
    if kind == "restrictions":
        return {"weekday": "", "start": "", "hours": ""}
    if kind == "levels":
        return new_level()
    above = values["layers"][-1] if values["layers"] else None
    start = above["start_date"] if above and _is_date(above["start_date"]) else ""
    return new_layer(
        len(values["layers"]),
        above["time_zone"] if above else "UTC",
        date.fromisoformat(start) if start else None,
    )


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _walk(values: Values, path: str) -> tuple[Any, str] | None:
    """The container holding the last part of a dotted `path`, and that part."""
    parts = path.split(".")
    node: Any = values
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node, parts[-1]


def change_rows(values: Values, add: str | None, remove: str | None) -> None:
    """Apply an "Add a …" (`add` names a list) or "Remove" (`remove` names a row) button."""
    if add:
        found = _walk(values, add)
        if found and isinstance(found[0], dict) and found[1] in BLANK_ROWS:
            rows = found[0].get(found[1])
            if isinstance(rows, list):
                rows.append(_blank(found[1], values))
    if remove:
        found = _walk(values, remove)
        rows = found[0] if found else None
        if isinstance(rows, list) and found and found[1].isdigit() and int(found[1]) < len(rows):
            del rows[int(found[1])]


# --- form values → API bodies -----------------------------------------------------------------


def _minutes(text: str, field: str) -> int:
    try:
        hours = Decimal(text)
    except InvalidOperation:
        raise Invalid(field, "give a number of hours, such as 8 or 0.5") from None
    if not hours.is_finite():
        raise Invalid(field, "give a number of hours, such as 8 or 0.5")
    # Hours shown for a stored length can be a rounded fraction (7 minutes is 0.1166…):
    # round to the minute, so showing and saving again changes nothing.
    return int((hours * 60).to_integral_value())


def _int(text: str, field: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Invalid(field, f"{text!r} is not {what}") from None


def schedule_body(values: Values) -> dict[str, Any]:
    """The values as a `ScheduleIn` body; numbers the browser should have checked are checked
    here too, under the API's field names."""
    layers = []
    for i, layer in enumerate(values["layers"]):
        key = f"layers.{i}"
        restrictions = []
        for j, r in enumerate(layer["restrictions"]):
            field = f"{key}.restrictions.{j}"
            if not r["hours"]:
                raise Invalid(f"{field}.minutes", "give how many hours the window lasts")
            weekday = r["weekday"]
            restrictions.append(
                {
                    "weekday": _int(weekday, f"{field}.weekday", "a weekday") if weekday else None,
                    "start": r["start"],
                    "minutes": _minutes(r["hours"], f"{field}.minutes"),
                }
            )
        custom = layer["rotation"] == "custom"
        turn = layer["turn_hours"]
        layers.append(
            {
                "name": layer["name"] or f"Layer {i + 1}",
                "time_zone": layer["time_zone"] or "UTC",
                "rotation": layer["rotation"] or "weekly",
                "turn_minutes": _minutes(turn, f"{key}.turn_minutes") if custom and turn else None,
                "start_date": layer["start_date"],
                "handoff_time": layer["handoff_time"] or "09:00",
                "members": [
                    _int(m, f"{key}.members.{n}", "a user id")
                    for n, m in enumerate(layer["members"])
                ],
                "restrictions": restrictions,
            }
        )
    return {
        "slug": values["slug"],
        "name": values["name"],
        "description": values["description"],
        "team": values["team"] or None,
        "layers": layers,
    }


def policy_body(values: Values) -> dict[str, Any]:
    levels = []
    for i, level in enumerate(values["levels"]):
        targets = []
        for j, target in enumerate(level["targets"]):
            field = f"levels.{i}.targets.{j}"
            kind, _, ident = target.partition(":")
            if kind not in TARGET_TYPES:
                raise Invalid(f"{field}.type", f"{target!r} is not a user, schedule or team")
            targets.append({"type": kind, "id": _int(ident, f"{field}.id", "an id")})
        levels.append({"timeout_minutes": level["timeout_minutes"] or 30, "targets": targets})
    return {
        "slug": values["slug"],
        "name": values["name"],
        "description": values["description"],
        "team": values["team"] or None,
        "repeat": values["repeat"] or 0,
        "levels": levels,
    }


def _moment(text: str, field: str) -> datetime:
    """A `datetime-local` input's value, read as UTC (the schedule page shows UTC)."""
    if not text:
        raise Invalid(field, "give a date and time (UTC)")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(field, f"{text!r} is not a date and time such as 2026-01-06T10:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def override_values(form: FormData) -> Values:
    return {
        "user_id": forms.text(form, "user_id"),
        "starts_at": forms.text(form, "starts_at"),
        "ends_at": forms.text(form, "ends_at"),
    }


def override_body(values: Values) -> OverrideIn:
    if not values["user_id"]:
        raise Invalid("user_id", "choose who takes over")
    return OverrideIn(
        user_id=_int(values["user_id"], "user_id", "a user id"),
        starts_at=_moment(values["starts_at"], "starts_at"),
        ends_at=_moment(values["ends_at"], "ends_at"),
    )
