"""TCP connect: the port accepts a connection within the timeout."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tocsin.checks.runner.outcome import Outcome


async def run(host: str, port: int, *, limit_seconds: float) -> Outcome:
    started = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit_seconds)
    except TimeoutError:
        return Outcome(False, _ms(started), error=f"connecting to {host}:{port} timed out")
    except OSError as exc:
        return Outcome(
            False, _ms(started), error=f"cannot connect to {host}:{port}: {exc.strerror or exc}"
        )
    elapsed = _ms(started)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Outcome(True, elapsed, detail=f"connected to {host}:{port}")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
