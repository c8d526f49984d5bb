"""`tocsin demo`: load the demo organisation (`make run` calls it with --if-empty)."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def demo(
    if_empty: Annotated[
        bool,
        typer.Option(
            "--if-empty", help="Do nothing when the database already has users (safe to re-run)."
        ),
    ] = False,
) -> None:
    """Load the demo organisation: the Astronomy Shop's teams, services with dependencies,
    customers, vendors, severities and policies, and people of every role; then print the
    demo admin's login. Running it again tops up what is missing and changes nothing else."""
    from tocsin.cli import migrate, run_async, settings_or_exit, with_session
    from tocsin.demo.loader import ADMIN_EMAIL, DEMO_PASSWORD, DEMO_USERS, load_demo
    from tocsin.manifest.apply import KIND_ORDER
    from tocsin.manifest.problems import ManifestError

    settings = settings_or_exit()
    run_async(migrate)

    async def _load(session: Any) -> Any:
        return await load_demo(session, if_empty=if_empty)

    try:
        result = run_async(lambda s: with_session(s, _load))
    except ManifestError as exc:
        typer.echo(f"error: the demo could not be loaded:\n{exc}", err=True)
        raise typer.Exit(1) from exc
    if not result.loaded:
        typer.echo(
            "the database already has users; the demo was not loaded again "
            f"(if it was loaded before: {ADMIN_EMAIL} / {DEMO_PASSWORD})"
        )
        return
    typer.echo(f"demo organisation loaded ({len(result.users_created)} people added)")
    if result.summary is not None:
        for line in result.summary.lines(KIND_ORDER):
            if not line.startswith("  "):
                typer.echo(f"  {line}")
    typer.echo("")
    typer.echo(f"Sign in at {settings.base_url}/login")
    typer.echo(f"  e-mail:   {ADMIN_EMAIL}")
    typer.echo(f"  password: {DEMO_PASSWORD}")
    typer.echo("The other demo people use the same password:")
    for person in DEMO_USERS:
        if person.email != ADMIN_EMAIL:
            typer.echo(f"  {person.email} ({person.role.value})")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
