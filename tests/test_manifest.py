"""Applying and exporting configuration files against a real database."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import _psycopg_dsn, count_rows
from tests.factories import make_user
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team
from tocsin.config import Settings, load_settings
from tocsin.db.engine import make_engine, make_sessionmaker
from tocsin.db.models import Base
from tocsin.manifest.apply import KIND_ORDER, SourceFile, apply_files, parse
from tocsin.manifest.export import export_yaml
from tocsin.manifest.kinds import HANDLERS
from tocsin.manifest.plan import Action, Summary
from tocsin.manifest.problems import ManifestError
from tocsin.manifest.render import document, dump
from tocsin.manifest.source import SourceDocument
from tocsin.policy import service as policy

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ACTOR = Actor.system("test")


async def apply_text(
    session: AsyncSession, text: str, name: str = "catalog.yaml", *, dry_run: bool = False
) -> Summary:
    return await apply_files(session, ACTOR, [SourceFile(name, text)], dry_run=dry_run)


def actions(summary: Summary) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for change in summary.changes:
        out.setdefault(change.action.value, set()).add(f"{change.kind}/{change.slug}")
    return out


TEAM_AND_SERVICE = """\
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
  tier: {tier}
  dependencies: [ledger]
---
apiVersion: tocsin/v1
kind: Service
metadata:
  slug: ledger
spec:
  name: Ledger
  owner_team: payments
"""


async def test_the_example_file_creates_every_kind_in_one_apply(session: AsyncSession) -> None:
    summary = await apply_text(session, (EXAMPLES / "catalog.yaml").read_text(), "catalog.yaml")
    counts = summary.counts(KIND_ORDER)
    assert set(counts) == set(KIND_ORDER)
    assert all(c["updated"] == c["unchanged"] == 0 for c in counts.values())

    checkout = await catalog.get_service(session, "checkout")
    assert checkout.owner_team == "payments"
    assert [(d.service, d.kind.value) for d in checkout.dependencies] == [
        ("card-gateway", "hard"),
        ("email-sender", "soft"),
    ]
    acme = await catalog.get_customer(session, "acme")
    assert (acme.tier, acme.business_unit, acme.services) == (
        "gold",
        "retail",
        ["checkout", "web-shop"],
    )
    tier = await catalog.get_customer_tier(session, "gold")
    assert tier.sla.response_minutes == {"sev1": 15, "sev2": 60}
    vendor = await catalog.get_vendor(session, "cardco")
    assert (
        vendor.services == ["card-gateway"] and vendor.escalation_contacts[0].name == "Jo Account"
    )
    sev1 = await policy.get_policy(session, "sev1")
    assert sev1.kpi_targets.time_to_acknowledge_minutes == 10
    assert [i.id for i in sev1.business_resolution] == ["orders-reprocessed", "customers-notified"]


async def test_applying_the_same_file_again_changes_nothing_and_writes_no_audit(
    session: AsyncSession,
) -> None:
    text = (EXAMPLES / "catalog.yaml").read_text()
    await apply_text(session, text)
    audit_rows = await count_rows(session, AuditEntry)
    again = await apply_text(session, text)
    assert {c.action for c in again.changes} == {Action.UNCHANGED}
    assert not again.changed
    assert await count_rows(session, AuditEntry) == audit_rows


async def test_a_changed_field_updates_that_object_only_with_an_audit_entry(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await apply_text(session, TEAM_AND_SERVICE.format(tier="tier-2"))
    audit_rows = await count_rows(session, AuditEntry)
    summary = await apply_text(session, TEAM_AND_SERVICE.format(tier="tier-1"))
    updated = [c for c in summary.changes if c.action is Action.UPDATE]
    assert [(c.kind, c.slug, c.fields) for c in updated] == [("Service", "checkout", ("tier",))]
    async with sessionmaker() as fresh:
        assert (await catalog.get_service(fresh, "checkout")).tier.value == "tier-1"
        assert await count_rows(fresh, AuditEntry) == audit_rows + 1
    assert "  updated Service checkout (tier)" in summary.lines(KIND_ORDER)


async def test_an_error_at_a_known_line_changes_nothing_and_names_file_line_and_field(
    session: AsyncSession,
) -> None:
    text = TEAM_AND_SERVICE.format(tier="gold")
    with pytest.raises(ManifestError) as caught:
        await apply_text(session, text)
    assert str(caught.value) == (
        "catalog.yaml:15:3: services[checkout].spec.tier: "
        "must be one of tier-1, tier-2, tier-3, tier-4"
    )
    assert await count_rows(session, Team) == 0
    assert await count_rows(session, AuditEntry) == 0


async def test_a_reference_to_nothing_is_reported_where_it_is_written(
    session: AsyncSession,
) -> None:
    text = TEAM_AND_SERVICE.format(tier="tier-1").replace("[ledger]", "[ledger, billing]")
    with pytest.raises(ManifestError) as caught:
        await apply_text(session, text)
    assert str(caught.value) == (
        "catalog.yaml:16:26: services[checkout].spec.dependencies[1]: service billing does not "
        "exist (neither in these files nor in the database)"
    )
    assert await count_rows(session, Service) == 0


async def test_references_may_point_at_objects_already_in_the_database(
    session: AsyncSession,
) -> None:
    await apply_text(session, TEAM_AND_SERVICE.format(tier="tier-1"))
    later = """\
apiVersion: tocsin/v1
kind: Service
metadata: {slug: web}
spec: {name: Web, owner_team: payments, dependencies: [checkout]}
"""
    summary = await apply_text(session, later, "web.yaml")
    assert actions(summary) == {"created": {"Service/web"}}
    web = await catalog.get_service(session, "web")
    assert [d.service for d in web.dependencies] == ["checkout"]


async def test_one_apply_of_several_files_is_one_transaction(session: AsyncSession) -> None:
    good = SourceFile("teams.yaml", TEAM_AND_SERVICE.format(tier="tier-1"))
    bad = SourceFile(
        "more.yaml",
        "apiVersion: tocsin/v1\nkind: Team\nmetadata: {slug: payments}\nspec: {name: Again}\n",
    )
    with pytest.raises(ManifestError) as caught:
        await apply_files(session, ACTOR, [good, bad])
    assert str(caught.value) == (
        "more.yaml:3:12: teams[payments].metadata.slug: defined twice; first at teams.yaml:4:3"
    )
    assert await count_rows(session, Team) == 0


async def test_a_rule_only_the_domain_knows_rolls_the_whole_apply_back(
    session: AsyncSession,
) -> None:
    text = TEAM_AND_SERVICE.format(tier="tier-1").replace("[ledger]", "[ledger, checkout]")
    with pytest.raises(ManifestError) as caught:
        await apply_text(session, text)
    (problem,) = caught.value.problems
    assert str(problem.location) == "catalog.yaml:16:26"
    assert "cannot depend on itself" in problem.message
    assert await count_rows(session, Team) == 0
    assert await count_rows(session, Service) == 0


async def test_a_dry_run_reports_what_would_change_and_changes_nothing(
    session: AsyncSession,
) -> None:
    summary = await apply_text(session, TEAM_AND_SERVICE.format(tier="tier-1"), dry_run=True)
    assert actions(summary)["created"] == {"Team/payments", "Service/checkout", "Service/ledger"}
    assert "  would create Service checkout" in summary.lines(KIND_ORDER)
    assert summary.lines(KIND_ORDER)[-1] == "dry run: nothing was changed"
    assert await count_rows(session, Team) == 0
    assert await count_rows(session, AuditEntry) == 0


async def test_left_out_dependencies_stay_and_an_empty_list_clears_them(
    session: AsyncSession,
) -> None:
    await apply_text(session, TEAM_AND_SERVICE.format(tier="tier-1"))
    without = TEAM_AND_SERVICE.format(tier="tier-1").replace("  dependencies: [ledger]\n", "")
    assert not (await apply_text(session, without)).changed
    assert [d.service for d in (await catalog.get_service(session, "checkout")).dependencies]

    cleared = TEAM_AND_SERVICE.format(tier="tier-1").replace("[ledger]", "[]")
    summary = await apply_text(session, cleared)
    assert actions(summary)["updated"] == {"Service/checkout"}
    assert (await catalog.get_service(session, "checkout")).dependencies == []


async def test_team_members_are_people_by_email_who_must_exist(session: AsyncSession) -> None:
    alice = await make_user(session, Role.RESPONDER, email="alice@example.com")
    team = """\
apiVersion: tocsin/v1
kind: Team
metadata: {slug: payments}
spec:
  name: Payments
  members:
    - {email: Alice@example.com, role: lead}
    - {email: ghost@example.com}
"""
    with pytest.raises(ManifestError) as caught:
        await apply_text(session, team)
    assert str(caught.value) == (
        "catalog.yaml:8:8: teams[payments].spec.members[1].email: "
        "no user with e-mail ghost@example.com; create the user first"
    )
    await apply_text(session, team.replace("    - {email: ghost@example.com}\n", ""))
    members = (await catalog.get_team(session, "payments")).members
    assert [(m.email, m.role) for m in members] == [(alice.email, "lead")]
    again = await apply_text(session, team.replace("    - {email: ghost@example.com}\n", ""))
    assert not again.changed


async def test_severities_in_a_file_take_the_ranks_it_gives(session: AsyncSession) -> None:
    await policy.ensure_default_policies(session)
    text = """\
apiVersion: tocsin/v1
kind: Severity
metadata: {slug: sev0}
spec: {name: SEV0, definition: Everything is down., rank: 1}
---
apiVersion: tocsin/v1
kind: Severity
metadata: {slug: sev4}
spec: {name: SEV4, rank: 2}
"""
    summary = await apply_text(session, text)
    assert actions(summary) == {"created": {"Severity/sev0"}, "updated": {"Severity/sev4"}}
    ladder = [s.slug for s in await policy.list_severities(session)]
    assert ladder == ["sev0", "sev4", "sev1", "sev2", "sev3"]
    assert not (await apply_text(session, text)).changed


# --- export ----------------------------------------------------------------------------------


@pytest.fixture
async def empty_again(
    db_kind: str, template_database: str, tmp_path: Path
) -> AsyncIterator[Callable[[], Awaitable[async_sessionmaker[AsyncSession]]]]:
    """Returns a function that gives an empty database to apply an export into: a fresh copy
    of the migrated template on SQLite; on PostgreSQL the test's own database, emptied (the
    same truncation every test ends with; callers close their sessions first)."""
    engines: list[AsyncEngine] = []

    async def make() -> async_sessionmaker[AsyncSession]:
        if db_kind == "sqlite":
            target = tmp_path / "empty-again.db"
            shutil.copyfile(make_url(template_database).database or "", target)
            url = f"sqlite+aiosqlite:///{target}"
        else:
            url = template_database
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            with psycopg.connect(_psycopg_dsn(url), autocommit=True) as conn:
                conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        engine = make_engine(load_settings(database_url=url, log_level="warning"))
        engines.append(engine)
        return make_sessionmaker(engine)

    yield make
    for engine in engines:
        await engine.dispose()


async def test_an_export_applied_to_an_empty_database_exports_the_same(
    session: AsyncSession,
    empty_again: Callable[[], Awaitable[async_sessionmaker[AsyncSession]]],
) -> None:
    await make_user(session, Role.RESPONDER, email="alice@example.com")
    text = (
        (EXAMPLES / "catalog.yaml")
        .read_text()
        .replace(
            "  # members (optional)", "  members: [{email: alice@example.com, role: lead}]\n  #"
        )
    )
    await policy.ensure_default_policies(session)
    await apply_text(session, text)
    exported = await export_yaml(session)
    assert "kind: SeverityPolicy" in exported and "- card-gateway" in exported

    assert not (await apply_text(session, exported, "export.yaml")).changed
    await session.close()

    async with (await empty_again())() as other:
        await make_user(other, Role.RESPONDER, email="alice@example.com")
        created = await apply_text(other, exported, "export.yaml")
        assert {c.action for c in created.changes} == {Action.CREATE}
        assert await export_yaml(other) == exported


# --- the documentation's examples ------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration-as-code.md"


def complete_examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [b for b in blocks if b.startswith("apiVersion: tocsin/v1\nkind: Severity")]


async def test_the_complete_example_in_the_documentation_applies(session: AsyncSession) -> None:
    (example,) = complete_examples()
    summary = await apply_text(session, example, "configuration-as-code.md")
    assert set(summary.counts(KIND_ORDER)) == set(KIND_ORDER)
    assert not (await apply_text(session, example, "configuration-as-code.md")).changed


# --- generated catalogs ----------------------------------------------------------------------

_example_counter = itertools.count()
_names = st.text(alphabet=string.ascii_letters + string.digits + " -'", min_size=1, max_size=30)


@st.composite
def catalogs(draw: st.DrawFn) -> str:
    """A file of teams and services with arbitrary dependencies (cycles included), under a
    slug prefix of its own so that examples can share one database."""
    prefix = f"g{next(_example_counter)}"
    teams = [f"{prefix}-team-{i}" for i in range(draw(st.integers(1, 3)))]
    services = [f"{prefix}-svc-{i}" for i in range(draw(st.integers(1, 6)))]
    documents = [
        document("Team", slug, {"name": draw(_names).strip() or "T", "members": []})
        for slug in teams
    ]
    for slug in services:
        others = [s for s in services if s != slug]
        deps = draw(st.lists(st.sampled_from(others), unique=True)) if others else []
        spec = {
            "name": draw(_names).strip() or "S",
            "owner_team": draw(st.sampled_from(teams)),
            "tier": draw(st.sampled_from(["tier-1", "tier-2", "tier-3", "tier-4"])),
            "tags": draw(st.lists(st.sampled_from(["pci", "edge", "db", "system:x"]), unique=True)),
            "dependencies": [
                d if draw(st.booleans()) else {"service": d, "kind": "soft", "note": "n"}
                for d in deps
            ],
        }
        documents.append(document("Service", slug, spec))
    return dump(documents)


@pytest.fixture
def settings_fixture(settings: Settings) -> Settings:
    """The test database's settings, under a name that leaves `settings` to hypothesis."""
    return settings


def _ours(text: str, prefix: str) -> str:
    docs = [d for d in text.split("---\n") if f"slug: {prefix}-" in d.split("spec:")[0]]
    return "---\n".join(docs)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(catalogs())
def test_generated_catalogs_survive_apply_export_apply(settings_fixture: Any, text: str) -> None:
    prefix = text.split("slug: ", 1)[1].split("-", 1)[0]

    async def go() -> None:
        engine = make_engine(settings_fixture)
        try:
            async with make_sessionmaker(engine)() as session:
                created = await apply_text(session, text, "generated.yaml")
                assert {c.action for c in created.changes} == {Action.CREATE}
                exported = _ours(await export_yaml(session), prefix)
                again = await apply_text(session, exported, "export.yaml")
                assert not again.changed
                assert _ours(await export_yaml(session), prefix) == exported
                reread, _ = parse([SourceFile("export.yaml", exported)])
                original, _ = parse([SourceFile("generated.yaml", text)])
                assert {_key(d) for d in reread} == {_key(d) for d in original}
        finally:
            await engine.dispose()

    asyncio.run(go())


def _key(source: SourceDocument) -> str:
    """A document as comparable text: its spec validated and in canonical form."""
    handler = next(h for h in HANDLERS if h.kind == source.data["kind"])
    slug = source.data["metadata"]["slug"]
    spec = handler.spec_model.model_validate({**handler.prepare(source.data["spec"]), "slug": slug})
    return json.dumps([handler.kind, handler.canonical(spec)], sort_keys=True)
