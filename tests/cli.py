"""The `tocsin` command run inside the test process, as an operator would type it.

Starting the installed script costs seconds per call (a new interpreter importing the whole
application); the command's behaviour (output, exit code, effect on the database) is the same
when its Click command is invoked here. One test in `test_cli.py` still starts the real script.

The command reads its settings from `TOCSIN_*` variables through the cached `get_settings`, so
a run sees only the variables given here (none of the machine's) and leaves neither the
variables nor the cached settings, nor the logging set-up of `tocsin worker`, behind.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import traceback
from dataclasses import dataclass

import click
import structlog
import typer
from click.testing import CliRunner

from tocsin import cli
from tocsin.config import get_settings

_one_at_a_time = threading.Lock()
"""Runs share the process's environment, standard streams and settings cache."""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@functools.cache
def command() -> click.Command:
    """The full `tocsin` command, with the commands each domain adds, as `main` builds it."""
    if not any(group.name == "jobs" for group in cli.app.registered_groups):
        cli._register_domain_commands()
    return typer.main.get_command(cli.app)


def run_tocsin(
    *args: str,
    database_url: str | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """`tocsin ARGS` with only `TOCSIN_DATABASE_URL` (when given) and `env` configured."""
    environment: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TOCSIN_")}
    if database_url is not None:
        environment["TOCSIN_DATABASE_URL"] = database_url
    environment.update(env or {})
    with _one_at_a_time:
        logging_before = structlog.get_config()
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(
                command(), list(args), input=stdin, env=environment, catch_exceptions=True
            )
        finally:
            get_settings.cache_clear()
            structlog.configure(**logging_before)
    err = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        # What the real process would print for a crash, so assertions show the cause.
        err += "".join(traceback.format_exception(*result.exc_info))
    return Run(result.exit_code, result.stdout, err)


async def tocsin(
    *args: str,
    database_url: str | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """The same from an async test: the command runs its own event loop (`asyncio.run`), so
    it runs in a thread while the test's loop waits."""
    return await asyncio.to_thread(
        run_tocsin, *args, database_url=database_url, stdin=stdin, env=env
    )
