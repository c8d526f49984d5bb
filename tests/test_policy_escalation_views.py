"""Escalation targets and rules on the severity policy pages: shown, edited through the form
(validated and audited like the API), and kept intact by a save that does not touch them."""

from __future__ import annotations

import html
import re
from typing import Any

import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.sample import Sample
from tests.test_web_forms import field_error, org, post, sign_in  # noqa: F401
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.policy import service as policy
from tocsin.policy.schemas import EscalationGroup, EscalationMode, SeverityPolicyIn


async def policy_form(client: AsyncClient, slug: str) -> dict[str, Any]:
    """The edit form as a browser submits it untouched: each input's value, each select's
    chosen option, in page order (the template rows of scripts left out)."""
    page = (await client.get(f"/severities/{slug}/edit")).text
    page = re.sub(r"<template.*?</template>", "", page, flags=re.S)
    form: dict[str, Any] = {}
    for match in re.finditer(
        r'<input[^>]*>|<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S
    ):
        if match.group(1):
            chosen = re.search(r'<option value="([^"]*)" selected', match.group(2))
            first = re.search(r'<option value="([^"]*)"', match.group(2))
            value = (chosen or first).group(1) if (chosen or first) else ""
            form.setdefault(match.group(1), []).append(value)
            continue
        tag = match.group(0)
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                form[name.group(1)] = "on"
            continue
        value_of = re.search(r'value="([^"]*)"', tag)
        form.setdefault(name.group(1), []).append(
            html.unescape(value_of.group(1)) if value_of else ""
        )
    definition = re.search(r'<textarea[^>]*name="definition"[^>]*>(.*?)</textarea>', page, re.S)
    form["definition"] = html.unescape(definition.group(1)) if definition else ""
    return form


async def test_an_admin_sets_escalation_targets_and_rules_and_the_page_shows_them(
    client: AsyncClient,
    session: AsyncSession,
    org: Sample,  # noqa: F811
) -> None:
    await sign_in(client, org.admin)
    form = await policy_form(client, "sev2")
    form["escalation.technical.users"] = "Oncall-Lead@example.com, sre@example.com"
    form["escalation.technical.teams"] = "payments"
    form["escalation.technical.mode"] = "page"
    form["escalation.executive.users"] = "cto@example.com"
    form["escalation.executive.mode"] = "notify"
    form["rule_id"] = ["long-outage", "many-customers"]
    form["rule_to"] = ["technical,executive", "executive"]
    form["rule_duration_minutes"] = ["120", ""]
    form["rule_customers_affected"] = ["", "5000"]
    form["rule_revenue_per_hour"] = ["", ""]
    form["rule_error_rate_percent"] = ["", ""]
    saved = await post(client, "/severities/sev2/edit", form)
    assert saved.status_code == 303, saved.text

    stored = (await policy.get_policy(session, "sev2")).escalation
    assert stored.technical.users == ["oncall-lead@example.com", "sre@example.com"]
    assert stored.technical.teams == ["payments"]
    assert stored.technical.mode is EscalationMode.PAGE
    assert stored.executive.users == ["cto@example.com"]
    assert stored.executive.mode is EscalationMode.NOTIFY
    assert [(r.id, r.to) for r in stored.rules] == [
        ("long-outage", [EscalationGroup.TECHNICAL, EscalationGroup.EXECUTIVE]),
        ("many-customers", [EscalationGroup.EXECUTIVE]),
    ]
    assert stored.rules[0].when.duration_minutes == 120
    assert stored.rules[1].when.customers_affected == 5000
    assert "policy.severity.update" in (await session.scalars(sa.select(AuditEntry.action))).all()
    await session.rollback()

    page = html.unescape((await client.get("/severities/sev2")).text)
    assert "Escalation targets" in page
    assert "oncall-lead@example.com, sre@example.com" in page
    assert "cto@example.com" in page
    assert "long-outage" in page and "technical and executive" in page
    assert "Lasts longer than (minutes): 120" in page

    # The form shows what is stored, so saving it unchanged changes nothing.
    again = await policy_form(client, "sev2")
    assert again["escalation.technical.users"] == ["oncall-lead@example.com, sre@example.com"]
    assert again["rule_id"][:2] == ["long-outage", "many-customers"]
    resaved = await post(client, "/severities/sev2/edit", again)
    assert resaved.status_code == 303, resaved.text
    session.expire_all()
    assert (await policy.get_policy(session, "sev2")).escalation == stored


async def test_a_bad_target_or_rule_is_named_beside_its_input_and_nothing_changes(
    client: AsyncClient,
    session: AsyncSession,
    org: Sample,  # noqa: F811
) -> None:
    await sign_in(client, org.admin)
    before = await policy.get_policy(session, "sev1")
    await session.rollback()

    form = await policy_form(client, "sev1")
    form["escalation.executive.users"] = "cto@example.com, the-board"
    refused = await post(client, "/severities/sev1/edit", form)
    assert refused.status_code == 422
    assert "the-board is not an e-mail address" in field_error(
        refused.text, "escalation.executive.users"
    )
    assert 'value="cto@example.com, the-board"' in refused.text  # what was typed is kept

    form = await policy_form(client, "sev1")
    form["rule_id"] = ["slow", "slow"]
    form["rule_to"] = ["technical", "executive"]
    form["rule_duration_minutes"] = ["30", "60"]
    for name in ("customers_affected", "revenue_per_hour", "error_rate_percent"):
        form[f"rule_{name}"] = ["", ""]
    refused = await post(client, "/severities/sev1/edit", form)
    assert refused.status_code == 422
    assert "slow" in field_error(refused.text, "escalation.rules")

    session.expire_all()
    assert await policy.get_policy(session, "sev1") == before


async def test_saving_the_form_keeps_the_missing_commander_rule_set_elsewhere(
    client: AsyncClient,
    session: AsyncSession,
    org: Sample,  # noqa: F811
) -> None:
    current = await policy.get_policy(session, "sev3")
    fields = set(SeverityPolicyIn.model_fields)
    body = SeverityPolicyIn.model_validate(current.model_dump(mode="json", include=fields))
    body.escalation.missing_commander.enabled = True
    body.escalation.missing_commander.after_minutes = 12
    await policy.set_policy(session, Actor.system("test"), "sev3", body)
    await sign_in(client, org.admin)
    form = await policy_form(client, "sev3")
    form["escalation.executive.users"] = "vp@example.com"
    assert (await post(client, "/severities/sev3/edit", form)).status_code == 303
    session.expire_all()
    stored = (await policy.get_policy(session, "sev3")).escalation
    assert stored.executive.users == ["vp@example.com"]
    assert (stored.missing_commander.enabled, stored.missing_commander.after_minutes) == (True, 12)
