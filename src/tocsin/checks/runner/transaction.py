"""A sequence of HTTP steps sharing cookies and variables; it stops at the first failure,
because a checkout after a failed login would only report a misleading second error."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from functools import cache
from typing import Any

import certifi
import httpx

from tocsin.checks.runner.http import run_step
from tocsin.checks.runner.outcome import Outcome


@cache
def _tls() -> ssl.SSLContext:
    """One verifying context for every run: building one (loading the CA bundle) costs more
    CPU than a whole probe of a local target."""
    return ssl.create_default_context(cafile=certifi.where())


async def run(
    steps: list[dict[str, Any]], *, secrets: Mapping[str, str], limit_seconds: float
) -> Outcome:
    variables: dict[str, str] = {}
    outcome = Outcome(ok=True, latency_ms=0.0)
    async with httpx.AsyncClient(
        timeout=limit_seconds, follow_redirects=True, verify=_tls()
    ) as client:
        for step in steps:
            result = await run_step(client, step, variables, secrets)
            outcome.steps.append(result)
            outcome.latency_ms = (outcome.latency_ms or 0.0) + result.elapsed_ms
            if not result.ok:
                outcome.ok = False
                outcome.failed_step = result.name
                outcome.error = f"{result.name}: {result.error}"
                break
    return outcome
