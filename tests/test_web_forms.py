"""Edit forms: a valid form saves through the service layer (audited); an invalid one names
the field beside its input and changes nothing."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient, Response
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.sample import Sample, build
from tests.conftest import count_rows
from tests.factories import PASSWORD, browser_login
from tocsin.audit.models import AuditEntry
from tocsin.auth.models import User
from tocsin.catalog import service as catalog
from tocsin.policy import service as policy
from tocsin.web import forms


@pytest.fixture
async def org(session: AsyncSession) -> Sample:
    return await build(session)


async def sign_in(client: AsyncClient, user: User) -> str:
    client.cookies.clear()
    return await browser_login(client, user.email, PASSWORD)


def checkout_form(csrf: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "name": "Checkout",
        "description": "Takes the money.",
        "owner_team": "storefront",
        "tier": "tier-1",
        "tags": "revenue",
        "runbook_title": ["", ""],
        "runbook_url": ["", ""],
        "dep_service": ["payments", "recommendations", ""],
        "dep_kind": ["hard", "soft", "hard"],
        "dep_note": ["", "", ""],
    }
    form.update(changes)
    return form


def field_error(page: str, field: str) -> str:
    """The message shown beside an input, found the way assistive technology finds it."""
    element_id = field.replace(".", "-") + "-error"
    match = re.search(rf'<p class="field-error" id="{re.escape(element_id)}">([^<]*)</p>', page)
    assert match, f"no error shown beside {field}"
    return html.unescape(match.group(1))


async def post(client: AsyncClient, path: str, data: dict[str, Any]) -> Response:
    return await client.post(path, data=data, follow_redirects=False)


async def test_saving_the_service_form_changes_it_and_records_who_did(
    client: AsyncClient, session: AsyncSession, org: Sample
) -> None:
    csrf = await sign_in(client, org.responder)
    form = checkout_form(
        csrf,
        tier="tier-2",
        description="Takes the money, nicely.",
        tags="revenue, pci",
        runbook_title=["Failover", ""],
        runbook_url=["https://runbooks.example.com/checkout", ""],
    )
    saved = await post(client, "/services/checkout/edit", form)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/services/checkout?saved=1"

    page = (await client.get(saved.headers["location"])).text
    assert "Saved." in page and "Takes the money, nicely." in page

    service = await catalog.get_service(session, "checkout")
    assert service.tier.value == "tier-2"
    assert service.tags == ["revenue", "pci"]
    assert [r.title for r in service.runbooks] == ["Failover"]
    assert {(d.service, d.kind.value) for d in service.dependencies} == {
        ("payments", "hard"),
        ("recommendations", "soft"),
    }
    entry = await session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "catalog.service.update")
        .order_by(AuditEntry.id.desc())
    )
    assert entry is not None
    assert entry.actor_label == org.responder.email
    assert entry.before is not None and entry.after is not None
    assert (entry.before["tier"], entry.after["tier"]) == ("tier-1", "tier-2")


INVALID_SERVICE_FORMS: list[tuple[dict[str, Any], str, str]] = [
    ({"tier": "tier-9"}, "tier", "tier-1"),
    ({"name": ""}, "name", "at least 1 character"),
    ({"tags": "ok, Not OK!"}, "tags", "row 2"),
    ({"owner_team": "ghosts"}, "owner_team", "no team 'ghosts'"),
    ({"dep_service": ["payments", "nowhere"]}, "dependencies.1", "no service 'nowhere'"),
    ({"dep_service": ["checkout"]}, "dependencies.0", "cannot depend on itself"),
    ({"runbook_title": ["Failover"], "runbook_url": ["not a url"]}, "runbooks.0", "url: "),
]
"""(what is changed in a valid form, the field it must be reported beside, part of the message)"""


async def test_an_invalid_service_form_names_the_field_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, org: Sample
) -> None:
    csrf = await sign_in(client, org.responder)
    before = await catalog.get_service(session, "checkout")
    audited = await count_rows(session, AuditEntry)
    await session.rollback()  # end the read, so the app's write transaction is not held up

    for changes, field, says in INVALID_SERVICE_FORMS:
        response = await post(client, "/services/checkout/edit", checkout_form(csrf, **changes))
        assert response.status_code == 422, changes
        assert "Nothing was saved" in response.text
        assert says in field_error(response.text, field), changes

    session.expire_all()
    assert await catalog.get_service(session, "checkout") == before
    assert await count_rows(session, AuditEntry) == audited


async def test_what_was_typed_is_kept_when_the_form_is_refused(
    client: AsyncClient, org: Sample
) -> None:
    csrf = await sign_in(client, org.responder)
    form = checkout_form(csrf, tier="tier-9", description="A careful new description")
    page = (await post(client, "/services/checkout/edit", form)).text
    assert "A careful new description" in page
    assert 'aria-invalid="true" aria-describedby="tier-error"' in page


async def test_the_service_form_needs_the_csrf_token_and_ownership(
    client: AsyncClient, session: AsyncSession, org: Sample
) -> None:
    csrf = await sign_in(client, org.responder)
    before = await catalog.get_service(session, "payments")
    await session.rollback()
    no_token = checkout_form("", tier="tier-4")
    assert (await post(client, "/services/checkout/edit", no_token)).status_code == 403
    # payments belongs to a team the responder is not in
    not_theirs = checkout_form(csrf, name="Payments API", owner_team="payments", tier="tier-4")
    refused = await post(client, "/services/payments/edit", not_theirs)
    assert refused.status_code == 403
    session.expire_all()
    assert await catalog.get_service(session, "payments") == before
    assert (await catalog.get_service(session, "checkout")).tier.value == "tier-1"


# --- the severity policy form ----------------------------------------------------------------


async def policy_form(client: AsyncClient, slug: str) -> dict[str, Any]:
    """The edit form as the browser would submit it unchanged: every named input's value."""
    page = (await client.get(f"/severities/{slug}/edit")).text
    form: dict[str, Any] = {}
    for tag in re.findall(r"<(?:input|textarea|select)[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or "x-for" in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                form[name.group(1)] = "on"
            continue
        form.setdefault(name.group(1), []).append(value.group(1) if value else "")
    for select in re.finditer(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', select.group(2))
        form.setdefault(select.group(1), []).append(chosen.group(1) if chosen else "")
    definition = re.search(r'<textarea[^>]*name="definition"[^>]*>(.*?)</textarea>', page, re.S)
    form["definition"] = definition.group(1) if definition else ""
    return form


async def test_an_admin_changes_a_severity_policy_through_the_form(
    client: AsyncClient, session: AsyncSession, org: Sample
) -> None:
    await sign_in(client, org.admin)
    form = await policy_form(client, "sev2")
    form["kpi_targets.time_to_resolve_minutes"] = "200"
    form["comm_group"] = ["executives", ""]
    form["comm_cadence"] = ["45", ""]
    form["comm_format"] = ["executive-summary", "business-update"]
    form["comm_channel"] = ["email", "email"]
    saved = await post(client, "/severities/sev2/edit", form)
    assert saved.status_code == 303, saved.text

    stored = await policy.get_policy(session, "sev2")
    assert stored.kpi_targets.time_to_resolve_minutes == 200
    assert [(c.group, c.cadence_minutes) for c in stored.communications] == [("executives", 45)]
    actions = (await session.scalars(sa.select(AuditEntry.action))).all()
    assert "policy.severity.update" in actions


async def test_an_invalid_policy_form_names_the_field_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, org: Sample
) -> None:
    await sign_in(client, org.admin)
    before = await policy.get_policy(session, "sev1")
    await session.rollback()
    form = await policy_form(client, "sev1")
    form["kpi_targets.time_to_acknowledge_minutes"] = "abc"
    refused = await post(client, "/severities/sev1/edit", form)
    assert refused.status_code == 422
    assert "valid integer" in field_error(refused.text, "kpi_targets.time_to_acknowledge_minutes")
    session.expire_all()
    assert await policy.get_policy(session, "sev1") == before


async def test_only_policy_writers_may_post_the_policy_form(
    client: AsyncClient, org: Sample
) -> None:
    csrf = await sign_in(client, org.responder)
    response = await post(client, "/severities/sev1/edit", {"csrf_token": csrf, "name": "X"})
    assert response.status_code == 403


# --- the pure helpers ------------------------------------------------------------------------

item = st.text(
    alphabet=st.characters(blacklist_characters=",\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() == s and s)


@given(st.lists(item, max_size=10), st.sampled_from([", ", ",", "\n", " ,\n "]))
def test_a_typed_list_splits_back_into_its_items(items: list[str], separator: str) -> None:
    assert forms.split_list(separator.join(items)) == items


def test_errors_inside_a_list_are_shown_with_the_list_counted_from_one() -> None:
    errors = forms.FormErrors()
    errors.add("runbooks.1.url", "not a URL")
    errors.add("name", "required")
    assert errors.of("runbooks") == ["row 2, url: not a URL"]
    assert errors.of("runbooks.1") == ["url: not a URL"]
    assert errors.exact("runbooks") == []
    assert errors.fields == ["name", "runbooks.1.url"]
