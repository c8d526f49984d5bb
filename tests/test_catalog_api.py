"""The catalog over REST: teams, services and their graph, customers, tiers, vendors.

Data is seeded through the service layer as a trusted caller; everything a user would do goes
through the API with a bearer token of the role under test.
"""

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
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import DependencyIn, MemberIn, ServiceCreate, TeamCreate
from tocsin.policy import service as policy

SYSTEM = Actor.system("test")
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


async def _team(session: AsyncSession, slug: str, *members: Caller) -> None:
    await catalog.create_team(
        session,
        SYSTEM,
        TeamCreate(
            slug=slug,
            name=slug.title(),
            members=[MemberIn(email=m.user.email) for m in members],
        ),
    )


async def _service(session: AsyncSession, slug: str, team: str | None = None, **extra: Any) -> None:
    await catalog.create_service(
        session,
        SYSTEM,
        ServiceCreate.model_validate({"slug": slug, "name": slug, "owner_team": team, **extra}),
    )


async def _audit(sessionmaker: async_sessionmaker[AsyncSession], kind: str, slug: str) -> list[Any]:
    async with sessionmaker() as s:
        return await audit.search(s, audit.AuditQuery(object_type=kind, object_id=slug))


def _field(response: Response) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return str(response.json()["errors"][0]["field"])


@pytest.fixture
async def admin(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.ADMIN)


# --- teams -----------------------------------------------------------------------------------


async def test_admin_creates_a_team_with_members_and_contact(
    client: AsyncClient, session: AsyncSession, admin: Caller, sessionmaker: Any
) -> None:
    alice = await make_caller(session, Role.RESPONDER)
    body = {
        "slug": "payments",
        "name": "Payments",
        "email": "payments@example.test",
        "chat_channel": "#payments",
        "members": [{"email": alice.user.email, "role": "lead"}],
    }
    created = await client.post(f"{API}/teams", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    team = (await client.get(f"{API}/teams/payments", headers=alice.headers)).json()
    assert team["chat_channel"] == "#payments"
    assert [(m["email"], m["role"]) for m in team["members"]] == [(alice.user.email, "lead")]
    entries = await _audit(sessionmaker, "team", "payments")
    assert entries[0].action == "catalog.team.create"
    assert entries[0].after["members"] == [{"email": alice.user.email, "role": "lead"}]
    # membership is what scopes the responder: their principal now carries the team
    me = (await client.get(f"{API}/me", headers=alice.headers)).json()
    assert me["team_ids"] == [team["id"]]


async def test_team_members_can_be_replaced_added_and_removed(
    client: AsyncClient, session: AsyncSession, admin: Caller, sessionmaker: Any
) -> None:
    a = await make_caller(session, Role.RESPONDER)
    b = await make_caller(session, Role.RESPONDER)
    await _team(session, "search", a)
    replaced = await client.put(
        f"{API}/teams/search/members",
        json={"members": [{"email": b.user.email}]},
        headers=admin.headers,
    )
    assert [m["email"] for m in replaced.json()["members"]] == [b.user.email]
    added = await client.post(
        f"{API}/teams/search/members",
        json={"email": a.user.email, "role": "lead"},
        headers=admin.headers,
    )
    assert {m["email"]: m["role"] for m in added.json()["members"]} == {
        a.user.email: "lead",
        b.user.email: "member",
    }
    removed = await client.delete(f"{API}/teams/search/members/{b.user.id}", headers=admin.headers)
    assert [m["email"] for m in removed.json()["members"]] == [a.user.email]
    unknown = await client.put(
        f"{API}/teams/search/members",
        json={"members": [{"email": "ghost@example.test"}]},
        headers=admin.headers,
    )
    assert unknown.status_code == 422 and _field(unknown) == "members.0.email"
    team = (await client.get(f"{API}/teams/search", headers=admin.headers)).json()
    assert [m["email"] for m in team["members"]] == [a.user.email]
    actions = [e.action for e in await _audit(sessionmaker, "team", str(team["id"]))]
    assert "team.member.remove" in actions and "team.member.set" in actions


async def test_a_team_that_owns_services_cannot_be_deleted(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _team(session, "core")
    await _service(session, "auth-api", "core")
    refused = await client.delete(f"{API}/teams/core", headers=admin.headers)
    assert refused.status_code == 409
    assert "auth-api" in refused.json()["detail"]
    assert (await client.get(f"{API}/teams/core", headers=admin.headers)).status_code == 200
    await client.patch(f"{API}/services/auth-api", json={"owner_team": None}, headers=admin.headers)
    assert (await client.delete(f"{API}/teams/core", headers=admin.headers)).status_code == 204
    assert (await client.get(f"{API}/teams/core", headers=admin.headers)).status_code == 404


# --- services --------------------------------------------------------------------------------


async def test_service_round_trip_with_tags_runbooks_and_filters(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _team(session, "payments")
    body = {
        "slug": "checkout",
        "name": "Checkout",
        "description": "Takes the money",
        "owner_team": "payments",
        "tier": "tier-1",
        "tags": ["PCI", "customer-facing", "pci"],
        "runbooks": [{"title": "Failover", "url": "https://wiki.example.test/checkout/failover"}],
    }
    created = await client.post(f"{API}/services", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    service = created.json()
    assert service["tags"] == ["pci", "customer-facing"]
    assert service["runbooks"][0]["title"] == "Failover"
    await _service(session, "reports", None, tier="tier-4")
    listed = await client.get(f"{API}/services", headers=admin.headers)
    assert [s["slug"] for s in listed.json()] == ["checkout", "reports"]
    by_team = await client.get(
        f"{API}/services", params={"team": "payments"}, headers=admin.headers
    )
    assert [s["slug"] for s in by_team.json()] == ["checkout"]
    by_tag = await client.get(f"{API}/services", params={"tag": "PCI"}, headers=admin.headers)
    assert [s["slug"] for s in by_tag.json()] == ["checkout"]
    by_tier = await client.get(f"{API}/services", params={"tier": "tier-4"}, headers=admin.headers)
    assert [s["slug"] for s in by_tier.json()] == ["reports"]
    patched = await client.patch(
        f"{API}/services/checkout", json={"tier": "tier-2", "tags": []}, headers=admin.headers
    )
    assert patched.json()["tier"] == "tier-2" and patched.json()["tags"] == []
    assert patched.json()["description"] == "Takes the money"
    assert (
        await client.delete(f"{API}/services/reports", headers=admin.headers)
    ).status_code == 204
    assert (await client.get(f"{API}/services/reports", headers=admin.headers)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "Bad Slug", "name": "x"}, "slug"),
        ({"slug": "ok", "name": "x", "tier": "tier-9"}, "tier"),
        ({"slug": "ok", "name": "x", "surprise": 1}, "surprise"),
        (
            {"slug": "ok", "name": "x", "runbooks": [{"title": "t", "url": "not a url"}]},
            "runbooks.0.url",
        ),
        ({"slug": "ok", "name": "x", "owner_team": "nobody"}, "owner_team"),
        (
            {"slug": "ok", "name": "x", "dependencies": [{"service": "ok"}]},
            "dependencies.0.service",
        ),
        (
            {"slug": "ok", "name": "x", "dependencies": [{"service": "missing"}]},
            "dependencies.0.service",
        ),
        (
            {"slug": "ok", "name": "x", "dependencies": [{"service": "a", "kind": "maybe"}]},
            "dependencies.0.kind",
        ),
    ],
)
async def test_invalid_services_are_refused_naming_the_field_and_change_nothing(
    client: AsyncClient, admin: Caller, sessionmaker: Any, body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{API}/services", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert _field(response) == field
    assert (await client.get(f"{API}/services", headers=admin.headers)).json() == []
    assert await _audit(sessionmaker, "service", "ok") == []


async def test_duplicate_slugs_conflict_and_unknown_slugs_are_not_found(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _service(session, "search")
    again = await client.post(
        f"{API}/services", json={"slug": "search", "name": "x"}, headers=admin.headers
    )
    assert again.status_code == 409 and _field(again) == "slug"
    for path in [
        "/services/nope",
        "/teams/nope",
        "/vendors/nope",
        "/customers/nope",
        "/services/nope/graph",
    ]:
        missing = await client.get(API + path, headers=admin.headers)
        assert missing.status_code == 404, path
        assert missing.headers["content-type"] == "application/problem+json"
    patch = await client.patch(f"{API}/services/nope", json={"name": "x"}, headers=admin.headers)
    assert patch.status_code == 404


async def test_null_for_a_required_field_is_refused(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _service(session, "search")
    response = await client.patch(
        f"{API}/services/search", json={"name": None}, headers=admin.headers
    )
    assert response.status_code == 422 and _field(response) == "name"


# --- team scoping ----------------------------------------------------------------------------


async def test_a_responder_edits_their_teams_services_and_nothing_else(
    client: AsyncClient, session: AsyncSession, sessionmaker: Any
) -> None:
    alice = await make_caller(session, Role.RESPONDER)
    await _team(session, "payments", alice)
    await _team(session, "search")
    await _service(session, "checkout", "payments")
    await _service(session, "indexer", "search")

    mine = await client.patch(
        f"{API}/services/checkout", json={"tier": "tier-1"}, headers=alice.headers
    )
    assert mine.status_code == 200
    deps = await client.put(
        f"{API}/services/checkout/dependencies",
        json={"dependencies": [{"service": "indexer", "kind": "soft"}]},
        headers=alice.headers,
    )
    assert deps.status_code == 200, deps.text

    theirs = await client.patch(
        f"{API}/services/indexer", json={"tier": "tier-1"}, headers=alice.headers
    )
    assert theirs.status_code == 403
    assert (await client.get(f"{API}/services/indexer", headers=alice.headers)).json()[
        "tier"
    ] == "tier-3"
    assert [e.action for e in await _audit(sessionmaker, "service", "indexer")] == [
        "catalog.service.create"
    ]

    forbidden = [
        ("post", "/services/indexer/dependencies", {"service": "checkout"}),
        ("delete", "/services/indexer", None),
        ("patch", "/services/checkout", {"owner_team": "search"}),
        ("post", "/services", {"slug": "new", "name": "New", "owner_team": "search"}),
        ("post", "/services", {"slug": "new", "name": "New"}),
        ("post", "/teams", {"slug": "mine", "name": "Mine"}),
        ("patch", "/teams/payments", {"name": "Ours"}),
        ("post", "/business-units", {"slug": "retail", "name": "Retail"}),
        ("post", "/vendors", {"slug": "cloud", "name": "Cloud"}),
    ]
    for method, path, body in forbidden:
        kwargs: dict[str, Any] = {"headers": alice.headers}
        if body is not None:
            kwargs["json"] = body
        response = await client.request(method.upper(), API + path, **kwargs)
        assert response.status_code == 403, (method, path, response.text)
    created = await client.post(
        f"{API}/services",
        json={"slug": "wallet", "name": "Wallet", "owner_team": "payments"},
        headers=alice.headers,
    )
    assert created.status_code == 201
    assert (await client.delete(f"{API}/services/wallet", headers=alice.headers)).status_code == 204


@pytest.mark.parametrize("role", [Role.VIEWER, Role.STAKEHOLDER, Role.COMMUNICATOR])
async def test_other_roles_read_the_catalog_but_cannot_change_it(
    client: AsyncClient, session: AsyncSession, role: Role
) -> None:
    caller = await make_caller(session, role)
    await _service(session, "search")
    for path in [
        "/teams",
        "/services",
        "/services/search/graph",
        "/business-units",
        "/customer-tiers",
        "/customers",
        "/vendors",
        "/dependency-graph",
    ]:
        assert (await client.get(API + path, headers=caller.headers)).status_code == 200, path
    response = await client.patch(
        f"{API}/services/search", json={"name": "x"}, headers=caller.headers
    )
    assert response.status_code == 403


async def test_reading_needs_a_login(client: AsyncClient) -> None:
    assert (await client.get(f"{API}/services")).status_code == 401


# --- dependency graph ------------------------------------------------------------------------


async def test_dependencies_and_the_graph_upstream_and_downstream(
    client: AsyncClient, session: AsyncSession, admin: Caller, sessionmaker: Any
) -> None:
    for slug in ["db", "payments", "recommendations", "checkout", "web"]:
        await _service(session, slug)
    put = lambda slug, deps: client.put(  # noqa: E731
        f"{API}/services/{slug}/dependencies", json={"dependencies": deps}, headers=admin.headers
    )
    assert (await put("payments", [{"service": "db"}])).status_code == 200
    await put(
        "checkout",
        [
            {"service": "payments", "kind": "hard"},
            {"service": "recommendations", "kind": "soft", "note": "falls back to bestsellers"},
        ],
    )
    await put("web", [{"service": "checkout"}])

    deps = (await client.get(f"{API}/services/checkout/dependencies", headers=admin.headers)).json()
    assert [(d["service"], d["kind"]) for d in deps["dependencies"]] == [
        ("payments", "hard"),
        ("recommendations", "soft"),
    ]
    assert [d["service"] for d in deps["dependents"]] == ["web"]

    graph = (await client.get(f"{API}/services/payments/graph", headers=admin.headers)).json()
    assert [(n["slug"], n["distance"]) for n in graph["upstream"]] == [("db", 1)]
    assert [(n["slug"], n["distance"], n["impact"]) for n in graph["downstream"]] == [
        ("checkout", 1, "hard"),
        ("web", 2, "hard"),
    ]
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("payments", "db"),
        ("checkout", "payments"),
        ("web", "checkout"),
    }
    shallow = (
        await client.get(
            f"{API}/services/payments/graph", params={"depth": 1}, headers=admin.headers
        )
    ).json()
    assert [n["slug"] for n in shallow["downstream"]] == ["checkout"]
    reco = (await client.get(f"{API}/services/recommendations/graph", headers=admin.headers)).json()
    assert [(n["slug"], n["impact"]) for n in reco["downstream"]] == [
        ("checkout", "soft"),
        ("web", "soft"),
    ]

    removed = await client.delete(
        f"{API}/services/checkout/dependencies/recommendations", headers=admin.headers
    )
    assert [d["service"] for d in removed.json()["dependencies"]] == ["payments"]
    entry = (await _audit(sessionmaker, "service", "checkout"))[0]
    assert entry.action == "catalog.service.dependencies"
    assert len(entry.before["dependencies"]) == 2 and len(entry.after["dependencies"]) == 1


async def test_a_self_dependency_is_refused_and_a_cycle_is_accepted_with_a_warning(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    for slug in ["a", "b", "c"]:
        await _service(session, slug)
    own = await client.post(
        f"{API}/services/a/dependencies", json={"service": "a"}, headers=admin.headers
    )
    assert own.status_code == 422 and _field(own) == "service"
    await client.post(
        f"{API}/services/a/dependencies", json={"service": "b"}, headers=admin.headers
    )
    await client.post(
        f"{API}/services/b/dependencies", json={"service": "c"}, headers=admin.headers
    )
    closing = await client.post(
        f"{API}/services/c/dependencies", json={"service": "a"}, headers=admin.headers
    )
    assert closing.status_code == 200
    assert closing.json()["warnings"] and "c -> a -> b -> c" in closing.json()["warnings"][0]
    whole = (await client.get(f"{API}/dependency-graph", headers=admin.headers)).json()
    assert whole["cycles"] == [["a", "b", "c"]]
    graph = (await client.get(f"{API}/services/b/graph", headers=admin.headers)).json()
    assert graph["cycles"] == [["a", "b", "c"]]
    assert {n["slug"] for n in graph["upstream"]} == {"a", "c"}


async def test_a_rejected_dependency_change_leaves_the_old_ones(
    client: AsyncClient, session: AsyncSession, admin: Caller, sessionmaker: Any
) -> None:
    for slug in ["db", "api"]:
        await _service(session, slug)
    await client.put(
        f"{API}/services/api/dependencies",
        json={"dependencies": [{"service": "db"}]},
        headers=admin.headers,
    )
    before = len(await _audit(sessionmaker, "service", "api"))
    bad = await client.put(
        f"{API}/services/api/dependencies",
        json={"dependencies": [{"service": "db", "kind": "soft"}, {"service": "ghost"}]},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and _field(bad) == "dependencies.1.service"
    twice = await client.put(
        f"{API}/services/api/dependencies",
        json={"dependencies": [{"service": "db"}, {"service": "db"}]},
        headers=admin.headers,
    )
    assert twice.status_code == 422
    deps = (await client.get(f"{API}/services/api/dependencies", headers=admin.headers)).json()
    assert [(d["service"], d["kind"]) for d in deps["dependencies"]] == [("db", "hard")]
    assert len(await _audit(sessionmaker, "service", "api")) == before


async def test_a_service_others_depend_on_cannot_be_deleted(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    for slug in ["db", "api"]:
        await _service(session, slug)
    await client.put(
        f"{API}/services/api/dependencies",
        json={"dependencies": [{"service": "db"}]},
        headers=admin.headers,
    )
    refused = await client.delete(f"{API}/services/db", headers=admin.headers)
    assert refused.status_code == 409 and "api" in refused.json()["detail"]
    assert (await client.delete(f"{API}/services/api", headers=admin.headers)).status_code == 204
    assert (await client.delete(f"{API}/services/db", headers=admin.headers)).status_code == 204


# --- business units, tiers, customers, vendors -----------------------------------------------

GOLD_SLA = {
    "availability_target_percent": 99.9,
    "response_minutes": {"sev1": 15, "sev2": 60},
    "resolution_minutes": {"sev1": 240},
    "credit_rule": {
        "bands": [
            {"below_percent": 99.9, "credit_percent": 10},
            {"below_percent": 99.0, "credit_percent": 25},
            {"below_percent": 95.0, "credit_percent": 100},
        ],
        "cap_percent": 50,
    },
}


async def _commercial(client: AsyncClient, session: AsyncSession, admin: Caller) -> None:
    await policy.ensure_default_policies(session)
    for slug in ["db", "checkout"]:
        await _service(session, slug)
    await catalog.set_dependencies(session, SYSTEM, "checkout", [DependencyIn(service="db")])
    steps = [
        (
            "/business-units",
            {"slug": "retail", "name": "Retail", "contact_email": "retail@example.test"},
        ),
        (
            "/customer-tiers",
            {"slug": "gold", "name": "Gold", "business_unit": "retail", "sla": GOLD_SLA},
        ),
        (
            "/customers",
            {
                "slug": "acme",
                "name": "ACME",
                "tier": "gold",
                "business_unit": "retail",
                "monthly_fee": "1200.00",
                "currency": "eur",
                "services": ["checkout"],
            },
        ),
        (
            "/vendors",
            {
                "slug": "cloudco",
                "name": "CloudCo",
                "portal_url": "https://support.cloudco.example/cases",
                "phone": "+1 555 0100",
                "account_id": "ACC-42",
                "contact_instructions": "Open a P1 case, then call.",
                "escalation_contacts": [
                    {
                        "name": "TAM",
                        "role": "technical account manager",
                        "email": "tam@cloudco.example",
                    }
                ],
                "response_minutes": {"sev1": 15, "sev2": 60},
                "services": ["db"],
            },
        ),
    ]
    for path, body in steps:
        response = await client.post(API + path, json=body, headers=admin.headers)
        assert response.status_code == 201, (path, response.text)


async def test_customers_tiers_and_vendors_round_trip(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _commercial(client, session, admin)
    tier = (await client.get(f"{API}/customer-tiers/gold", headers=admin.headers)).json()
    assert tier["sla"]["response_minutes"] == {"sev1": 15, "sev2": 60}
    assert tier["sla"]["credit_rule"]["cap_percent"] == 50
    assert tier["customers"] == 1 and tier["business_unit"] == "retail"
    customer = (await client.get(f"{API}/customers/acme", headers=admin.headers)).json()
    assert customer["currency"] == "EUR" and customer["services"] == ["checkout"]
    assert customer["monthly_fee"] == "1200.00"
    vendor = (await client.get(f"{API}/vendors/cloudco", headers=admin.headers)).json()
    assert vendor["services"] == ["db"] and vendor["escalation_contacts"][0]["name"] == "TAM"
    assert vendor["response_minutes"] == {"sev1": 15, "sev2": 60}
    using = await client.get(
        f"{API}/customers", params={"service": "checkout"}, headers=admin.headers
    )
    assert [c["slug"] for c in using.json()] == ["acme"]
    backing = await client.get(f"{API}/vendors", params={"service": "db"}, headers=admin.headers)
    assert [v["slug"] for v in backing.json()] == ["cloudco"]


async def test_credit_owed_follows_the_tiers_rule(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _commercial(client, session, admin)

    def ask(availability: float) -> Any:
        return client.get(
            f"{API}/customers/acme/credit",
            params={"availability": availability},
            headers=admin.headers,
        )

    met = (await ask(99.95)).json()
    assert met["credit_percent"] == 0 and met["band"] is None
    dip = (await ask(99.5)).json()
    assert (
        dip["credit_percent"] == 10
        and dip["credit_amount"] == "120.00"
        and dip["currency"] == "EUR"
    )
    capped = (await ask(90)).json()
    assert capped["credit_percent"] == 50 and capped["credit_amount"] == "600.00"
    assert (await ask(101)).status_code == 422


async def test_blast_radius_reaches_customers_business_units_and_vendors(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _commercial(client, session, admin)
    radius = (await client.get(f"{API}/services/db/blast-radius", headers=admin.headers)).json()
    assert radius["hard"] == ["checkout"] and radius["soft"] == []
    assert [(c["slug"], c["via"], c["tier"]) for c in radius["customers"]] == [
        ("acme", ["checkout"], "gold")
    ]
    assert radius["business_units"] == ["retail"]
    assert radius["vendors"] == ["cloudco"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"response_minutes": {"sev9": 5}}, "sla.response_minutes.sev9"),
        ({"availability_target_percent": 120}, "sla.availability_target_percent"),
        ({"resolution_minutes": {"sev2": 30}}, "sla"),
        (
            {
                "credit_rule": {
                    "bands": [
                        {"below_percent": 99, "credit_percent": 25},
                        {"below_percent": 99.5, "credit_percent": 10},
                    ]
                }
            },
            "sla.credit_rule",
        ),
        ({"credit_rule": {"bands": [{"below_percent": 99.99, "credit_percent": 10}]}}, "sla"),
    ],
)
async def test_unsound_slas_are_refused_naming_the_field(
    client: AsyncClient, session: AsyncSession, admin: Caller, change: dict[str, Any], field: str
) -> None:
    await policy.ensure_default_policies(session)
    body = {"slug": "silver", "name": "Silver", "sla": {**GOLD_SLA, **change}}
    response = await client.post(f"{API}/customer-tiers", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert _field(response) == field
    assert (await client.get(f"{API}/customer-tiers", headers=admin.headers)).json() == []


async def test_customer_references_are_checked(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _commercial(client, session, admin)
    await client.post(
        f"{API}/business-units", json={"slug": "b2b", "name": "B2B"}, headers=admin.headers
    )
    cases = [
        ({"slug": "x", "name": "X", "tier": "gold", "business_unit": "b2b"}, "tier"),
        ({"slug": "x", "name": "X", "tier": "platinum"}, "tier"),
        ({"slug": "x", "name": "X", "services": ["checkout", "nope"]}, "services.1"),
        ({"slug": "x", "name": "X", "monthly_fee": -1}, "monthly_fee"),
        ({"slug": "x", "name": "X", "currency": "euro"}, "currency"),
    ]
    for body, field in cases:
        response = await client.post(f"{API}/customers", json=body, headers=admin.headers)
        assert response.status_code == 422, body
        assert _field(response) == field
    assert [
        c["slug"] for c in (await client.get(f"{API}/customers", headers=admin.headers)).json()
    ] == ["acme"]


async def test_vendor_contacts_must_be_reachable_and_severities_known(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await policy.ensure_default_policies(session)
    no_way = {"slug": "v", "name": "V", "escalation_contacts": [{"name": "Bob"}]}
    response = await client.post(f"{API}/vendors", json=no_way, headers=admin.headers)
    assert response.status_code == 422 and _field(response) == "escalation_contacts.0"
    typo = {"slug": "v", "name": "V", "response_minutes": {"SEV1": 15}}
    response = await client.post(f"{API}/vendors", json=typo, headers=admin.headers)
    assert response.status_code == 422 and _field(response).startswith("response_minutes")


async def test_things_in_use_cannot_be_deleted(
    client: AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    await _commercial(client, session, admin)
    for path in [
        "/business-units/retail",
        "/customer-tiers/gold",
        "/services/checkout",
        "/services/db",
    ]:
        assert (await client.delete(API + path, headers=admin.headers)).status_code == 409, path
    refused = await client.delete(f"{API}/severities/sev1", headers=admin.headers)
    assert refused.status_code == 409 and "customer tier gold" in refused.json()["detail"]
    for path in [
        "/customers/acme",
        "/customer-tiers/gold",
        "/business-units/retail",
        "/vendors/cloudco",
        "/services/checkout",
        "/services/db",
    ]:
        assert (await client.delete(API + path, headers=admin.headers)).status_code == 204, path


async def test_every_catalog_write_is_audited_with_before_and_after(
    client: AsyncClient, session: AsyncSession, admin: Caller, sessionmaker: Any
) -> None:
    await _commercial(client, session, admin)
    updates = [
        ("/teams/x", "team", {"description": "d"}),
        ("/services/checkout", "service", {"description": "takes money"}),
        ("/business-units/retail", "business_unit", {"description": "shops"}),
        ("/customer-tiers/gold", "customer_tier", {"description": "best"}),
        ("/customers/acme", "customer", {"description": "big"}),
        ("/vendors/cloudco", "vendor", {"description": "hosting"}),
    ]
    await client.post(f"{API}/teams", json={"slug": "x", "name": "X"}, headers=admin.headers)
    for path, kind, body in updates:
        response = await client.patch(API + path, json=body, headers=admin.headers)
        assert response.status_code == 200, (path, response.text)
        slug = path.rsplit("/", 1)[1]
        entries = await _audit(sessionmaker, kind, slug)
        update, create = entries[0], entries[-1]
        assert update.action == f"catalog.{kind}.update"
        assert update.actor_id == admin.user.id and update.actor_type == "token"
        assert update.before["description"] != update.after["description"]
        assert update.after["description"] == body["description"]
        assert create.action == f"catalog.{kind}.create" and create.before is None
    for path, kind, _ in updates:
        slug = path.rsplit("/", 1)[1]
        if kind in {"service", "business_unit", "customer_tier"}:
            continue  # still referenced; deletion order is covered elsewhere
        assert (await client.delete(API + path, headers=admin.headers)).status_code == 204
        deleted = (await _audit(sessionmaker, kind, slug))[0]
        assert deleted.action == f"catalog.{kind}.delete"
        assert deleted.before is not None and deleted.after is None


async def test_customer_vendor_and_tier_updates_change_only_what_is_sent(
    client: AsyncClient, session: AsyncSession, admin: Caller, sessionmaker: Any
) -> None:
    await _commercial(client, session, admin)
    await client.post(
        f"{API}/business-units", json={"slug": "b2b", "name": "B2B"}, headers=admin.headers
    )
    moved = await client.patch(
        f"{API}/customers/acme",
        json={
            "services": ["db", "checkout"],
            "monthly_fee": None,
            "contact_email": "ops@acme.example",
        },
        headers=admin.headers,
    )
    assert moved.status_code == 200, moved.text
    acme = moved.json()
    assert acme["services"] == ["checkout", "db"] and acme["monthly_fee"] is None
    assert acme["tier"] == "gold" and acme["currency"] == "EUR"
    clash = await client.patch(
        f"{API}/customers/acme", json={"business_unit": "b2b"}, headers=admin.headers
    )
    assert clash.status_code == 422 and _field(clash) == "tier"
    tier_clash = await client.patch(
        f"{API}/customer-tiers/gold", json={"business_unit": "b2b"}, headers=admin.headers
    )
    assert tier_clash.status_code == 422 and _field(tier_clash) == "business_unit"
    assert (await client.get(f"{API}/customers/acme", headers=admin.headers)).json()[
        "business_unit"
    ] == "retail"

    vendor = await client.patch(
        f"{API}/vendors/cloudco",
        json={"services": [], "portal_url": None, "response_minutes": {"sev1": 10}},
        headers=admin.headers,
    )
    assert vendor.status_code == 200, vendor.text
    assert vendor.json()["services"] == [] and vendor.json()["portal_url"] is None
    assert vendor.json()["escalation_contacts"][0]["name"] == "TAM"
    entry = (await _audit(sessionmaker, "vendor", "cloudco"))[0]
    assert entry.before["services"] == ["db"] and entry.after["services"] == []
    assert entry.before["response_minutes"] == {"sev1": 15, "sev2": 60}

    sla = {**GOLD_SLA, "availability_target_percent": 99.95}
    tier = await client.patch(
        f"{API}/customer-tiers/gold", json={"sla": sla}, headers=admin.headers
    )
    assert tier.json()["sla"]["availability_target_percent"] == 99.95
    assert tier.json()["business_unit"] == "retail"
    entry = (await _audit(sessionmaker, "customer_tier", "gold"))[0]
    assert entry.before["sla"]["availability_target_percent"] == 99.9
    assert entry.after["sla"]["availability_target_percent"] == 99.95
