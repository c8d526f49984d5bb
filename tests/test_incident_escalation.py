"""Escalation paths through the API and the worker: rules by duration and impact fire once at
their exact moment, severity and impact changes re-evaluate, a missing Incident Commander is
flagged and escalated, a crossed post-mortem trigger flags the incident, SLA figures, and
private incidents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller, browser_login, make_caller, make_user
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock, utcnow
from tocsin.config import Settings
from tocsin.jobs.models import Job
from tocsin.jobs.worker import Worker
from tocsin.notifications.service import DISPATCH_KIND
from tocsin.policy import service as policy

API = "/api/v1/incidents"


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> None:
    await policy.ensure_default_policies(session)
    await session.commit()


@pytest.fixture
def worker(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Worker:
    return Worker(settings, sessionmaker, worker_id="escalation-test")


@pytest.fixture
async def admin(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.ADMIN)


@pytest.fixture
async def people(client: AsyncClient, session: AsyncSession, admin: Caller) -> dict[str, str]:
    """A technical lead, a database team of two, and an executive."""
    emails = {
        "tech": "tech.lead@example.test",
        "dba1": "dba.one@example.test",
        "dba2": "dba.two@example.test",
        "exec": "vp.engineering@example.test",
    }
    for email in emails.values():
        await make_user(session, Role.RESPONDER, email=email, password=None)
    team = {
        "slug": "dba",
        "name": "Databases",
        "members": [{"email": emails["dba1"]}, {"email": emails["dba2"]}],
    }
    response = await client.post("/api/v1/teams", json=team, headers=admin.headers)
    assert response.status_code == 201, response.text
    return emails


async def set_escalation(
    client: AsyncClient, admin: Caller, severity: str, escalation: dict[str, Any]
) -> dict[str, Any]:
    response = await client.patch(
        f"/api/v1/policies/{severity}", json={"escalation": escalation}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


PATHS = {
    "technical": {"users": ["tech.lead@example.test"], "teams": ["dba"], "mode": "page"},
    "executive": {"users": ["vp.engineering@example.test"], "mode": "notify"},
}


async def declare(client: AsyncClient, caller: Caller, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "sev2", **fields}
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def escalations(client: AsyncClient, caller: Caller, ref: str) -> dict[str, Any]:
    response = await client.get(f"{API}/{ref}/escalations", headers=caller.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def timeline(client: AsyncClient, caller: Caller, ref: str) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/{ref}/timeline", headers=caller.headers)
    assert response.status_code == 200
    return list(response.json())


async def notified(session: AsyncSession) -> dict[str, str]:
    """E-mail → urgency of every escalation notification queued so far."""
    from tocsin.auth.models import User

    jobs = (await session.scalars(sa.select(Job).where(Job.kind == DISPATCH_KIND))).all()
    found: dict[str, str] = {}
    for job in jobs:
        if job.payload["notification"]["source"] != "incident.escalation":
            continue
        user = await session.get(User, job.payload["user_id"])
        assert user is not None
        found[user.email] = job.payload["notification"]["urgency"]
    await session.rollback()  # SQLite: let the worker write
    return found


async def test_a_duration_rule_escalates_at_its_exact_moment_and_only_once(
    client: AsyncClient,
    session: AsyncSession,
    world: None,
    clock: FrozenClock,
    worker: Worker,
    admin: Caller,
    people: dict[str, str],
) -> None:
    await set_escalation(
        client,
        admin,
        "sev2",
        {**PATHS, "duration_minutes": 30, "missing_commander": {"enabled": False}},
    )
    responder = await make_caller(session)
    declared_at = utcnow()
    ref = await declare(client, responder)
    await worker.run_once()
    view = await escalations(client, responder, ref)
    assert datetime.fromisoformat(view["next_crossing_at"]) == declared_at + timedelta(minutes=30)
    assert view["escalations"] == []
    assert [r["id"] for r in view["rules"]] == ["thresholds"]

    clock.advance(timedelta(minutes=29, seconds=59))
    await worker.run_once()
    assert await notified(session) == {}

    clock.advance(timedelta(seconds=1))
    await worker.run_once()
    assert await notified(session) == {
        people["tech"]: "high",
        people["dba1"]: "high",
        people["dba2"]: "high",
        people["exec"]: "low",
    }
    view = await escalations(client, responder, ref)
    [sent] = view["escalations"]
    assert sent["rule"] == "thresholds" and sent["reasons"] == ["duration 30 min ≥ 30 min"]
    assert {r["email"]: r["mode"] for r in sent["recipients"]}[people["exec"]] == "notify"
    events = [e for e in await timeline(client, responder, ref) if e["kind"] == "escalated"]
    assert len(events) == 1
    assert "paged" in events[0]["text"] and people["tech"] in events[0]["text"]
    assert "rule thresholds" in events[0]["text"]
    audit = await session.scalar(
        sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "incident.escalated")
    )
    assert audit == 1
    await session.rollback()

    clock.advance(timedelta(hours=2))
    await worker.run_once()
    await client.patch(
        f"{API}/{ref}", json={"summary": "still failing", "reason": "x"}, headers=responder.headers
    )
    await worker.run_once()
    sent_rules = [e["rule"] for e in (await escalations(client, responder, ref))["escalations"]]
    assert sent_rules.count("thresholds") == 1
    assert [r for r in sent_rules if r != "thresholds"] == [
        r
        for r in sent_rules
        if r.startswith("bridge-")  # the bridge's second miss meanwhile
    ]


async def test_an_impact_change_escalates_its_rule_at_once(
    client: AsyncClient,
    session: AsyncSession,
    world: None,
    clock: FrozenClock,
    worker: Worker,
    admin: Caller,
    people: dict[str, str],
) -> None:
    await set_escalation(
        client,
        admin,
        "sev2",
        {
            **PATHS,
            "rules": [{"id": "wide", "when": {"customers_affected": 500}, "to": ["executive"]}],
            "missing_commander": {"enabled": False},
        },
    )
    responder = await make_caller(session)
    ref = await declare(client, responder, customers_affected=20)
    await worker.run_once()
    assert await notified(session) == {}
    response = await client.patch(
        f"{API}/{ref}",
        json={"customers_affected": 800, "reason": "support sees more"},
        headers=responder.headers,
    )
    assert response.status_code == 200
    await worker.run_once()
    assert await notified(session) == {people["exec"]: "low"}
    view = await escalations(client, responder, ref)
    assert view["escalations"][0]["reasons"] == ["customers affected 800 ≥ 500"]
    assert view["crossed"][0]["rule"] == "wide"


async def test_raising_the_severity_re_evaluates_against_the_new_policy(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, worker: Worker
) -> None:
    """SEV3 escalates after 8 hours, SEV1 after 30 minutes: an hour-old SEV3 raised to SEV1
    escalates as soon as the change is saved."""
    responder = await make_caller(session)
    ref = await declare(client, responder, severity="sev3")
    clock.advance(timedelta(minutes=60))
    await worker.run_once()
    assert (await escalations(client, responder, ref))["escalations"] == []
    response = await client.patch(
        f"{API}/{ref}", json={"severity": "sev1", "reason": "worse"}, headers=responder.headers
    )
    assert response.status_code == 200
    await worker.run_once()
    sent = {e["rule"]: e for e in (await escalations(client, responder, ref))["escalations"]}
    # an hour-old SEV1 also has no commander yet: that is escalated too
    assert sorted(sent) == ["missing-commander", "thresholds"]
    assert sent["thresholds"]["severity"] == "sev1"
    assert sent["thresholds"]["reasons"] == ["duration 60 min ≥ 30 min"]
    assert sent["thresholds"]["recipients"] == []  # the default policy names no one
    events = [e for e in await timeline(client, responder, ref) if e["kind"] == "escalated"]
    assert all("no escalation targets configured" in e["text"] for e in events)


async def test_a_sev1_without_a_commander_is_flagged_and_escalated_until_one_is_assigned(
    client: AsyncClient,
    session: AsyncSession,
    world: None,
    clock: FrozenClock,
    worker: Worker,
    admin: Caller,
    people: dict[str, str],
) -> None:
    await set_escalation(client, admin, "sev1", PATHS)
    responder = await make_caller(session)
    ref = await declare(client, responder, severity="sev1")
    await worker.run_once()
    clock.advance(timedelta(minutes=4))
    await worker.run_once()
    view = await escalations(client, responder, ref)
    assert view["commander"]["required"] and not view["commander"]["missing"]

    clock.advance(timedelta(minutes=1))
    await worker.run_once()
    view = await escalations(client, responder, ref)
    assert view["commander"]["missing"] is True
    assert [e["rule"] for e in view["escalations"]] == ["missing-commander"]
    assert await notified(session) == {
        people["tech"]: "high",
        people["dba1"]: "high",
        people["dba2"]: "high",
    }
    page = await client.get(
        f"/incidents/{ref}/escalations", headers={**responder.headers, "HX-Request": "true"}
    )
    assert page.status_code == 200 and "No Incident Commander" in page.text

    response = await client.put(
        f"{API}/{ref}/roles",
        json={"role": "incident-commander", "user": people["tech"]},
        headers=responder.headers,
    )
    assert response.status_code == 200
    view = await escalations(client, responder, ref)
    assert view["commander"] == {
        **view["commander"],
        "missing": False,
        "incident_commander": people["tech"],
    }
    page = await client.get(f"/incidents/{ref}/escalations", headers=responder.headers)
    assert "No Incident Commander" not in page.text


async def test_a_sev3_with_a_commander_in_time_or_not_required_is_never_flagged(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, worker: Worker
) -> None:
    responder = await make_caller(session)
    ref = await declare(client, responder, severity="sev3")
    clock.advance(timedelta(minutes=30))
    await worker.run_once()
    view = await escalations(client, responder, ref)
    assert view["commander"]["required"] is False and view["commander"]["missing"] is False
    assert view["escalations"] == []


async def test_crossing_the_post_mortem_trigger_flags_the_incident(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, worker: Worker
) -> None:
    """SEV3 needs a post-mortem from 100 customers affected (or 4 hours)."""
    responder = await make_caller(session)
    ref = await declare(client, responder, severity="sev3", customers_affected=10)
    await worker.run_once()
    view = await escalations(client, responder, ref)
    assert view["postmortem"]["required"] is False
    assert view["postmortem"]["next_duration_crossing_at"] is not None
    await client.patch(
        f"{API}/{ref}",
        json={"customers_affected": 140, "reason": "more reports"},
        headers=responder.headers,
    )
    await worker.run_once()
    view = await escalations(client, responder, ref)
    assert view["postmortem"]["required"] is True
    assert view["postmortem"]["reasons"] == ["customers affected 140 ≥ 100"]
    assert view["postmortem"]["flagged_at"] is not None
    events = [
        e for e in await timeline(client, responder, ref) if e["kind"] == "postmortem.required"
    ]
    assert len(events) == 1 and "customers affected 140 ≥ 100" in events[0]["text"]

    # impact that shrinks again does not take the review back
    await client.patch(
        f"{API}/{ref}", json={"customers_affected": 5, "reason": "fixed"}, headers=responder.headers
    )
    await worker.run_once()
    assert (await escalations(client, responder, ref))["postmortem"]["required"] is True
    page = await client.get(f"/incidents/{ref}", headers=responder.headers)
    assert page.status_code == 200 and "/incidents/" + ref + "/escalations" in page.text
    panel = await client.get(f"/incidents/{ref}/escalations", headers=responder.headers)
    assert "Post-mortem required" in panel.text


GOLD_SLA = {
    "availability_target_percent": 99.9,
    "response_minutes": {"sev1": 15, "sev2": 60},
    "resolution_minutes": {"sev1": 240, "sev2": 480},
    "credit_rule": {
        "bands": [
            {"below_percent": 99.9, "credit_percent": 10},
            {"below_percent": 99.0, "credit_percent": 25},
        ],
        "cap_percent": 50,
    },
}


async def test_sla_figures_per_affected_tier_and_business_unit(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock, admin: Caller
) -> None:
    for path, body in [
        ("/business-units", {"slug": "retail", "name": "Retail"}),
        (
            "/customer-tiers",
            {"slug": "gold", "name": "Gold", "business_unit": "retail", "sla": GOLD_SLA},
        ),
        (
            "/customers",
            {"slug": "acme", "name": "ACME", "tier": "gold", "monthly_fee": "1000.00"},
        ),
        ("/customers", {"slug": "bolt", "name": "Bolt", "tier": "gold"}),
    ]:
        response = await client.post(f"/api/v1{path}", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
    started = utcnow() - timedelta(minutes=50)
    ref = await declare(
        client,
        admin,
        customer_tiers=["gold"],
        impact_started_at=started.isoformat(),
    )
    response = await client.get(f"{API}/{ref}/slas", headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    [gold] = body["tiers"]
    assert gold["tier"] == "gold" and gold["business_unit"] == "retail"
    assert gold["response"]["status"] == "at_risk"  # 50 of 60 minutes used, not acknowledged
    assert gold["response"]["time_left_seconds"] == 600
    assert gold["resolution"]["status"] == "on_track"

    # an hour of downtime breaks 99.9 % of a month (43 min allowed): 10 % credit
    clock.advance(timedelta(minutes=20))
    body = (await client.get(f"{API}/{ref}/slas", headers=admin.headers)).json()
    [gold] = body["tiers"]
    assert gold["response"]["status"] == "breached"
    assert gold["availability"]["exhausted"] is True
    assert gold["credit_totals"] == {"USD": "100.00"}
    assert gold["customers_without_fee"] == ["bolt"]
    assert body["business_units"][0]["business_unit"] == "retail"
    assert body["business_units"][0]["status"] == "breached"
    panel = await client.get(f"/incidents/{ref}/escalations", headers=admin.headers)
    assert "gold" in panel.text and "100.00 USD" in panel.text


async def test_private_incidents_show_nothing_to_others(
    client: AsyncClient, session: AsyncSession, world: None, clock: FrozenClock
) -> None:
    owner = await make_caller(session)
    other = await make_caller(session)
    ref = await declare(client, owner, visibility="private")
    for path in [f"{API}/{ref}/escalations", f"{API}/{ref}/slas", f"/incidents/{ref}/escalations"]:
        assert (await client.get(path, headers=other.headers)).status_code == 404, path
        assert (await client.get(path, headers=owner.headers)).status_code == 200, path


async def test_a_bad_path_is_refused_naming_the_field_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, world: None, admin: Caller
) -> None:
    before = (await client.get("/api/v1/policies/sev2", headers=admin.headers)).json()
    response = await client.patch(
        "/api/v1/policies/sev2",
        json={"escalation": {"technical": {"users": ["nobody"], "mode": "page"}}},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f.startswith("escalation.technical.users") for f in fields), fields
    after = (await client.get("/api/v1/policies/sev2", headers=admin.headers)).json()
    assert after == before


POLICY_YAML = """\
apiVersion: tocsin/v1
kind: SeverityPolicy
metadata:
  slug: sev2
spec:
  escalation:
    duration_minutes: 60
    technical: {users: [tech.lead@example.test], teams: [dba], mode: page}
    executive: {users: [vp.engineering@example.test]}
    rules:
      - id: wide
        when: {customers_affected: 500}
        to: [executive]
    missing_commander: {enabled: false}
"""


async def test_paths_are_configuration_as_code(
    client: AsyncClient, session: AsyncSession, world: None, admin: Caller, people: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/config/apply",
        content=POLICY_YAML,
        headers={**admin.headers, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    stored = (await client.get("/api/v1/policies/sev2", headers=admin.headers)).json()
    assert stored["escalation"]["technical"] == {
        "users": ["tech.lead@example.test"],
        "teams": ["dba"],
        "mode": "page",
    }
    assert stored["escalation"]["executive"]["mode"] == "notify"
    assert stored["escalation"]["rules"][0]["id"] == "wide"
    assert stored["escalation"]["missing_commander"] == {"enabled": False, "after_minutes": 5}
    again = await client.post(
        "/api/v1/config/apply",
        content=POLICY_YAML,
        headers={**admin.headers, "Content-Type": "application/yaml"},
    )
    assert again.json()["summary"]["SeverityPolicy"]["unchanged"] == 1
    exported = await client.get("/api/v1/config/export", headers=admin.headers)
    assert "missing_commander" in exported.text and "tech.lead@example.test" in exported.text


async def test_saving_the_policy_form_keeps_the_paths(
    client: AsyncClient, session: AsyncSession, world: None, admin: Caller, people: dict[str, str]
) -> None:
    """The web form edits thresholds only; paths set through the API or a file survive it."""
    from tests.test_web_forms import policy_form

    await set_escalation(client, admin, "sev2", {**PATHS, "duration_minutes": 120})
    person = await make_user(session, Role.ADMIN)
    csrf = await browser_login(client, person.email)
    form = await policy_form(client, "sev2")
    form["csrf_token"] = csrf
    form["escalation.duration_minutes"] = "90"
    form["comm_group"], form["comm_cadence"] = ["executives"], ["60"]
    form["comm_format"], form["comm_channel"] = ["executive-summary"], ["email"]
    saved = await client.post("/severities/sev2/edit", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    client.cookies.clear()
    stored = (await client.get("/api/v1/policies/sev2", headers=admin.headers)).json()
    assert stored["escalation"]["duration_minutes"] == 90
    assert stored["escalation"]["technical"] == {**PATHS["technical"]}
    assert stored["escalation"]["executive"]["users"] == PATHS["executive"]["users"]
