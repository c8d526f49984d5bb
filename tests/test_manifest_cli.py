"""`tocsin apply`, `tocsin export` and `tocsin demo` as a person runs them in a shell."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli import Run, run_tocsin
from tocsin.demo.loader import ADMIN_EMAIL, DEMO_PASSWORD

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUIET = {"TOCSIN_LOG_LEVEL": "warning"}


@pytest.fixture
def run(database_url: str) -> Callable[..., Run]:
    """The `tocsin` command against the test database."""
    return functools.partial(run_tocsin, database_url=database_url, env=QUIET)


def test_apply_prints_a_summary_per_kind_and_is_idempotent(run: Callable[..., Run]) -> None:
    example = str(EXAMPLES / "catalog.yaml")
    first = run("apply", "-f", example)
    assert first.code == 0, first.err
    assert "Service: 4 created, 0 updated, 0 unchanged" in first.out
    assert "  created Service checkout" in first.out
    second = run("apply", "-f", example)
    assert second.code == 0
    assert "Service: 0 created, 0 updated, 4 unchanged" in second.out
    assert "created" not in second.out.replace("0 created", "")


def test_apply_with_an_error_exits_1_names_the_line_and_changes_nothing(
    run: Callable[..., Run], tmp_path: Path
) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text(
        "apiVersion: tocsin/v1\nkind: Team\nmetadata: {slug: ops}\nspec:\n  name: Ops\n"
        "  email: not-an-address\n"
    )
    result = run("apply", "-f", str(bad))
    assert result.code == 1
    assert f"error: {bad}:6:3: teams[ops].spec.email:" in result.err
    assert "nothing was changed" in result.err
    exported = run("export")
    assert "kind: Team" not in exported.out


def test_apply_reads_standard_input_and_checks_with_dry_run(run: Callable[..., Run]) -> None:
    text = "apiVersion: tocsin/v1\nkind: Team\nmetadata: {slug: ops}\nspec: {name: Ops}\n"
    result = run("apply", "-f", "-", "--dry-run", stdin=text)
    assert result.code == 0, result.err
    assert "would create Team ops" in result.out
    assert "slug: ops" not in run("export").out


def test_apply_without_files_explains_itself(run: Callable[..., Run]) -> None:
    result = run("apply")
    assert result.code == 2
    assert "-f FILE" in result.err


def test_export_writes_a_file_that_applies_unchanged(
    run: Callable[..., Run], tmp_path: Path
) -> None:
    run("apply", "-f", str(EXAMPLES / "catalog.yaml"))
    target = tmp_path / "out.yaml"
    result = run("export", "-o", str(target))
    assert result.code == 0
    assert "kind: Vendor" in target.read_text()
    again = run("apply", "-f", str(target))
    assert "  created" not in again.out and "  updated" not in again.out


def test_backstage_files_import_from_the_command_line(run: Callable[..., Run]) -> None:
    result = run("apply", "--backstage", str(EXAMPLES / "backstage" / "catalog-info.yaml"))
    assert result.code == 0, result.err
    assert "Team: 2 created" in result.out
    assert "Service: 3 created" in result.out
    assert "note:" in result.err and "Resource shop-db" in result.err


def test_demo_prints_the_admin_login_and_if_empty_leaves_a_used_database_alone(
    run: Callable[..., Run],
) -> None:
    loaded = run("demo", "--if-empty")
    assert loaded.code == 0, loaded.err
    assert ADMIN_EMAIL in loaded.out and DEMO_PASSWORD in loaded.out
    assert "Service: 19 created" in loaded.out
    again = run("demo", "--if-empty")
    assert again.code == 0
    assert "already has users" in again.out
