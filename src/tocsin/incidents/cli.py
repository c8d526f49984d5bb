"""`tocsin incident …`: declare and list incidents from a shell.

The command line runs as the system, like the worker: it sees private incidents too, and
what it declares is recorded as declared by "cli".
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

incident_app = typer.Typer(help="Incidents: declare and list.", no_args_is_help=True)


@incident_app.command("declare")
def declare(
    title: Annotated[str, typer.Option(help="What is wrong, in a few words.")],
    severity: Annotated[str, typer.Option(help="A severity slug, e.g. sev1.")],
    service: Annotated[
        list[str] | None, typer.Option("--service", help="An affected service; repeat for several.")
    ] = None,
    summary: Annotated[str, typer.Option(help="What is known so far.")] = "",
    incident_type: Annotated[
        str, typer.Option("--type", help="outage, degradation, security, data or other.")
    ] = "outage",
    private: Annotated[
        bool, typer.Option("--private", help="Visible only to participants and admins.")
    ] = False,
) -> None:
    """Declare an incident and print its reference (e.g. INC-42)."""
    from pydantic import ValidationError

    from tocsin.audit.service import Actor
    from tocsin.cli import fail, run_async, with_session
    from tocsin.errors import ProblemError
    from tocsin.incidents import service as incidents
    from tocsin.incidents.schemas import IncidentDeclare

    try:
        body = IncidentDeclare.model_validate(
            {
                "title": title,
                "severity": severity,
                "services": service or [],
                "summary": summary,
                "type": incident_type,
                "visibility": "private" if private else "public",
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        raise AssertionError from None

    async def _declare(session: Any) -> Any:
        return await incidents.declare(session, Actor.system("cli"), body)

    try:
        declared = run_async(lambda s: with_session(s, _declare))
    except ProblemError as exc:
        fail(exc.detail or exc.title)
    typer.echo(f"{declared.ref}\t{declared.status}\t{declared.title}")


@incident_app.command("list")
def list_incidents(
    active: Annotated[
        bool, typer.Option("--active", help="Only incidents still being worked on.")
    ] = False,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """Print incidents, newest first: reference, severity, status, visibility, title."""
    from tocsin.audit.service import Actor
    from tocsin.cli import run_async, with_session
    from tocsin.incidents import service as incidents

    query = incidents.IncidentFilter(active=True if active else None, limit=limit)

    async def _list(session: Any) -> list[Any]:
        return await incidents.list_incidents(session, Actor.system("cli"), query)

    for row in run_async(lambda s: with_session(s, _list)):
        typer.echo(f"{row.ref}\t{row.severity}\t{row.status}\t{row.visibility}\t{row.title}")


def register(app: typer.Typer) -> None:
    app.add_typer(incident_app, name="incident")
