"""`tocsin comms …`: check the comms log's hash chain from a shell."""

from __future__ import annotations

from typing import Any

import typer

comms_app = typer.Typer(
    help="Stakeholder communications: verify the comms log.", no_args_is_help=True
)


@comms_app.command("verify")
def verify() -> None:
    """Walk the comms log's hash chain; exit 1 naming the first altered or removed entry."""
    from tocsin.cli import run_async, with_session
    from tocsin.comms import log

    async def _verify(session: Any) -> Any:
        return await log.verify(session)

    count, broken = run_async(lambda s: with_session(s, _verify))
    if broken is not None:
        typer.echo(f"comms log BROKEN at entry {broken.seq}: {broken.reason}", err=True)
        raise typer.Exit(1)
    typer.echo(f"comms log intact: {count} entries, chain verified")


def register(app: typer.Typer) -> None:
    app.add_typer(comms_app, name="comms")
