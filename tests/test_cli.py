"""The `tocsin` command against the test database: the installed script once, then each
command in process (see `tests/cli.py`)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.cli import tocsin
from tests.factories import PASSWORD, browser_login, make_user
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Role

TOCSIN = str(Path(sys.executable).with_name("tocsin"))


async def test_the_installed_script_starts_lists_every_command_and_exits(tmp_path: Path) -> None:
    """The entry point itself: the script, `main` adding each domain's commands, the exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env["TOCSIN_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    process = await asyncio.create_subprocess_exec(
        TOCSIN,
        "--help",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    for command in ("serve", "worker", "db", "user", "token", "incident", "oncall", "apply"):
        assert command in out.decode()


async def test_help_explains_each_command(database_url: str) -> None:
    run = await tocsin("--help", database_url=database_url)
    assert run.code == 0
    for command in ("serve", "worker", "db", "user", "token"):
        assert command in run.out
    db = await tocsin("db", "--help", database_url=database_url)
    assert "upgrade" in db.out and "check" in db.out


async def test_user_create_then_sign_in_with_that_password(
    database_url: str, client: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    run = await tocsin(
        "user",
        "create",
        "Ana@Example.test",
        "--role",
        "responder",
        "--name",
        "Ana",
        "--password-stdin",
        database_url=database_url,
        stdin="a long enough password\n",
    )
    assert run.code == 0, run.err
    assert run.out.strip() == "created ana@example.test (responder)"
    await browser_login(client, "ana@example.test", "a long enough password")
    me = (await client.get("/api/v1/me")).json()
    assert (me["name"], me["role"]) == ("Ana", "responder")
    async with sessionmaker() as session:
        entry = await session.scalar(
            sa.select(AuditEntry).where(AuditEntry.action == "user.create")
        )
    assert entry is not None
    assert (entry.actor_type, entry.actor_label) == ("system", "cli")
    assert entry.after is not None and entry.after["password_hash"] == "[redacted]"


async def test_user_create_refuses_bad_input_and_changes_nothing(
    database_url: str, session: AsyncSession
) -> None:
    await make_user(session, Role.VIEWER, email="taken@example.test")
    duplicate, bad_role, short = await asyncio.gather(
        tocsin(
            "user", "create", "taken@example.test", "--role", "admin", database_url=database_url
        ),
        tocsin("user", "create", "new@example.test", "--role", "root", database_url=database_url),
        tocsin(
            "user",
            "create",
            "new@example.test",
            "--role",
            "viewer",
            "--password-stdin",
            database_url=database_url,
            stdin="short\n",
        ),
    )
    assert duplicate.code == bad_role.code == short.code == 1
    assert "already exists" in duplicate.err
    assert "role" in bad_role.err and "admin" in bad_role.err  # lists the valid roles
    assert "password" in short.err
    await session.rollback()
    emails = (await session.scalars(sa.text("SELECT email FROM users"))).all()
    assert emails == ["taken@example.test"]


async def test_token_create_prints_only_a_working_token(
    database_url: str, client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.RESPONDER)
    run = await tocsin("token", "create", user.email, database_url=database_url)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tocsin_")
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {lines[0]}"})
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["via"]) == (user.email, "token")


async def test_token_scopes_from_the_command_line_narrow_the_token(
    database_url: str, client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.RESPONDER)
    run = await tocsin(
        "token", "create", user.email, "--scope", "catalog:read", database_url=database_url
    )
    assert run.code == 0, run.err
    headers = {"Authorization": f"Bearer {run.out.strip()}"}
    assert (await client.get("/api/v1/services", headers=headers)).status_code == 200
    # A responder may read users, but this token was narrowed to the catalog.
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 403


async def test_token_create_errors_name_the_problem(
    database_url: str, session: AsyncSession
) -> None:
    viewer = await make_user(session, Role.VIEWER)
    nobody, unknown, beyond = await asyncio.gather(
        tocsin("token", "create", "ghost@example.test", database_url=database_url),
        tocsin(
            "token", "create", viewer.email, "--scope", "catalog:nuke", database_url=database_url
        ),
        tocsin(
            "token", "create", viewer.email, "--scope", "users:manage", database_url=database_url
        ),
    )
    assert nobody.code == 1 and "no user with e-mail ghost@example.test" in nobody.err
    assert unknown.code == 1 and "unknown scope 'catalog:nuke'" in unknown.err
    assert beyond.code == 1 and "cannot grant users:manage" in beyond.err
    assert nobody.out == unknown.out == beyond.out == ""


async def test_db_upgrade_is_idempotent(
    database_url: str, client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.VIEWER)
    await session.commit()
    for _ in range(2):
        run = await tocsin("db", "upgrade", database_url=database_url)
        assert run.code == 0, run.err
        assert run.out.strip() == "database is up to date"
    await browser_login(client, user.email, PASSWORD)  # the data is still there


async def test_a_new_installation_gets_the_default_severities(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    run = await tocsin("db", "upgrade", database_url=url)
    assert run.code == 0, run.err
    exported = await tocsin("export", database_url=url)
    assert exported.code == 0, exported.err
    for severity in ("SEV1", "SEV2", "SEV3", "SEV4"):
        assert severity in exported.out
