"""A job committed by another process or node wakes an idle worker at once: on PostgreSQL
through NOTIFY, on SQLite (processes of one machine sharing the file) through the doorbell."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tocsin.config import Settings
from tocsin.jobs import doorbell, service
from tocsin.jobs.registry import JobContext, Registry, job_handler
from tocsin.jobs.worker import Worker


async def test_job_committed_by_another_process_wakes_an_idle_worker_at_once(
    db_kind: str,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
) -> None:
    handlers = Registry()
    done = asyncio.Event()

    @job_handler("page", into=handlers)
    async def page(ctx: JobContext, payload: dict[str, Any]) -> None:
        done.set()

    # This process's commit hook is switched off, as if the job came from another process:
    # only NOTIFY or the doorbell can wake the worker, and its poll is far longer than the
    # test waits.
    worker = Worker(
        settings.model_copy(update={"worker_poll_seconds": 60}),
        sessionmaker,
        registry=handlers,
        local_wakeups=False,
    )
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            await worker.idle.wait()
        await service.schedule(session, "page")
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        await worker.stop()
        await task
    if db_kind == "sqlite":
        directory = doorbell.bell_directory(settings.database_url)
        assert directory is not None and not directory.exists()  # the worker left no socket


def test_only_sqlite_files_have_a_doorbell(tmp_path: Path) -> None:
    assert doorbell.bell_directory("postgresql+psycopg://db/tocsin") is None
    assert doorbell.bell_directory("sqlite+aiosqlite:///:memory:") is None
    one = doorbell.bell_directory(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    other = doorbell.bell_directory(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert one is not None and other is not None and one != other
    assert len(str(one / "0123456789-abcdef01.sock")) < 100  # fits a socket address


def test_a_listener_that_has_gone_is_forgotten(tmp_path: Path) -> None:
    directory = tmp_path / "bell"
    directory.mkdir()
    live = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    live.bind(str(directory / "live.sock"))
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    gone.bind(str(directory / "gone.sock"))
    gone.close()  # a process that died without cleaning up leaves its socket file
    try:
        doorbell.Ringer(directory).ring()
        assert live.recv(8) == b"!"
        assert sorted(p.name for p in directory.iterdir()) == ["live.sock"]
    finally:
        live.close()
