"""Severities and per-severity policies over REST, and the default policy set."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import Caller
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.permissions import Role
from tocsin.policy import service as policy

API = "/api/v1"
_serial = itertools.count(1)


async def make_caller(session: AsyncSession, role: Role = Role.RESPONDER) -> Caller:
    """A caller with a bearer token and no password: hashing one (argon2) would cost more
    than the rest of a test, and these tests never sign in with a password."""
    user = await auth.create_user(
        session, Actor.system("test"), email=f"{role.value}-{next(_serial)}@example.test", role=role
    )
    issued = await auth.create_token(session, Actor.system("test"), user=user, name="test")
    return Caller(user, issued.secret)


@pytest.fixture
async def admin(session: AsyncSession) -> Caller:
    caller = await make_caller(session, Role.ADMIN)
    await policy.ensure_default_policies(session)
    return caller


async def _audit(
    sessionmaker: async_sessionmaker[AsyncSession], kind: str, slug: str | None = None
) -> list[Any]:
    async with sessionmaker() as s:
        return await audit.search(s, audit.AuditQuery(object_type=kind, object_id=slug))


def _field(response: Response) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return str(response.json()["errors"][0]["field"])


async def _ladder(client: AsyncClient, caller: Caller) -> list[str]:
    return [
        s["slug"] for s in (await client.get(f"{API}/severities", headers=caller.headers)).json()
    ]


async def test_a_new_installation_gets_sev1_to_sev4_with_complete_policies(
    client: AsyncClient, admin: Caller, session: AsyncSession, sessionmaker: Any
) -> None:
    assert await _ladder(client, admin) == ["sev1", "sev2", "sev3", "sev4"]
    policies = (await client.get(f"{API}/policies", headers=admin.headers)).json()
    sev1 = policies[0]
    assert sev1["severity"] == "sev1" and sev1["severity_name"] == "SEV1" and sev1["rank"] == 1
    assert sev1["kpi_targets"]["time_to_acknowledge_minutes"] == 10
    assert sev1["escalation"]["customers_affected"] == 100
    assert sev1["postmortem"]["always"] is True
    assert {c["group"] for c in sev1["communications"]} >= {"executives", "customers"}
    assert sev1["executive_notification"]["regulatory"]["data_exposure"] is True
    assert sev1["business_resolution"][0]["id"] == "customers-notified"
    assert sev1["technical_resolution"]
    # Running it again (every start does) neither duplicates nor overwrites.
    await client.patch(
        f"{API}/policies/sev1", json={"escalation": {"duration_minutes": 20}}, headers=admin.headers
    )
    assert await policy.ensure_default_policies(session) == []
    again = (await client.get(f"{API}/policies/sev1", headers=admin.headers)).json()
    assert again["escalation"] == {
        "duration_minutes": 20,
        "customers_affected": None,
        "revenue_per_hour": None,
        "error_rate_percent": None,
    }
    created = [
        e for e in await _audit(sessionmaker, "severity") if e.action == "policy.severity.create"
    ]
    assert len(created) == 4 and all(e.actor_type == "system" for e in created)


async def test_severities_can_be_added_renamed_redefined_and_reordered(
    client: AsyncClient, admin: Caller, sessionmaker: Any
) -> None:
    added = await client.post(
        f"{API}/severities",
        json={"slug": "sev0", "name": "SEV0", "definition": "Existential", "rank": 1},
        headers=admin.headers,
    )
    assert added.status_code == 201, added.text
    assert await _ladder(client, admin) == ["sev0", "sev1", "sev2", "sev3", "sev4"]
    renamed = await client.patch(
        f"{API}/severities/sev4",
        json={"name": "P4", "definition": "Cosmetic"},
        headers=admin.headers,
    )
    assert renamed.json()["name"] == "P4" and renamed.json()["slug"] == "sev4"
    moved = await client.patch(f"{API}/severities/sev0", json={"rank": 3}, headers=admin.headers)
    assert moved.json()["rank"] == 3
    assert await _ladder(client, admin) == ["sev1", "sev2", "sev0", "sev3", "sev4"]
    order = ["sev4", "sev3", "sev2", "sev1", "sev0"]
    reordered = await client.put(
        f"{API}/severity-order", json={"order": order}, headers=admin.headers
    )
    assert [s["slug"] for s in reordered.json()] == order
    assert [s["rank"] for s in reordered.json()] == [1, 2, 3, 4, 5]
    assert (await client.get(f"{API}/policies/sev0", headers=admin.headers)).json()["kpi_targets"][
        "time_to_detect_minutes"
    ] is None
    entry = (await _audit(sessionmaker, "severity"))[0]
    assert entry.action == "policy.severity.reorder"
    assert entry.before["order"][0] == "sev1" and entry.after["order"] == order
    assert (await client.delete(f"{API}/severities/sev0", headers=admin.headers)).status_code == 204
    assert await _ladder(client, admin) == ["sev4", "sev3", "sev2", "sev1"]
    assert [
        s["rank"] for s in (await client.get(f"{API}/severities", headers=admin.headers)).json()
    ] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/severities", {"slug": "sev1", "name": "Other"}, 409, "slug"),
        ("post", "/severities", {"slug": "sev9", "name": "SEV1"}, 409, "name"),
        ("post", "/severities", {"slug": "SEV 9", "name": "x"}, 422, "slug"),
        ("patch", "/severities/sev2", {"name": "SEV1"}, 409, "name"),
        ("patch", "/severities/sev2", {"rank": 0}, 422, "rank"),
        ("put", "/severity-order", {"order": ["sev1", "sev2"]}, 422, "order"),
        (
            "put",
            "/severity-order",
            {"order": ["sev1", "sev1", "sev2", "sev3", "sev4"]},
            422,
            "order.1",
        ),
        ("put", "/severity-order", {"order": ["sev1", "sev2", "sev3", "sev9"]}, 422, "order.3"),
    ],
)
async def test_bad_severity_changes_are_refused_and_change_nothing(
    client: AsyncClient,
    admin: Caller,
    sessionmaker: Any,
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    before = (await client.get(f"{API}/severities", headers=admin.headers)).json()
    audit_before = len(await _audit(sessionmaker, "severity"))
    response = await client.request(method.upper(), API + path, json=body, headers=admin.headers)
    assert response.status_code == status, response.text
    assert _field(response) == field
    assert (await client.get(f"{API}/severities", headers=admin.headers)).json() == before
    assert len(await _audit(sessionmaker, "severity")) == audit_before


async def test_the_last_severity_cannot_be_deleted(client: AsyncClient, admin: Caller) -> None:
    for slug in ["sev2", "sev3", "sev4"]:
        assert (
            await client.delete(f"{API}/severities/{slug}", headers=admin.headers)
        ).status_code == 204
    last = await client.delete(f"{API}/severities/sev1", headers=admin.headers)
    assert last.status_code == 409
    assert await _ladder(client, admin) == ["sev1"]
    assert (await client.get(f"{API}/policies/sev9", headers=admin.headers)).status_code == 404


FULL_POLICY = {
    "kpi_targets": {
        "time_to_detect_minutes": 5,
        "time_to_acknowledge_minutes": 5,
        "time_to_mitigate_minutes": 30,
        "time_to_resolve_minutes": 120,
        "time_to_business_resolve_minutes": 600,
    },
    "escalation": {
        "duration_minutes": 15,
        "customers_affected": 10,
        "revenue_per_hour": 5000.5,
        "error_rate_percent": 5,
    },
    "postmortem": {"always": False, "when": {"customers_affected": 50}, "due_within_hours": 48},
    "communications": [
        {
            "group": "executives",
            "cadence_minutes": 30,
            "format": "executive-summary",
            "channel": "email",
        },
        {
            "group": "customers",
            "cadence_minutes": 60,
            "format": "customer-notice",
            "channel": "status-page",
        },
    ],
    "executive_notification": {
        "financial": {"revenue_per_hour": 20000},
        "reputational": {
            "customers_affected": 1000,
            "public_incident": True,
            "media_inquiry": True,
        },
        "regulatory": {"data_exposure": True, "service_tags": ["PCI"]},
        "notify_within_minutes": 15,
    },
    "technical_resolution": [{"id": "errors-normal", "text": "Error rate back to normal"}],
    "business_resolution": [{"id": "orders-reprocessed", "text": "Failed orders re-processed"}],
}


async def test_a_policy_is_replaced_whole_or_patched_by_section_and_audited(
    client: AsyncClient, admin: Caller, sessionmaker: Any
) -> None:
    put = await client.put(f"{API}/policies/sev2", json=FULL_POLICY, headers=admin.headers)
    assert put.status_code == 200, put.text
    stored = (await client.get(f"{API}/policies/sev2", headers=admin.headers)).json()
    assert stored["executive_notification"]["regulatory"]["service_tags"] == ["pci"]
    assert stored["postmortem"]["when"]["customers_affected"] == 50
    assert stored["escalation"]["revenue_per_hour"] == 5000.5
    patched = await client.patch(
        f"{API}/policies/sev2",
        json={"business_resolution": [{"id": "customers-notified", "text": "Customers told"}]},
        headers=admin.headers,
    )
    assert patched.json()["business_resolution"][0]["id"] == "customers-notified"
    assert patched.json()["communications"] == stored["communications"]
    entry = (await _audit(sessionmaker, "severity_policy", "sev2"))[0]
    assert entry.action == "policy.update"
    assert entry.before["business_resolution"][0]["id"] == "orders-reprocessed"
    assert entry.after["business_resolution"][0]["id"] == "customers-notified"
    # a full replacement clears what it leaves out
    cleared = await client.put(f"{API}/policies/sev2", json={}, headers=admin.headers)
    assert (
        cleared.json()["communications"] == [] and cleared.json()["postmortem"]["always"] is False
    )


def _with(section: str, value: Any) -> dict[str, Any]:
    return {**FULL_POLICY, section: value}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            _with("kpi_targets", {"time_to_detect_minutes": 30, "time_to_acknowledge_minutes": 10}),
            "kpi_targets",
        ),
        (
            _with("kpi_targets", {"time_to_resolve_minutes": -5}),
            "kpi_targets.time_to_resolve_minutes",
        ),
        (_with("escalation", {"error_rate_percent": 150}), "escalation.error_rate_percent"),
        (_with("escalation", {"customers": 10}), "escalation.customers"),
        (
            _with(
                "communications",
                [{"group": "execs", "cadence_minutes": 30, "format": "tweet", "channel": "email"}],
            ),
            "communications.0.format",
        ),
        (
            _with(
                "communications",
                [
                    {
                        "group": "execs",
                        "cadence_minutes": 0,
                        "format": "executive-summary",
                        "channel": "email",
                    }
                ],
            ),
            "communications.0.cadence_minutes",
        ),
        (
            _with(
                "communications",
                [FULL_POLICY["communications"][0], FULL_POLICY["communications"][0]],
            ),
            "communications",
        ),
        (
            _with("technical_resolution", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]),
            "technical_resolution",
        ),
        (
            _with("business_resolution", [{"id": "Not An Id", "text": "x"}]),
            "business_resolution.0.id",
        ),
        (_with("postmortem", {"due_within_hours": 0}), "postmortem.due_within_hours"),
        (
            _with("executive_notification", {"financial": {"revenue_per_hour": -1}}),
            "executive_notification.financial.revenue_per_hour",
        ),
    ],
)
async def test_invalid_policies_are_refused_naming_the_field_and_change_nothing(
    client: AsyncClient, admin: Caller, sessionmaker: Any, body: dict[str, Any], field: str
) -> None:
    before = (await client.get(f"{API}/policies/sev1", headers=admin.headers)).json()
    response = await client.put(f"{API}/policies/sev1", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert _field(response) == field
    assert (await client.get(f"{API}/policies/sev1", headers=admin.headers)).json() == before
    assert await _audit(sessionmaker, "severity_policy", "sev1") == []


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.COMMUNICATOR, Role.STAKEHOLDER, Role.VIEWER])
async def test_everyone_reads_policies_and_only_admins_change_them(
    client: AsyncClient, session: AsyncSession, admin: Caller, role: Role
) -> None:
    caller = await make_caller(session, role)
    assert (await client.get(f"{API}/policies", headers=caller.headers)).status_code == 200
    assert (await client.get(f"{API}/severities/sev1", headers=caller.headers)).status_code == 200
    writes = [
        ("PUT", "/policies/sev1", FULL_POLICY),
        ("PATCH", "/severities/sev1", {"name": "P1"}),
        ("POST", "/severities", {"slug": "sev5", "name": "SEV5"}),
        ("DELETE", "/severities/sev4", None),
    ]
    for method, path, body in writes:
        kwargs: dict[str, Any] = {"headers": caller.headers}
        if body is not None:
            kwargs["json"] = body
        assert (await client.request(method, API + path, **kwargs)).status_code == 403, path
    assert await _ladder(client, admin) == ["sev1", "sev2", "sev3", "sev4"]
