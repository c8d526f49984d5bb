"""Customer reports: intake by API, CSV and webhook, matching, clusters and impact start."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import count_rows
from tests.factories import Caller, browser_login, make_caller, make_user
from tests.test_incident_api import declare, world  # noqa: F401  (fixture)
from tocsin.alerts.models import Alert, Integration
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import CustomerCreate, DependencyIn, ServiceCreate
from tocsin.clock import FrozenClock, utcnow
from tocsin.incidents.models import TimelineEvent
from tocsin.incidents.reports.models import CustomerReport

pytestmark = pytest.mark.usefixtures("world", "payments")
API = "/api/v1/customer-reports"


@pytest.fixture
async def payments(session: AsyncSession) -> None:
    """checkout depends on payments; acme is a catalog customer."""
    system = Actor.system("test")
    await catalog.create_service(session, system, ServiceCreate(slug="payments", name="Payments"))
    await catalog.add_dependency(session, system, "checkout", DependencyIn(service="payments"))
    await catalog.create_customer(session, system, CustomerCreate(slug="acme", name="Acme"))


async def stored_count(session: AsyncSession) -> int:
    """Counted in a transaction of its own, so the app's next write is not kept waiting."""
    found = await count_rows(session, CustomerReport)
    await session.rollback()
    return found


def report(external_id: str, minutes_ago: int = 0, **fields: Any) -> dict[str, Any]:
    at = utcnow() - timedelta(minutes=minutes_ago)
    return {
        "external_id": external_id,
        "service": "checkout",
        "reported_at": at.isoformat(),
        "description": "cannot pay",
        **fields,
    }


async def submit(client: AsyncClient, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(API, json=body, headers=caller.headers)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def test_api_intake_stores_once_per_external_id(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.COMMUNICATOR)
    body = report("T-1", customer="acme", customer_name="Acme Ltd")
    first = await client.post(API, json=body, headers=caller.headers)
    again = await client.post(API, json=body, headers=caller.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicates"] == 1
    assert again.json()["reports"][0]["id"] == first.json()["reports"][0]["id"]
    assert await stored_count(session) == 1
    unknown = await client.post(API, json=report("T-2", service="nope"), headers=caller.headers)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "service"
    viewer = await make_caller(session, Role.VIEWER)
    assert (await client.post(API, json=report("T-3"), headers=viewer.headers)).status_code == 403
    listed = await client.get(API, headers=viewer.headers)
    assert [r["external_id"] for r in listed.json()] == ["T-1"]


async def test_simultaneous_deliveries_of_one_report_store_it_once(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    body = report("R-1")
    sent = await asyncio.gather(
        *(client.post(API, json=body, headers=caller.headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in sent) == [200, 200, 200, 201]
    assert await stored_count(session) == 1


async def test_csv_import_is_all_or_nothing_and_names_the_bad_cell(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    now = utcnow().isoformat()
    good = f"external_id,service,reported_at,customer,description\nC-1,checkout,{now},acme,slow\n"
    bad = good + f"C-2,checkout,not-a-time,,x\nC-3,search,{now},,y\n"
    headers = {**caller.headers, "content-type": "text/csv"}
    rejected = await client.post(f"{API}/import", content=bad, headers=headers)
    assert rejected.status_code == 422
    assert rejected.json()["errors"][0]["field"] == "line 3.reported_at"
    unknown = good + f"C-4,nowhere,{now},,x\n"
    rejected = await client.post(f"{API}/import", content=unknown, headers=headers)
    assert rejected.json()["errors"][0]["field"] == "line 3.service"
    assert await stored_count(session) == 0

    stored = await client.post(
        f"{API}/import", files={"file": ("r.csv", good, "text/csv")}, headers=caller.headers
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["reports"][0]["customer"] == "acme"
    again = await client.post(f"{API}/import", content=good, headers=headers)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert await stored_count(session) == 1


def ticket(ticket_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "ticket": {
            "id": ticket_id,
            "created_at": utcnow().isoformat(),
            "subject": "Checkout fails",
            "description": "Card payments time out",
            "requester": {"name": "Jo", "email": "jo@example.test"},
            "organization": {"name": "Acme Ltd", "external_id": "acme"},
            "tags": ["vip", "service_checkout"],
            **fields,
        }
    }


async def test_zendesk_webhook_takes_the_service_from_a_tag_or_custom_field(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    url = f"{API}/webhook/zendesk"
    assert (await client.post(url, json=ticket(1))).status_code == 401
    first = await client.post(url, json=ticket(1), headers=caller.headers)
    assert first.status_code == 201, first.text
    stored = first.json()["reports"][0]
    assert (stored["service"], stored["customer"], stored["source"]) == (
        "checkout",
        "acme",
        "webhook",
    )
    assert stored["description"].startswith("Checkout fails")
    assert (await client.post(url, json=ticket(1), headers=caller.headers)).status_code == 200
    by_field = ticket(2, tags=[], custom_fields=[{"id": 99, "value": "search"}])
    assert (await client.post(url, json=by_field, headers=caller.headers)).json()["reports"][0][
        "service"
    ] == "search"
    unnamed = await client.post(url, json=ticket(3, tags=["vip"]), headers=caller.headers)
    assert unnamed.status_code == 422
    assert unnamed.json()["errors"][0]["field"] == "ticket.tags"
    assert await stored_count(session) == 2


async def timeline(client: AsyncClient, caller: Caller, ref: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/incidents/{ref}/timeline", headers=caller.headers)
    return list(response.json())


async def test_reports_match_incidents_on_the_service_or_what_it_depends_on(
    client: AsyncClient, session: AsyncSession, clock: FrozenClock
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    incident = await declare(client, caller, services=["payments"])
    ref = incident["ref"]
    # checkout depends on payments: a checkout report belongs to the payments incident
    matched = await submit(client, caller, report("M-1", minutes_ago=10))
    assert matched["reports"][0]["incident"] == ref
    assert matched["reports"][0]["linked_by"] == "matching"
    # search is unrelated; a report long before the incident is outside the window
    other = await submit(client, caller, report("M-2", service="search"))
    early = await submit(client, caller, report("M-3", minutes_ago=120))
    assert other["reports"][0]["incident"] is None and early["reports"][0]["incident"] is None
    events = [
        e for e in await timeline(client, caller, ref) if e["kind"] == "customer_report_linked"
    ]
    assert [e["data"]["external_id"] for e in events] == ["M-1"]

    # by hand: link the early one, then unlink it
    report_id = early["reports"][0]["id"]
    linked = await client.put(
        f"{API}/{report_id}/incident", json={"incident": ref}, headers=caller.headers
    )
    assert linked.json()["incident"] == ref
    unlinked = await client.delete(f"{API}/{report_id}/incident", headers=caller.headers)
    assert unlinked.json()["incident"] is None
    kinds = [e["kind"] for e in await timeline(client, caller, ref)]
    assert kinds.count("customer_report_linked") == 2 and "customer_report_unlinked" in kinds
    actions = set(await session.scalars(sa.select(AuditEntry.action)))
    await session.rollback()
    assert {"incident.customer_report_linked", "incident.customer_report_unlinked"} <= actions
    viewer = await make_caller(session, Role.VIEWER)
    assert (
        await client.delete(f"{API}/{report_id}/incident", headers=viewer.headers)
    ).status_code == 403


async def test_a_cluster_of_unmatched_reports_can_open_an_incident(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    for i in range(3):
        await submit(client, caller, report(f"S-{i}", minutes_ago=i * 5, service="search"))
    await submit(client, caller, report("X-1"))
    found = (await client.get(f"{API}/clusters", headers=caller.headers)).json()
    assert [(c["service"], c["count"]) for c in found] == [("search", 3)]
    bigger = await client.get(f"{API}/clusters", params={"size": 4}, headers=caller.headers)
    assert bigger.json() == []

    declared = await client.post(
        f"{API}/clusters/search/declare", json={"severity": "sev2"}, headers=caller.headers
    )
    assert declared.status_code == 201, declared.text
    ref = declared.json()["ref"]
    assert declared.json()["services"] == ["search"]
    linked = (await client.get(API, params={"incident": ref}, headers=caller.headers)).json()
    assert sorted(r["external_id"] for r in linked) == ["S-0", "S-1", "S-2"]
    assert (await client.get(f"{API}/clusters", headers=caller.headers)).json() == []
    missing = await client.post(
        f"{API}/clusters/search/declare", json={"severity": "sev2"}, headers=caller.headers
    )
    assert missing.status_code == 404


async def add_alert(session: AsyncSession, service: str, minutes_ago: int, severity: str) -> None:
    service_id = await catalog.service_id(session, service)
    integration = Integration(
        service_id=service_id,
        kind="generic",
        name="mon",
        key_prefix="k",
        token_hash=f"h{minutes_ago}",
    )
    session.add(integration)
    await session.flush()
    session.add(
        Alert(
            integration_id=integration.id,
            service_id=service_id,
            dedup_key=f"d{minutes_ago}",
            dedup_basis="key",
            fingerprint="f",
            source="prometheus",
            wire_format="generic",
            status="firing",
            severity=severity,
            summary=f"errors up ({minutes_ago}m ago)",
            starts_at=utcnow() - timedelta(minutes=minutes_ago),
        )
    )
    await session.commit()


async def test_impact_start_proposal_picks_the_earliest_credible_evidence_and_accept_corrects(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    start = (utcnow() - timedelta(minutes=5)).isoformat()
    ref = (await declare(client, caller, impact_started_at=start))["ref"]
    await submit(client, caller, report("P-1", minutes_ago=20))
    await add_alert(session, "checkout", 40, "info")
    await add_alert(session, "checkout", 30, "critical")
    await add_alert(session, "search", 50, "critical")
    proposal = (
        await client.get(f"/api/v1/incidents/{ref}/impact-start", headers=caller.headers)
    ).json()
    earliest_alert = utcnow() - timedelta(minutes=30)
    assert datetime.fromisoformat(proposal["proposed"]) == earliest_alert
    assert datetime.fromisoformat(proposal["current"]) == datetime.fromisoformat(start)
    assert proposal["chosen"]["source"] == "alert"
    assert [(e["source"], e["credible"]) for e in proposal["evidence"]] == [
        ("alert", False),
        ("alert", True),
        ("customer-report", True),
    ]
    url = f"/api/v1/incidents/{ref}/impact-start/accept"
    no_reason = await client.post(url, json={}, headers=caller.headers)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    viewer = await make_caller(session, Role.VIEWER)
    assert (await client.post(url, json={"reason": "x"}, headers=viewer.headers)).status_code == 403
    accepted = await client.post(url, json={"reason": "alert fired first"}, headers=caller.headers)
    assert accepted.status_code == 200, accepted.text
    corrected = [
        e for e in await timeline(client, caller, ref) if e["kind"] == "milestone_corrected"
    ]
    assert len(corrected) == 1
    data = corrected[0]["data"]
    assert data["old"] == start and data["reason"] == "alert fired first"
    assert data["new"] == (utcnow() - timedelta(minutes=30)).isoformat()
    assert caller.user.email in data["set_by"]
    again = await client.post(url, json={"reason": "again"}, headers=caller.headers)
    assert again.status_code == 409


async def test_private_incidents_never_show_through_reports(
    client: AsyncClient, session: AsyncSession
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    secret = await declare(client, owner, title="Breach", visibility="private", services=["search"])
    ref = secret["ref"]
    for i in range(3):
        sent = await submit(client, outsider, report(f"Q-{i}", service="search"))
        assert sent["reports"][0]["incident"] is None
    seen_by_owner = (await client.get(API, headers=owner.headers)).json()
    assert {r["incident"] for r in seen_by_owner} == {ref}
    seen = (await client.get(API, headers=outsider.headers)).json()
    assert {r["incident"] for r in seen} == {None} and {r["linked_by"] for r in seen} == {""}
    assert (await client.get(f"{API}/clusters", headers=outsider.headers)).json() == []
    report_id = seen[0]["id"]
    for response in (
        client.get(API, params={"incident": ref}, headers=outsider.headers),
        client.get(f"/api/v1/incidents/{ref}/impact-start", headers=outsider.headers),
        client.post(
            f"/api/v1/incidents/{ref}/impact-start/accept", json={}, headers=outsider.headers
        ),
        client.put(f"{API}/{report_id}/incident", json={"incident": ref}, headers=outsider.headers),
        client.delete(f"{API}/{report_id}/incident", headers=outsider.headers),
    ):
        assert (await response).status_code == 404
    assert await count_rows(session, TimelineEvent) > 0


async def test_pages_show_clusters_declare_from_them_and_accept_the_proposal(
    client: AsyncClient, session: AsyncSession
) -> None:
    reporter = await make_caller(session, Role.RESPONDER)
    for i in range(3):
        await submit(client, reporter, report(f"W-{i}", minutes_ago=i, service="search"))
    user = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, user.email)
    page = await client.get("/customer-reports")
    assert page.status_code == 200 and 'id="cluster-search"' in page.text
    declared = await client.post(
        "/customer-reports/clusters/search/declare",
        data={"csrf_token": csrf, "severity": "sev2", "title": "Search broken"},
    )
    assert declared.status_code == 303
    ref = declared.headers["location"].rsplit("/", 1)[1]
    detail = await client.get(f"/incidents/{ref}")
    assert f'hx-get="/incidents/{ref}/customer-reports"' in detail.text
    panel = await client.get(f"/incidents/{ref}/customer-reports", headers={"hx-request": "true"})
    assert "W-0" in panel.text and "Accept proposed impact start" in panel.text
    accepted = await client.post(
        f"/incidents/{ref}/impact-start/accept", data={"csrf_token": csrf, "reason": ""}
    )
    assert accepted.status_code == 303
    kinds = [e["kind"] for e in await timeline(client, reporter, ref)]
    assert "milestone_set" in kinds
    assert "No clusters." in (await client.get("/customer-reports")).text


async def test_private_incident_pages_stay_hidden(
    client: AsyncClient, session: AsyncSession
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, owner, title="Breach", visibility="private", services=["search"]))[
        "ref"
    ]
    await submit(client, owner, report("V-1", service="search"))
    outsider = await make_user(session, Role.RESPONDER)
    await browser_login(client, outsider.email)
    assert (await client.get(f"/incidents/{ref}/customer-reports")).status_code == 404
    listed = await client.get("/customer-reports")
    assert "cannot pay" in listed.text and ref not in listed.text
