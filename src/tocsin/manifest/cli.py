"""`tocsin apply` and `tocsin export`: configuration as code from a shell or a CI pipeline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def _read(path: str, *, backstage: bool) -> Any:
    from tocsin.cli import fail
    from tocsin.manifest.apply import SourceFile

    if path == "-":
        return SourceFile("<stdin>", sys.stdin.read(), backstage=backstage)
    file = Path(path)
    if not file.is_file():
        fail(f"{path}: no such file")
    try:
        return SourceFile(path, file.read_text("utf-8"), backstage=backstage)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot be read: {exc}")


def apply(
    file: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--file",
            metavar="FILE",
            help="A Tocsin configuration file ('-' for standard input); repeat for several. "
            "Backstage documents in it are recognised by their apiVersion.",
        ),
    ] = None,
    backstage: Annotated[
        list[str] | None,
        typer.Option(
            metavar="FILE", help="A Backstage catalog-info.yaml file to import; repeat for several."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything and report, change nothing.")
    ] = False,
) -> None:
    """Create or update teams, services, customers, vendors, severities and policies from
    YAML files, all in one transaction: if anything is wrong, nothing changes and the error
    names the file, line and field."""
    from tocsin.audit.service import Actor
    from tocsin.cli import fail, run_async, with_session
    from tocsin.manifest.apply import KIND_ORDER, apply_files
    from tocsin.manifest.problems import ManifestError

    sources = [_read(p, backstage=False) for p in file or []]
    sources += [_read(p, backstage=True) for p in backstage or []]
    if not sources:
        fail("give at least one file with -f FILE or --backstage FILE", code=2)

    async def _apply(session: Any) -> Any:
        return await apply_files(session, Actor.system("cli apply"), sources, dry_run=dry_run)

    try:
        summary = run_async(lambda s: with_session(s, _apply))
    except ManifestError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        typer.echo("nothing was changed", err=True)
        raise typer.Exit(1) from exc
    for note in summary.notes:
        typer.echo(f"note: {note}", err=True)
    for line in summary.lines(KIND_ORDER):
        typer.echo(line)


def export(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="FILE", help="Write to this file instead of standard output."
        ),
    ] = None,
) -> None:
    """Write the catalog and policies as a configuration file that `tocsin apply` reads."""
    from tocsin.cli import run_async, with_session
    from tocsin.manifest.export import export_yaml

    text = run_async(lambda s: with_session(s, export_yaml))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, "utf-8")
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("export")(export)
