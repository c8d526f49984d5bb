"""Configuration as code over REST: POST the file to /api/v1/config/apply, GET the export."""

from __future__ import annotations

import json

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import count_rows
from tests.factories import Caller, make_caller
from tocsin.auth.permissions import Role
from tocsin.catalog.models import Team

URL = "/api/v1/config/apply"
YAML = {"content-type": "application/yaml"}

FILE = """\
apiVersion: tocsin/v1
kind: Team
metadata:
  slug: payments
spec:
  name: Payments
---
apiVersion: tocsin/v1
kind: Service
metadata:
  slug: checkout
spec:
  name: Checkout
  owner_team: payments
  tier: tier-1
"""


@pytest.fixture
async def admin(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.ADMIN)


async def test_an_admin_applies_a_yaml_file_and_gets_a_summary(
    client: AsyncClient, admin: Caller
) -> None:
    response = await client.post(URL, content=FILE, headers={**admin.headers, **YAML})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"] == {
        "Team": {"created": 1, "updated": 0, "unchanged": 0},
        "Service": {"created": 1, "updated": 0, "unchanged": 0},
    }
    assert {(c["kind"], c["slug"]) for c in body["changes"]} == {
        ("Team", "payments"),
        ("Service", "checkout"),
    }
    again = (await client.post(URL, content=FILE, headers={**admin.headers, **YAML})).json()
    assert again["changes"] == []
    assert again["summary"]["Service"] == {"created": 0, "updated": 0, "unchanged": 1}


async def test_json_documents_apply_too(client: AsyncClient, admin: Caller) -> None:
    documents = [
        {
            "apiVersion": "tocsin/v1",
            "kind": "Team",
            "metadata": {"slug": "ops"},
            "spec": {"name": "Ops"},
        },
    ]
    response = await client.post(
        URL,
        content=json.dumps(documents),
        headers={**admin.headers, "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["Team"]["created"] == 1


async def test_a_bad_file_is_a_422_problem_naming_line_and_field_and_changes_nothing(
    client: AsyncClient, admin: Caller, session: AsyncSession
) -> None:
    bad = FILE.replace("tier: tier-1", "tier: gold")
    response = await client.post(
        URL, params={"filename": "catalog.yaml"}, content=bad, headers={**admin.headers, **YAML}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"].startswith("catalog.yaml:15:3: services[checkout].spec.tier: must be")
    assert problem["errors"][0] | {"message": ""} == {
        "file": "catalog.yaml",
        "line": 15,
        "column": 3,
        "field": "services[checkout].spec.tier",
        "message": "",
    }
    assert await count_rows(session, Team) == 0


async def test_bad_yaml_syntax_is_a_422_with_the_line(client: AsyncClient, admin: Caller) -> None:
    response = await client.post(
        URL, content="kind: Team\nspec: [\n", headers={**admin.headers, **YAML}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["line"] == 3
    assert "YAML syntax error" in response.json()["detail"]


async def test_a_dry_run_changes_nothing(
    client: AsyncClient, admin: Caller, session: AsyncSession
) -> None:
    response = await client.post(
        URL, params={"dry_run": "true"}, content=FILE, headers={**admin.headers, **YAML}
    )
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert response.json()["summary"]["Team"]["created"] == 1
    assert await count_rows(session, Team) == 0


async def test_other_body_types_are_refused(client: AsyncClient, admin: Caller) -> None:
    response = await client.post(
        URL,
        content=FILE,
        headers={**admin.headers, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


async def test_only_holders_of_config_apply_may_apply(
    client: AsyncClient, session: AsyncSession
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    response = await client.post(URL, content=FILE, headers={**responder.headers, **YAML})
    assert response.status_code == 403
    assert await count_rows(session, Team) == 0


async def test_export_answers_yaml_that_applies_unchanged(
    client: AsyncClient, admin: Caller, session: AsyncSession
) -> None:
    await client.post(URL, content=FILE, headers={**admin.headers, **YAML})
    viewer = await make_caller(session, Role.VIEWER)
    exported = await client.get("/api/v1/config/export", headers=viewer.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    assert "slug: checkout" in exported.text
    again = await client.post(URL, content=exported.text, headers={**admin.headers, **YAML})
    assert again.json()["changes"] == []
