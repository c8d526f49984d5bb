"""Editing on-call in the web UI: schedules with their layers, restrictions and overrides, and
escalation policies, through forms that save with the API's own checks and audit."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Caller, browser_login, make_user
from tests.test_oncall import layer, make_schedule, people
from tocsin.audit.models import AuditEntry
from tocsin.auth.models import User
from tocsin.auth.permissions import Role
from tocsin.oncall.models import EscalationPolicy, OncallSchedule

__all__ = ["people"]

API = "/api/v1/oncall"


async def sign_in(client: AsyncClient, session: AsyncSession, role: Role = Role.ADMIN) -> str:
    user = await make_user(session, role)
    await session.commit()
    return await browser_login(client, user.email)


def label(caller: Caller) -> str:
    return caller.user.name or caller.user.email


def schedule_form(csrf: str, members: list[Caller], **extra: Any) -> dict[str, Any]:
    """What a browser sends for a one-layer schedule: a daily Berlin rotation."""
    return {
        "csrf_token": csrf,
        "name": "Payments primary",
        "slug": "",
        "description": "Wakes the payments team",
        "team": "payments",
        "layers.0.name": "Primary",
        "layers.0.time_zone": "Europe/Berlin",
        "layers.0.rotation": "daily",
        "layers.0.turn_hours": "",
        "layers.0.start_date": "2026-01-01",
        "layers.0.handoff_time": "09:00",
        "layers.0.members": [str(m.user.id) for m in members] + [""],
        "layers.0.restriction_weekday": [""],
        "layers.0.restriction_start": [""],
        "layers.0.restriction_hours": [""],
        **extra,
    }


async def stored(session: AsyncSession, model: Any) -> list[str]:
    slugs = list((await session.scalars(sa.select(model.slug).order_by(model.slug))).all())
    await session.commit()
    return slugs


async def audited(session: AsyncSession, action: str) -> list[AuditEntry]:
    rows = list(
        (await session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action))).all()
    )
    await session.commit()
    return rows


def field_error(response: Response, field: str) -> str:
    """The message shown beside the input of `field` (the API's dotted name)."""
    marker = f'id="{field.replace(".", "-")}-error">'
    assert marker in response.text, response.text
    return response.text.split(marker, 1)[1].split("</p>", 1)[0]


# --- schedules --------------------------------------------------------------------------------


async def test_a_schedule_made_in_the_form_is_what_the_api_and_the_timeline_show(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    ada, bob = people["ada"], people["bob"]
    csrf = await sign_in(client, session)
    overview = await client.get("/oncall")
    assert 'href="/oncall/schedules/new"' in overview.text
    blank = await client.get("/oncall/schedules/new")
    assert blank.status_code == 200 and 'name="layers.0.time_zone"' in blank.text

    form = schedule_form(
        csrf,
        [ada, bob],
        **{
            "layers.0.restriction_weekday": ["mon-fri", ""],
            "layers.0.restriction_start": ["08:00", ""],
            "layers.0.restriction_hours": ["10", ""],
        },
    )
    saved = await client.post("/oncall/schedules/new", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/oncall/schedules/payments-primary?saved=1"

    api = (await client.get(f"{API}/schedules/payments-primary", headers=ada.headers)).json()
    assert api["team"] == "payments" and api["description"] == "Wakes the payments team"
    (only,) = api["layers"]
    assert only["time_zone"] == "Europe/Berlin" and only["turn_minutes"] == 24 * 60
    assert only["members"] == [ada.user.id, bob.user.id]
    assert only["restrictions"] == [
        {"weekday": day, "start": "08:00", "minutes": 600} for day in range(5)
    ]
    page = await client.get(saved.headers["location"])
    assert page.status_code == 200 and "Saved." in page.text
    assert 'href="/oncall/schedules/payments-primary/edit"' in page.text
    assert page.text.count('class="oncall-bar"') >= 10  # weekday windows over two weeks
    # Daily turns from 1 January 09:00 Berlin: ada, bob, ada, bob, ada. Monday 5 January at
    # 09:00 UTC is 10:00 in Berlin, inside the 08:00-18:00 weekday window: ada's turn.
    overview = await client.get("/oncall")
    assert f'<td class="on-call-now">{label(ada)}</td>' in overview.text
    (entry,) = await audited(session, "oncall.schedule.create")
    assert entry.object_id == "payments-primary" and entry.actor_type == "user"
    assert entry.after is not None and entry.after["layers"][0]["members"] == only["members"]


async def test_editing_a_schedule_replaces_its_layers_and_keeps_its_overrides(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    created = await make_schedule(client, ada, [layer([ada, bob])])
    override = await client.post(
        f"{API}/schedules/primary/overrides",
        json={
            "user_id": cy.user.id,
            "starts_at": "2026-01-06T10:00:00Z",
            "ends_at": "2026-01-06T12:00:00Z",
        },
        headers=ada.headers,
    )
    assert override.status_code == 201
    csrf = await sign_in(client, session)
    shown = await client.get("/oncall/schedules/primary/edit")
    assert shown.status_code == 200
    assert f'<option value="{bob.user.id}" selected>' in shown.text
    assert 'name="slug"' not in shown.text  # the slug cannot change

    form = schedule_form(
        csrf,
        [cy, ada],
        name="Primary renamed",
        **{
            "layers.0.rotation": "custom",
            "layers.0.turn_hours": "12",
            "layers.1.name": "Weekend cover",
            "layers.1.time_zone": "UTC",
            "layers.1.rotation": "weekly",
            "layers.1.start_date": "2026-01-03",
            "layers.1.handoff_time": "00:00",
            "layers.1.members": [str(bob.user.id)],
            "layers.1.restriction_weekday": ["5", "6"],
            "layers.1.restriction_start": ["00:00", "00:00"],
            "layers.1.restriction_hours": ["24", "24"],
        },
    )
    saved = await client.post("/oncall/schedules/primary/edit", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    api = (await client.get(f"{API}/schedules/primary", headers=ada.headers)).json()
    assert api["name"] == "Primary renamed" and api["id"] == created["id"]
    assert [(x["name"], x["turn_minutes"], x["members"]) for x in api["layers"]] == [
        ("Primary", 720, [cy.user.id, ada.user.id]),
        ("Weekend cover", 7 * 24 * 60, [bob.user.id]),
    ]
    assert api["layers"][1]["restrictions"] == [
        {"weekday": 5, "start": "00:00", "minutes": 1440},
        {"weekday": 6, "start": "00:00", "minutes": 1440},
    ]
    assert len(api["overrides"]) == 1
    (entry,) = await audited(session, "oncall.schedule.update")
    assert entry.before is not None and entry.before["name"] == "Primary"

    again = await client.get("/oncall/schedules/primary/edit")
    assert 'name="layers.0.turn_hours" type="number" min="1" step="0.25" value="12"' in again.text
    assert again.text.count('name="layers.1.restriction_start"') == 3  # two and a spare


async def test_add_and_remove_buttons_reshow_the_form_without_saving(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    ada = people["ada"]
    csrf = await sign_in(client, session)
    form = schedule_form(csrf, [ada], add="layers.0.members")
    more = await client.post("/oncall/schedules/new", data=form)
    assert more.status_code == 200
    assert more.text.count('name="layers.0.members"') == 3  # ada, the added row, the spare
    layered = await client.post("/oncall/schedules/new", data={**form, "add": "layers"})
    assert 'name="layers.1.time_zone" value="Europe/Berlin"' in layered.text
    removed = await client.post(
        "/oncall/schedules/new", data={**form, "add": "", "remove": "layers.0"}
    )
    assert 'name="layers.0.' not in removed.text
    assert await stored(session, OncallSchedule) == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"layers.0.time_zone": "Mars/Olympus"}, "layers.0.time_zone", "IANA time zone"),
        ({"layers.0.rotation": "custom"}, "layers.0", "turn_minutes is needed"),
        ({"layers.0.start_date": ""}, "layers.0.start_date", "date"),
        ({"layers.0.members": ["999999"]}, "layers.0.members", "no active user with id 999999"),
        (
            {
                "layers.0.restriction_weekday": ["0"],
                "layers.0.restriction_start": ["09:00"],
                "layers.0.restriction_hours": [""],
            },
            "layers.0.restrictions.0",
            "how many hours",
        ),
        ({"name": ""}, "name", "at least 1 character"),
        ({"team": "nope"}, "team", "there is no team"),
    ],
)
async def test_a_refused_schedule_is_shown_again_with_the_field_named(
    client: AsyncClient,
    session: AsyncSession,
    people: dict[str, Caller],
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    csrf = await sign_in(client, session)
    form = schedule_form(csrf, [people["ada"]], **change)
    refused = await client.post("/oncall/schedules/new", data=form)
    assert refused.status_code == 422
    assert "Nothing was saved." in refused.text
    assert message in field_error(refused, field)
    assert "Wakes the payments team</textarea>" in refused.text
    assert await stored(session, OncallSchedule) == []


async def test_a_second_schedule_with_the_same_slug_is_a_conflict(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    await make_schedule(client, people["ada"], [layer([people["ada"]])], slug="payments-primary")
    csrf = await sign_in(client, session)
    refused = await client.post("/oncall/schedules/new", data=schedule_form(csrf, [people["bob"]]))
    assert refused.status_code == 409
    assert "exists already" in field_error(refused, "slug")
    api = await client.get(f"{API}/schedules/payments-primary", headers=people["ada"].headers)
    assert api.json()["layers"][0]["members"] == [people["ada"].user.id]


async def test_overrides_are_added_and_removed_on_the_schedule_page(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    ada, cy = people["ada"], people["cy"]
    await make_schedule(client, ada, [layer([ada])])
    csrf = await sign_in(client, session)
    backwards = {
        "csrf_token": csrf,
        "user_id": str(cy.user.id),
        "starts_at": "2026-01-05T12:00",
        "ends_at": "2026-01-05T10:00",
    }
    refused = await client.post("/oncall/schedules/primary/overrides", data=backwards)
    assert refused.status_code == 422
    assert "must be after starts_at" in field_error(refused, "ends_at")
    assert 'value="2026-01-05T12:00"' in refused.text
    nobody = await client.post(
        "/oncall/schedules/primary/overrides", data={**backwards, "user_id": ""}
    )
    assert "choose who takes over" in field_error(nobody, "user_id")

    form = {**backwards, "starts_at": "2026-01-05T10:00", "ends_at": "2026-01-05T12:00"}
    added = await client.post(
        "/oncall/schedules/primary/overrides", data=form, follow_redirects=False
    )
    assert added.status_code == 303
    page = await client.get("/oncall/schedules/primary")
    assert "2026-01-05 10:00 UTC" in page.text and label(cy) in page.text
    render = await client.get(
        f"{API}/schedules/primary/render",
        params={"since": "2026-01-05T11:00:00Z", "until": "2026-01-05T11:00:01Z"},
        headers=ada.headers,
    )
    assert render.json()[0]["user_id"] == cy.user.id
    assert len(await audited(session, "oncall.override.create")) == 1

    (override,) = (await client.get(f"{API}/schedules/primary", headers=ada.headers)).json()[
        "overrides"
    ]
    gone = await client.post(
        f"/oncall/schedules/primary/overrides/{override['id']}/delete",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    api = (await client.get(f"{API}/schedules/primary", headers=ada.headers)).json()
    assert api["overrides"] == []
    assert len(await audited(session, "oncall.override.delete")) == 1


async def test_deleting_a_schedule_needs_the_box_ticked(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    await make_schedule(client, people["ada"], [layer([people["ada"]])])
    csrf = await sign_in(client, session)
    kept = await client.post("/oncall/schedules/primary/delete", data={"csrf_token": csrf})
    assert kept.status_code == 422
    assert "tick the box" in field_error(kept, "confirm")
    assert await stored(session, OncallSchedule) == ["primary"]
    deleted = await client.post(
        "/oncall/schedules/primary/delete",
        data={"csrf_token": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert deleted.headers["location"] == "/oncall?deleted=primary"
    assert await stored(session, OncallSchedule) == []
    assert len(await audited(session, "oncall.schedule.delete")) == 1


# --- permissions ------------------------------------------------------------------------------


async def test_a_viewer_sees_no_edit_controls_and_is_refused(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    await make_schedule(client, people["ada"], [layer([people["ada"]])])
    csrf = await sign_in(client, session, Role.VIEWER)
    for path in ("/oncall", "/oncall/schedules/primary", "/oncall/policies"):
        page = await client.get(path)
        assert page.status_code == 200
        for control in (
            '"/oncall/schedules/new"',
            '"/oncall/policies/new"',
            "/edit",
            "Add override",
        ):
            assert control not in page.text, (path, control)
    assert (await client.get("/oncall/schedules/new")).status_code == 403
    for path in (
        "/oncall/schedules/new",
        "/oncall/schedules/primary/edit",
        "/oncall/schedules/primary/delete",
        "/oncall/schedules/primary/overrides",
        "/oncall/policies/new",
    ):
        refused = await client.post(path, data=schedule_form(csrf, [people["bob"]], confirm="yes"))
        assert refused.status_code == 403, path
    api = (await client.get(f"{API}/schedules/primary", headers=people["ada"].headers)).json()
    assert api["layers"][0]["members"] == [people["ada"].user.id] and api["overrides"] == []


async def test_a_responder_of_another_team_may_not_change_the_schedule(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    await make_schedule(client, people["ada"], [layer([people["ada"]])])
    csrf = await sign_in(client, session, Role.RESPONDER)
    page = await client.get("/oncall/schedules/primary")
    assert "/oncall/schedules/primary/edit" not in page.text and "Add override" not in page.text
    assert (await client.get("/oncall/schedules/primary/edit")).status_code == 403
    form = schedule_form(csrf, [people["bob"]], name="Hijacked")
    refused = await client.post("/oncall/schedules/primary/edit", data=form)
    assert refused.status_code == 403 and "owning team" in refused.text
    api = (await client.get(f"{API}/schedules/primary", headers=people["ada"].headers)).json()
    assert api["name"] == "Primary"


async def test_a_form_without_the_csrf_token_is_refused(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    await sign_in(client, session)
    form = schedule_form("", [people["ada"]])
    refused = await client.post("/oncall/schedules/new", data=form)
    assert refused.status_code == 403
    assert await stored(session, OncallSchedule) == []


# --- escalation policies ----------------------------------------------------------------------


def policy_form(csrf: str, levels: list[tuple[str, list[str]]], **extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "name": "Payments",
        "slug": "",
        "description": "",
        "team": "payments",
        "repeat": "1",
    }
    for i, (timeout, targets) in enumerate(levels):
        form[f"levels.{i}.timeout_minutes"] = timeout
        form[f"levels.{i}.targets"] = [*targets, ""]
    return {**form, **extra}


async def test_a_policy_is_created_edited_and_deleted_in_the_ui(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    ada, bob = people["ada"], people["bob"]
    schedule = await make_schedule(client, ada, [layer([ada, bob])])
    team_id = await session.scalar(sa.text("SELECT id FROM teams WHERE slug = 'payments'"))
    await session.commit()
    csrf = await sign_in(client, session)
    listing = await client.get("/oncall/policies")
    assert 'href="/oncall/policies/new"' in listing.text
    assert f'value="schedule:{schedule["id"]}"' in (await client.get("/oncall/policies/new")).text

    form = policy_form(
        csrf, [("5", [f"schedule:{schedule['id']}"]), ("15", [f"user:{bob.user.id}"])]
    )
    saved = await client.post("/oncall/policies/new", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    api = (await client.get(f"{API}/policies/payments", headers=ada.headers)).json()
    assert api["repeat"] == 1
    assert api["levels"] == [
        {"timeout_minutes": 5, "targets": [{"type": "schedule", "id": schedule["id"]}]},
        {"timeout_minutes": 15, "targets": [{"type": "user", "id": bob.user.id}]},
    ]
    shown = await client.get(saved.headers["location"])
    assert "Escalation policy payments saved." in shown.text
    assert "escalates after 5 min" in shown.text and "escalates after 15 min" in shown.text

    edit = await client.get("/oncall/policies/payments/edit")
    assert f'<option value="user:{bob.user.id}" selected>' in edit.text
    changed = policy_form(
        csrf,
        [("10", [f"team:{team_id}", f"user:{ada.user.id}"])],
        repeat="0",
    )
    saved = await client.post("/oncall/policies/payments/edit", data=changed)
    assert saved.status_code == 303, saved.text
    api = (await client.get(f"{API}/policies/payments", headers=ada.headers)).json()
    assert api["repeat"] == 0
    assert api["levels"] == [
        {
            "timeout_minutes": 10,
            "targets": [{"type": "team", "id": team_id}, {"type": "user", "id": ada.user.id}],
        }
    ]
    assert len(await audited(session, "oncall.policy.create")) == 1
    assert len(await audited(session, "oncall.policy.update")) == 1

    deleted = await client.post(
        "/oncall/policies/payments/delete",
        data={"csrf_token": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert deleted.headers["location"] == "/oncall/policies?deleted=payments"
    assert await stored(session, EscalationPolicy) == []
    assert len(await audited(session, "oncall.policy.delete")) == 1


@pytest.mark.parametrize(
    ("levels", "change", "field", "message"),
    [
        ([("5", [])], {}, "levels", "at least 1 item"),
        ([("0", ["user:{ada}"])], {}, "levels.0.timeout_minutes", "greater than or equal to 1"),
        ([("5", ["user:999999"])], {}, "levels.0.targets", "there is no user 999999"),
        ([("5", ["user:{ada}"])], {"repeat": "12"}, "repeat", "less than or equal to 9"),
        ([("5", ["user:{ada}"])], {"slug": "Not A Slug"}, "slug", "pattern"),
    ],
)
async def test_a_refused_policy_is_shown_again_with_the_field_named(
    client: AsyncClient,
    session: AsyncSession,
    people: dict[str, Caller],
    levels: list[tuple[str, list[str]]],
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    csrf = await sign_in(client, session)
    ada = people["ada"].user.id
    filled = [(t, [x.format(ada=ada) for x in targets]) for t, targets in levels]
    refused = await client.post("/oncall/policies/new", data=policy_form(csrf, filled, **change))
    assert refused.status_code == 422
    assert message in field_error(refused, field)
    assert await stored(session, EscalationPolicy) == []


async def test_an_inactive_member_is_refused_by_the_form_as_by_the_api(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller]
) -> None:
    bob = people["bob"]
    user = await session.get(User, bob.user.id)
    assert user is not None
    user.is_active = False
    await session.commit()
    csrf = await sign_in(client, session)
    refused = await client.post("/oncall/schedules/new", data=schedule_form(csrf, [bob]))
    assert refused.status_code == 422
    assert f"no active user with id {bob.user.id}" in field_error(refused, "layers.0.members")
