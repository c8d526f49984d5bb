"""`tocsin apply`, `tocsin export` and `tocsin demo` as a person runs them in a shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin import cli
from tocsin.config import get_settings
from tocsin.demo.loader import ADMIN_EMAIL, DEMO_PASSWORD

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The `tocsin` command against the test database, in process."""
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database_url)
    monkeypatch.setenv("TOCSIN_LOG_LEVEL", "warning")
    get_settings.cache_clear()
    if not any(c.name == "apply" for c in cli.app.registered_commands):
        cli._register_domain_commands()
    yield CliRunner()
    get_settings.cache_clear()


def test_apply_prints_a_summary_per_kind_and_is_idempotent(run: CliRunner) -> None:
    example = str(EXAMPLES / "catalog.yaml")
    first = run.invoke(cli.app, ["apply", "-f", example])
    assert first.exit_code == 0, first.output
    assert "Service: 4 created, 0 updated, 0 unchanged" in first.stdout
    assert "  created Service checkout" in first.stdout
    second = run.invoke(cli.app, ["apply", "-f", example])
    assert second.exit_code == 0
    assert "Service: 0 created, 0 updated, 4 unchanged" in second.stdout
    assert "created" not in second.stdout.replace("0 created", "")


def test_apply_with_an_error_exits_1_names_the_line_and_changes_nothing(
    run: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text(
        "apiVersion: tocsin/v1\nkind: Team\nmetadata: {slug: ops}\nspec:\n  name: Ops\n"
        "  email: not-an-address\n"
    )
    result = run.invoke(cli.app, ["apply", "-f", str(bad)])
    assert result.exit_code == 1
    assert f"error: {bad}:6:3: teams[ops].spec.email:" in result.stderr
    assert "nothing was changed" in result.stderr
    exported = run.invoke(cli.app, ["export"])
    assert "kind: Team" not in exported.stdout


def test_apply_reads_standard_input_and_checks_with_dry_run(run: CliRunner) -> None:
    text = "apiVersion: tocsin/v1\nkind: Team\nmetadata: {slug: ops}\nspec: {name: Ops}\n"
    result = run.invoke(cli.app, ["apply", "-f", "-", "--dry-run"], input=text)
    assert result.exit_code == 0, result.output
    assert "would create Team ops" in result.stdout
    assert "slug: ops" not in run.invoke(cli.app, ["export"]).stdout


def test_apply_without_files_explains_itself(run: CliRunner) -> None:
    result = run.invoke(cli.app, ["apply"])
    assert result.exit_code == 2
    assert "-f FILE" in result.stderr


def test_export_writes_a_file_that_applies_unchanged(run: CliRunner, tmp_path: Path) -> None:
    run.invoke(cli.app, ["apply", "-f", str(EXAMPLES / "catalog.yaml")])
    target = tmp_path / "out.yaml"
    result = run.invoke(cli.app, ["export", "-o", str(target)])
    assert result.exit_code == 0
    assert "kind: Vendor" in target.read_text()
    again = run.invoke(cli.app, ["apply", "-f", str(target)])
    assert "  created" not in again.stdout and "  updated" not in again.stdout


def test_backstage_files_import_from_the_command_line(run: CliRunner) -> None:
    result = run.invoke(
        cli.app, ["apply", "--backstage", str(EXAMPLES / "backstage" / "catalog-info.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "Team: 2 created" in result.stdout
    assert "Service: 3 created" in result.stdout
    assert "note:" in result.stderr and "Resource shop-db" in result.stderr


def test_demo_prints_the_admin_login_and_if_empty_leaves_a_used_database_alone(
    run: CliRunner,
) -> None:
    loaded = run.invoke(cli.app, ["demo", "--if-empty"])
    assert loaded.exit_code == 0, loaded.output
    assert ADMIN_EMAIL in loaded.stdout and DEMO_PASSWORD in loaded.stdout
    assert "Service: 19 created" in loaded.stdout
    again = run.invoke(cli.app, ["demo", "--if-empty"])
    assert again.exit_code == 0
    assert "already has users" in again.stdout
