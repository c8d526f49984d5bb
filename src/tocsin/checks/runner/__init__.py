"""Probes that talk to the outside world: one module per check kind, one `run` entry point.

Runners never touch the database; they take a check's definition and resolved secrets and
return an `Outcome` whose text has already been stripped of secret values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tocsin.checks.runner import dns, tcp, tls, transaction
from tocsin.checks.runner.outcome import Outcome, StepOutcome
from tocsin.checks.templating import redact

__all__ = ["Outcome", "StepOutcome", "run"]


async def run(
    kind: str,
    spec: dict[str, Any],
    *,
    secrets: Mapping[str, str],
    limit_seconds: float,
    now: datetime,
) -> Outcome:
    started = time.perf_counter()
    if kind in {"http", "transaction"}:
        outcome = await transaction.run(spec["steps"], secrets=secrets, limit_seconds=limit_seconds)
    elif kind == "tcp":
        outcome = await tcp.run(spec["host"], int(spec["port"]), limit_seconds=limit_seconds)
    elif kind == "dns":
        outcome = await dns.run(spec, limit_seconds=limit_seconds)
    elif kind == "tls":
        outcome = await tls.run(spec, limit_seconds=limit_seconds, now=now)
    else:
        raise ValueError(f"unknown check kind {kind!r}")
    if outcome.latency_ms is None:
        outcome.latency_ms = (time.perf_counter() - started) * 1000
    return outcome.redacted(secrets.values(), redact)
