"""Status pages in configuration files: `tocsin apply` builds and keeps a page's layout."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import count_rows
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.errors import Invalid
from tocsin.manifest.apply import SourceFile, apply_files
from tocsin.manifest.export import export_yaml
from tocsin.manifest.plan import Action, Summary
from tocsin.manifest.problems import ManifestError
from tocsin.statuspage import service
from tocsin.statuspage.models import StatusPage
from tocsin.statuspage.schemas import ComponentUpdate, PageCreate

ACTOR = Actor.system("test")

SERVICES = """\
apiVersion: tocsin/v1
kind: Service
metadata: {slug: checkout}
spec: {name: Checkout}
---
apiVersion: tocsin/v1
kind: Service
metadata: {slug: search}
spec: {name: Search}
"""

PAGE = """\
apiVersion: tocsin/v1
kind: StatusPage
metadata:
  slug: acme
spec:
  name: Acme
  url: https://acme.example
  time_zone: Europe/Berlin
  subscriptions: {email: true, webhook: false}
  groups:
    - name: Shop
      components:
        - {name: Checkout, service: checkout, description: Orders and payments}
        - {name: Search, service: search}
  components:
    - {name: Public API}
"""


async def apply(session: AsyncSession, *texts: str, dry_run: bool = False) -> Summary:
    files = [SourceFile(f"file{i}.yaml", t) for i, t in enumerate(texts)]
    return await apply_files(session, ACTOR, files, dry_run=dry_run)


async def layout(session: AsyncSession, slug: str = "acme") -> list[tuple[str | None, str, str]]:
    """(group, component, service) in display order."""
    groups = {g.id: g.name for g in await service.list_groups(session, slug)}
    return [
        (groups.get(c.group_id) if c.group_id else None, c.name, c.service or "")
        for c in await service.list_components(session, slug)
    ]


async def test_a_file_creates_the_page_its_groups_and_components_mapped_to_services(
    session: AsyncSession,
) -> None:
    summary = await apply(session, SERVICES, PAGE)
    assert [c.action for c in summary.changes if c.kind == "StatusPage"] == [Action.CREATE]

    page = await service.get_page(session, "acme")
    assert (page.name, page.url, page.time_zone, page.is_default) == (
        "Acme",
        "https://acme.example",
        "Europe/Berlin",
        True,  # the first page is the default one, as through the API
    )
    assert await layout(session) == [
        ("Shop", "Checkout", "checkout"),
        ("Shop", "Search", "search"),
        (None, "Public API", ""),
    ]
    assert {c.status for c in await service.list_components(session, "acme")} == {"operational"}


async def test_applying_the_same_page_again_changes_nothing_and_writes_no_audit(
    session: AsyncSession,
) -> None:
    await apply(session, SERVICES, PAGE)
    version = (await service.get_page(session, "acme")).version
    audit_rows = await count_rows(session, AuditEntry)

    again = await apply(session, SERVICES, PAGE)

    assert {c.action for c in again.changes} == {Action.UNCHANGED}
    assert await count_rows(session, AuditEntry) == audit_rows
    assert (await service.get_page(session, "acme")).version == version


async def test_a_changed_layout_keeps_component_states_and_removes_what_the_file_dropped(
    session: AsyncSession,
) -> None:
    await apply(session, SERVICES, PAGE)
    checkout = next(
        c for c in await service.list_components(session, "acme") if c.name == "Checkout"
    )
    await service.update_component(
        session, ACTOR, "acme", checkout.id, ComponentUpdate(status="partial_outage")
    )
    version = (await service.get_page(session, "acme")).version

    changed = (
        PAGE.replace("        - {name: Search, service: search}\n", "")
        .replace("Orders and payments", "Orders")
        .replace("  components:\n    - {name: Public API}\n", "  components: []\n")
    )
    summary = await apply(session, SERVICES, changed)

    (change,) = [c for c in summary.changes if c.kind == "StatusPage"]
    assert (change.action, change.fields) == (Action.UPDATE, ("groups", "components"))
    assert await layout(session) == [("Shop", "Checkout", "checkout")]
    (kept,) = await service.list_components(session, "acme")
    assert (kept.id, kept.status, kept.description) == (checkout.id, "partial_outage", "Orders")
    assert (await service.get_page(session, "acme")).version > version  # the public page changes


async def test_left_out_groups_and_components_stay_as_they_are(session: AsyncSession) -> None:
    await apply(session, SERVICES, PAGE)
    bare = PAGE.split("  groups:")[0].replace("name: Acme", "name: Acme Inc")

    summary = await apply(session, SERVICES, bare)

    (change,) = [c for c in summary.changes if c.kind == "StatusPage"]
    assert change.fields == ("name",)
    assert len(await layout(session)) == 3


async def test_a_reordered_file_reorders_the_page(session: AsyncSession) -> None:
    await apply(session, SERVICES, PAGE)
    swapped = PAGE.replace(
        "        - {name: Checkout, service: checkout, description: Orders and payments}\n"
        "        - {name: Search, service: search}\n",
        "        - {name: Search, service: search}\n"
        "        - {name: Checkout, service: checkout, description: Orders and payments}\n",
    )
    await apply(session, SERVICES, swapped)
    assert [name for _, name, _ in await layout(session)] == ["Search", "Checkout", "Public API"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("service: search}", "service: nowhere}"),
            "status_pages[acme].spec.groups[0].components[1].service: service nowhere does not "
            "exist",
        ),
        (
            ("{name: Public API}", "{name: Search}"),
            "status_pages[acme].spec: two components are named 'Search'",
        ),
        (
            ("Europe/Berlin", "Mars/Olympus"),
            "status_pages[acme].spec.time_zone: unknown time zone 'Mars/Olympus'",
        ),
        (
            ("webhook: false", "webhooks: false"),
            "status_pages[acme].spec.subscriptions.webhooks: unknown field",
        ),
        (("slug: acme", "slug: Acme!"), "status_pages[Acme!].metadata.slug: must be"),
    ],
)
async def test_a_bad_page_names_the_field_and_changes_nothing(
    session: AsyncSession, edit: tuple[str, str], message: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        await apply(session, SERVICES, PAGE.replace(*edit))
    assert any(message in str(p) for p in caught.value.problems), caught.value.problems
    assert await count_rows(session, StatusPage) == 0


async def test_a_dry_run_says_what_would_change_and_changes_nothing(session: AsyncSession) -> None:
    summary = await apply(session, SERVICES, PAGE, dry_run=True)
    assert "  would create StatusPage acme" in summary.lines(["Service", "StatusPage"])
    assert await count_rows(session, StatusPage) == 0


async def test_default_true_moves_the_public_page_at_status(session: AsyncSession) -> None:
    await service.create_page(session, ACTOR, PageCreate(slug="old", name="Old"))
    await apply(session, SERVICES, PAGE)
    assert not (await service.get_page(session, "acme")).is_default

    await apply(session, SERVICES, PAGE.replace("  url:", "  default: true\n  url:"))

    assert (await service.get_page(session, "acme")).is_default
    assert not (await service.get_page(session, "old")).is_default


async def test_subscription_settings_decide_what_the_public_may_subscribe(
    session: AsyncSession,
) -> None:
    await apply(session, SERVICES, PAGE)
    page = await service.page_row(session, "acme")
    with pytest.raises(Invalid) as caught:
        await service.subscribe(
            session, page, email=None, webhook="https://hooks.example/x", component_ids=[]
        )
    assert caught.value.errors and caught.value.errors[0]["field"] == "webhook"
    row = await service.subscribe(
        session, page, email="ana@example.com", webhook=None, component_ids=[]
    )
    assert row.mode == "email"


async def test_an_exported_page_applies_back_unchanged(session: AsyncSession) -> None:
    await apply(session, SERVICES, PAGE)
    exported = await export_yaml(session)
    assert "kind: StatusPage" in exported and "webhook: false" in exported
    assert not (await apply(session, exported)).changed
