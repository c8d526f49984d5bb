"""The `tocsin` command line: serve, work, migrate, load the demo, manage users and tokens."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from tocsin.config import ConfigError, Settings, get_settings

T = TypeVar("T")

app = typer.Typer(
    help="Tocsin: incident management from the first alert to the lesson learned.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(
    help="Database schema: apply migrations, check for drift.", no_args_is_help=True
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def run_async(factory: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Runs one database use case with its own engine, then disposes of it."""
    settings = settings_or_exit()
    return asyncio.run(factory(settings))


async def with_session(settings: Settings, use: Callable[[Any], Awaitable[T]]) -> T:
    from tocsin.db.engine import make_engine, make_sessionmaker

    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            return await use(session)
    finally:
        await engine.dispose()


async def migrate(settings: Settings) -> None:
    """Bring the schema up to date and give a new installation its default severities."""
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.db.migrate import upgrade
    from tocsin.policy.service import ensure_default_policies

    engine = make_engine(settings)
    try:
        await upgrade(engine)
        async with make_sessionmaker(engine)() as session:
            await ensure_default_policies(session)
    finally:
        await engine.dispose()


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve HTTP only; run `tocsin worker` elsewhere.")
    ] = False,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port (one Python process uses one CPU); "
            "each runs its own in-process worker unless --no-worker.",
        ),
    ] = 1,
) -> None:
    """Apply migrations, then serve the web UI and API (with an in-process worker by default)."""
    import uvicorn

    from tocsin.app import create_app
    from tocsin.observability import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(migrate(settings))
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": True,
    }
    if processes == 1:
        uvicorn.run(create_app(settings, run_worker=not no_worker, prepare_routes=True), **options)
        return
    # Each process builds its own application (and caches) from the import string.
    factory = "served_web_only" if no_worker else "served_with_worker"
    uvicorn.run(f"tocsin.cli:{factory}", factory=True, workers=processes, **options)


def served_with_worker() -> Any:
    """The application of one `tocsin serve --processes N` process."""
    return _served(run_worker=True)


def served_web_only() -> Any:
    """The same for `--no-worker`."""
    return _served(run_worker=False)


def _served(*, run_worker: bool) -> Any:
    from tocsin.app import create_app
    from tocsin.observability import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, run_worker=run_worker, prepare_routes=True)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run the due jobs once, then exit.")] = False,
) -> None:
    """Run durable jobs (timers, deliveries, periodic tasks) until interrupted."""
    from tocsin.jobs.worker import run_worker_forever
    from tocsin.observability import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker_forever(settings, once=once))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations (creates the SQLite file if needed)."""
    run_async(migrate)
    typer.echo("database is up to date")


@db_app.command("check")
def db_check() -> None:
    """Fail when the models and the migrations disagree (used by CI)."""

    async def _check(settings: Settings) -> list[Any]:
        from tocsin.db.engine import make_engine
        from tocsin.db.migrate import drift, upgrade

        engine = make_engine(settings)
        try:
            await upgrade(engine)
            return await drift(engine)
        finally:
            await engine.dispose()

    differences = run_async(_check)
    if differences:
        for diff in differences:
            typer.echo(f"drift: {diff}", err=True)
        raise typer.Exit(1)
    typer.echo("models and migrations agree")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The user's e-mail address (their login).")],
    role: Annotated[
        str, typer.Option(help="admin, responder, communicator, stakeholder or viewer.")
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user. Without a password the user signs in through single sign-on only."""
    from tocsin.audit.service import Actor
    from tocsin.auth import service
    from tocsin.errors import ProblemError

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None

    async def _create(session: Any) -> Any:
        return await service.create_user(
            session,
            Actor.system("cli"),
            email=email,
            role=service.parse_role(role),
            name=name,
            password=password,
        )

    try:
        user = run_async(lambda s: with_session(s, _create))
    except ProblemError as exc:
        fail(exc.detail or exc.title)
    typer.echo(f"created {user.email} ({user.role})")


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Argument(help="Whose token (it acts with that user's role).")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Narrow the token to a permission; repeat for several."),
    ] = None,
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "cli",
) -> None:
    """Create an API token and print only the token (use it as `Authorization: Bearer …`)."""
    from tocsin.audit.service import Actor
    from tocsin.auth import service
    from tocsin.errors import ProblemError

    async def _create(session: Any) -> str:
        user = await service.find_user_by_email(session, email)
        if user is None:
            fail(f"no user with e-mail {email}")
            raise AssertionError
        scopes = service.parse_scopes(scope, "--scope") if scope else None
        issued = await service.create_token(
            session, Actor.system("cli"), user=user, name=name, scopes=scopes
        )
        return issued.secret

    try:
        secret = run_async(lambda s: with_session(s, _create))
    except ProblemError as exc:
        fail(exc.detail or exc.title)
    typer.echo(secret)


def _register_domain_commands() -> None:
    """Domains that bring their own commands add them here."""
    from tocsin.alerts import cli as alerts_cli
    from tocsin.comms import cli as comms_cli
    from tocsin.demo import cli as demo_cli
    from tocsin.incidents import cli as incidents_cli
    from tocsin.jobs import cli as jobs_cli
    from tocsin.manifest import cli as manifest_cli
    from tocsin.oncall import cli as oncall_cli

    jobs_cli.register(app)
    alerts_cli.register(app)
    manifest_cli.register(app)
    demo_cli.register(app)
    incidents_cli.register(app)
    oncall_cli.register(app)
    comms_cli.register(app)


def main() -> None:
    _register_domain_commands()
    app()


if __name__ == "__main__":
    main()
