"""Loopback ports for the real servers the suite starts (SMTP, Alertmanager, Synapse, …), and
`tocsin serve` itself in a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

TOCSIN = str(Path(sys.executable).with_name("tocsin"))
STARTUP_SECONDS = 120
"""start-up (imports, route preparation) takes a while on a busy machine"""


def free_port() -> int:
    """A port nothing listens on right now; the caller binds it next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def tocsin_serve(database_url: str, *options: str) -> AsyncIterator[str]:
    """`tocsin serve --no-worker OPTIONS` on a free port and the given database, until it
    answers `/readyz`; yields its base URL. Fails at once if the server exits."""
    port = free_port()
    env = {**os.environ, "TOCSIN_DATABASE_URL": database_url, "TOCSIN_LOG_LEVEL": "warning"}
    process = await asyncio.create_subprocess_exec(
        TOCSIN, "serve", "--no-worker", *options, "--port", str(port), env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client, asyncio.timeout(STARTUP_SECONDS):
            while True:
                if process.returncode is not None:
                    pytest.fail(f"tocsin serve exited with {process.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{base}/readyz")).is_success:
                        break
                await asyncio.sleep(0.2)
        yield base
    finally:
        process.terminate()
        await process.wait()
