"""`tocsin oncall …`: who is on call, from a shell or a script.

Answers the question people ask most in the middle of the night without a browser, and lets
scripts (a chat bot, a runbook) route work to the right person by the same rules that page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

oncall_app = typer.Typer(help="On-call: who is on call, and the schedules.", no_args_is_help=True)


def _moment(value: str | None) -> datetime:
    from tocsin.clock import utcnow

    if value is None:
        return utcnow()
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        from tocsin.cli import fail

        fail(f"--at: {value!r} is not an ISO 8601 time such as 2026-03-29T09:00:00+02:00")
        raise AssertionError from None
    if at.tzinfo is None:
        from tocsin.cli import fail

        fail("--at: give the time zone too, e.g. 2026-03-29T09:00:00Z")
    return at


@oncall_app.command("who")
def who(
    service: Annotated[str, typer.Option(help="A service slug, e.g. checkout.")],
    at: Annotated[
        str | None, typer.Option(help="An ISO 8601 time with its zone; default: now.")
    ] = None,
) -> None:
    """Print who a page for SERVICE reaches, level by level, at a moment."""
    from tocsin.cli import fail, run_async, with_session
    from tocsin.errors import ProblemError
    from tocsin.oncall import service as oncall

    moment = _moment(at)

    async def _who(session: Any) -> Any:
        return await oncall.who_is_on_call(session, service, moment)

    try:
        answer = run_async(lambda s: with_session(s, _who))
    except ProblemError as exc:
        fail(exc.detail or exc.title)
        raise AssertionError from None
    if answer.policy is None:
        fail(f"{service} has no escalation policy: a page would reach nobody", code=2)
    typer.echo(f"{answer.service} at {answer.at.isoformat()} (policy {answer.policy})")
    for level in answer.levels:
        people = ", ".join(level.users) if level.users else "nobody"
        typer.echo(f"level {level.level}: {people}")


@oncall_app.command("schedules")
def schedules(
    at: Annotated[
        str | None, typer.Option(help="An ISO 8601 time with its zone; default: now.")
    ] = None,
) -> None:
    """Print every schedule: slug, team and who it puts on call at a moment."""
    from tocsin.cli import run_async, with_session
    from tocsin.oncall import service as oncall

    moment = _moment(at)

    async def _list(session: Any) -> list[tuple[str, str, str]]:
        rows = []
        for schedule in await oncall.list_schedules(session):
            ids = await oncall.on_call_user_ids(session, schedule.id, moment)
            labels = await oncall.user_labels(session, set(ids))
            rows.append(
                (schedule.slug, schedule.team or "-", ", ".join(labels[i] for i in ids) or "nobody")
            )
        return rows

    for slug, team, people in run_async(lambda s: with_session(s, _list)):
        typer.echo(f"{slug}\t{team}\t{people}")


def register(app: typer.Typer) -> None:
    app.add_typer(oncall_app, name="oncall")
