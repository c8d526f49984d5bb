"""The schedule and policy forms as pure functions: what a stored schedule or policy shows in
its form, sent back unchanged, saves as the same schedule or policy."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import FormData

from tocsin.oncall import forms
from tocsin.oncall.schemas import LayerOut, PolicyIn, PolicyOut, ScheduleIn, ScheduleOut

restrictions = st.lists(
    st.fixed_dictionaries(
        {
            "weekday": st.none() | st.integers(0, 6),
            "start": st.times().map(lambda t: t.strftime("%H:%M")),
            "minutes": st.integers(1, 7 * 24 * 60),
        }
    ),
    max_size=4,
)
layers = st.builds(
    LayerOut,
    name=st.text("abc XYZ", min_size=1, max_size=10).map(str.strip).filter(bool),
    time_zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    turn_minutes=st.sampled_from([1440, 10080]) | st.integers(60, 366 * 24 * 60),
    start_date=st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)),
    handoff_time=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    members=st.lists(st.integers(1, 50), min_size=1, max_size=5),
    restrictions=restrictions,
)


def as_form(values: dict[str, Any]) -> FormData:
    """What a browser sends for the form as the template draws it, spare rows included."""
    items = [(k, values[k]) for k in ("slug", "name", "description", "team")]
    for i, layer in enumerate(values.get("layers", [])):
        key = f"layers.{i}"
        for name in ("name", "time_zone", "rotation", "turn_hours", "start_date", "handoff_time"):
            items.append((f"{key}.{name}", layer[name]))
        items += [(f"{key}.members", m) for m in [*layer["members"], ""]]
        for r in [*layer["restrictions"], {"weekday": "", "start": "", "hours": ""}]:
            items += [
                (f"{key}.restriction_weekday", r["weekday"]),
                (f"{key}.restriction_start", r["start"]),
                (f"{key}.restriction_hours", r["hours"]),
            ]
    for i, level in enumerate(values.get("levels", [])):
        items.append((f"levels.{i}.timeout_minutes", level["timeout_minutes"]))
        items += [(f"levels.{i}.targets", t) for t in [*level["targets"], ""]]
    if "repeat" in values:
        items.append(("repeat", values["repeat"]))
    return FormData(items)


@given(st.lists(layers, max_size=3))
def test_a_schedule_saved_unchanged_from_its_form_is_the_same_schedule(
    stored: list[LayerOut],
) -> None:
    schedule = ScheduleOut(
        id=1, slug="s", name="S", description="", team=None, layers=stored, overrides=[]
    )
    values = forms.parse_schedule(as_form(forms.schedule_values(schedule)))
    body = ScheduleIn.model_validate(forms.schedule_body(values))
    assert [
        (
            layer.name,
            layer.time_zone,
            layer.minutes,
            layer.start_date,
            layer.handoff_time,
            layer.members,
            [(r.weekday, r.start.strftime("%H:%M"), r.minutes) for r in layer.restrictions],
        )
        for layer in body.layers
    ] == [
        (
            layer.name,
            layer.time_zone,
            layer.turn_minutes,
            layer.start_date,
            layer.handoff_time,
            layer.members,
            [(r["weekday"], r["start"], r["minutes"]) for r in layer.restrictions],
        )
        for layer in stored
    ]


targets = st.fixed_dictionaries(
    {"type": st.sampled_from(["user", "schedule", "team"]), "id": st.integers(1, 99)}
)
levels = st.fixed_dictionaries(
    {
        "timeout_minutes": st.integers(1, 24 * 60),
        "targets": st.lists(targets, min_size=1, max_size=4),
    }
)


@given(st.lists(levels, min_size=1, max_size=4), st.integers(0, 9))
def test_a_policy_saved_unchanged_from_its_form_is_the_same_policy(
    stored: list[dict[str, Any]], repeat: int
) -> None:
    policy = PolicyOut.model_validate(
        {
            "id": 1,
            "slug": "p",
            "name": "P",
            "description": "",
            "team": None,
            "repeat": repeat,
            "levels": stored,
            "services": [],
        }
    )
    values = forms.parse_policy(as_form(forms.policy_values(policy)))
    body = PolicyIn.model_validate(forms.policy_body(values))
    assert body.repeat == repeat
    assert [level.model_dump() for level in body.levels] == stored


@given(st.lists(st.sampled_from(["", "0", "4", "6", forms.WORKWEEK]), min_size=1, max_size=4))
def test_monday_to_friday_is_one_window_per_weekday(days: list[str]) -> None:
    layer = forms.new_layer(0, start=dt.date(2026, 1, 5))
    layer["members"] = ["1"]
    layer["restrictions"] = [{"weekday": d, "start": "09:00", "hours": "8"} for d in days]
    values = {"slug": "s", "name": "S", "description": "", "team": "", "layers": [layer]}
    parsed = forms.parse_schedule(as_form(values))
    expected = [
        w for d in days for w in (["0", "1", "2", "3", "4"] if d == forms.WORKWEEK else [d])
    ]
    assert [r["weekday"] for r in parsed["layers"][0]["restrictions"]] == expected
