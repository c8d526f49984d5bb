"""What every benchmark needs around the thing it measures: a free port, a server that is
ready, and a throw-away PostgreSQL database. The scripts import it as a sibling module."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def libpq(url: str) -> str:
    """postgresql+psycopg://… → postgresql://… for raw psycopg connections."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def wait_ready(url: str, child: subprocess.Popen[bytes], tries: int = 300) -> None:
    """Poll `url` every 0.1 s until it answers 200; fail at once if the server exits."""
    async with httpx.AsyncClient() as client:
        for _ in range(tries):
            if child.poll() is not None:
                raise RuntimeError(f"{url}: the server exited with {child.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


@contextlib.asynccontextmanager
async def postgres_database(server: str, prefix: str = "tocsin_bench") -> AsyncIterator[str]:
    """A fresh database on `server` (a SQLAlchemy URL), dropped afterwards whatever happens."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = server.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(libpq(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank value at `share` (0.99 for p99); NaN when nothing was measured, so an
    empty run shows as such instead of failing the report."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]
