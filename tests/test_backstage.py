"""Backstage catalog-info.yaml files imported as teams and services with their dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import count_rows
from tocsin.audit.service import Actor
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.manifest.apply import SourceFile, apply_files, parse
from tocsin.manifest.backstage import EntityRef, parse_ref, slug_for
from tocsin.manifest.problems import ManifestError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "backstage" / "catalog-info.yaml"
ACTOR = Actor.system("test")


def test_entity_refs_read_kind_namespace_and_name_with_defaults() -> None:
    assert parse_ref("group:default/storefront", "group") == EntityRef(
        "group", "default", "storefront"
    )
    assert parse_ref("storefront", "group") == EntityRef("group", "default", "storefront")
    assert parse_ref("Component:shop/Basket", "api") == EntityRef("component", "shop", "Basket")
    assert parse_ref("user:jdoe", "group").kind == "user"


def test_backstage_names_become_tocsin_slugs() -> None:
    assert slug_for("default", "Payment_Gateway.v2") == "payment-gateway-v2"
    assert slug_for("shop", "basket") == "shop-basket"


names = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9])?\Z")


@given(st.sampled_from(["component", "group", "api", "system"]), names, names)
def test_a_written_ref_reads_back_and_its_slug_is_a_valid_slug(
    kind: str, namespace: str, name: str
) -> None:
    ref = parse_ref(f"{kind}:{namespace}/{name}", "component")
    assert ref == EntityRef(kind, namespace, name)
    assert ref.slug and all(part for part in ref.slug.split("-"))
    assert ref.slug == ref.slug.lower()


def test_the_example_converts_groups_components_apis_and_systems() -> None:
    sources, notes = parse([SourceFile("catalog-info.yaml", EXAMPLE.read_text())])
    by_slug = {d.data["metadata"]["slug"]: d.data for d in sources}
    assert {d.data["kind"] for d in sources} == {"Team", "Service"}
    assert by_slug["storefront"]["spec"] == {
        "name": "Storefront",
        "description": "Web storefront and checkout flow",
        "email": "storefront@example.com",
    }
    web = by_slug["web-shop"]["spec"]
    assert web["owner_team"] == "storefront"
    assert web["dependencies"] == ["basket", "payment-gateway"]  # dependsOn + consumed API
    assert web["tags"] == ["python", "public", "system:shop"]
    assert web["runbooks"] == [{"title": "Runbook", "url": "https://runbooks.example.com/web-shop"}]
    assert by_slug["payment-gateway"]["spec"]["owner_team"] == "payments-team"
    assert any("skipped Resource shop-db" in n for n in notes)
    assert any("resource:shop-db" in n for n in notes)


async def test_the_example_imports_with_dependencies_and_reimports_unchanged(
    session: AsyncSession,
) -> None:
    file = SourceFile("catalog-info.yaml", EXAMPLE.read_text())
    summary = await apply_files(session, ACTOR, [file])
    assert summary.counts(["Team", "Service"]) == {
        "Team": {"created": 2, "updated": 0, "unchanged": 0},
        "Service": {"created": 3, "updated": 0, "unchanged": 0},
    }
    web = await catalog.get_service(session, "web-shop")
    assert [d.service for d in web.dependencies] == ["basket", "payment-gateway"]
    gateway = await catalog.get_service(session, "payment-gateway")
    assert [d.service for d in gateway.dependents] == ["web-shop"]
    assert (await catalog.get_team(session, "payments-team")).services == ["payment-gateway"]
    again = await apply_files(session, ACTOR, [file])
    assert not again.changed


async def test_a_service_owned_by_a_person_is_refused_at_its_line(session: AsyncSession) -> None:
    text = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: billing
spec:
  type: service
  lifecycle: production
  owner: user:jdoe
"""
    with pytest.raises(ManifestError) as caught:
        await apply_files(session, ACTOR, [SourceFile("catalog-info.yaml", text)])
    assert str(caught.value).startswith("catalog-info.yaml:8:3: Component[billing].spec.owner:")
    assert "must be a Group" in str(caught.value)
    assert await count_rows(session, Service) == 0


async def test_a_dependency_on_an_unknown_component_points_at_the_dependson_line(
    session: AsyncSession,
) -> None:
    text = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: ops}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: api
spec:
  type: service
  lifecycle: production
  owner: ops
  dependsOn:
    - component:ledger
"""
    with pytest.raises(ManifestError) as caught:
        await apply_files(session, ACTOR, [SourceFile("catalog-info.yaml", text)])
    assert str(caught.value) == (
        "catalog-info.yaml:15:7: services[api].spec.dependencies[0]: service ledger does not "
        "exist (neither in these files nor in the database)"
    )


async def test_dependency_of_adds_the_edge_to_the_dependent(session: AsyncSession) -> None:
    text = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: cache}
spec: {type: service, lifecycle: production, owner: ops, dependencyOf: [component:web]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: web}
spec: {type: website, lifecycle: production, owner: ops}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: ops}
spec: {type: team, children: []}
"""
    await apply_files(session, ACTOR, [SourceFile("catalog-info.yaml", text)])
    web = await catalog.get_service(session, "web")
    assert [d.service for d in web.dependencies] == ["cache"]


async def test_tocsin_documents_may_refer_to_imported_components(session: AsyncSession) -> None:
    tocsin = """\
apiVersion: tocsin/v1
kind: Service
metadata: {slug: fraud-check}
spec: {name: Fraud check, owner_team: payments-team, dependencies: [payment-gateway]}
"""
    files = [
        SourceFile("catalog-info.yaml", EXAMPLE.read_text(), backstage=True),
        SourceFile("extra.yaml", tocsin),
    ]
    summary = await apply_files(session, ACTOR, files)
    assert summary.counts(["Service"])["Service"]["created"] == 4
    fraud = await catalog.get_service(session, "fraud-check")
    assert [d.service for d in fraud.dependencies] == ["payment-gateway"]


def test_tags_tocsin_cannot_hold_are_skipped_with_a_note() -> None:
    text = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: engine
  tags: [cpp, "c#", Rust]
spec: {type: service, lifecycle: production, owner: ops}
"""
    (service,), notes = parse([SourceFile("catalog-info.yaml", text)])
    assert service.data["spec"]["tags"] == ["cpp", "rust"]
    assert notes == [
        "catalog-info.yaml:5:15: skipped tag 'c#' of engine: "
        "Tocsin tags are letters, digits and : . _ / -"
    ]
