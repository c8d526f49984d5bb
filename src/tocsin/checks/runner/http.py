"""One HTTP request of a check: render placeholders, send, judge, extract."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from tocsin.checks import assertions
from tocsin.checks.runner.outcome import StepOutcome
from tocsin.checks.templating import MissingValue, render

USER_AGENT = "Tocsin-Synthetic/1"


async def run_step(
    client: httpx.AsyncClient,
    step: dict[str, Any],
    variables: dict[str, str],
    secrets: Mapping[str, str],
) -> StepOutcome:
    """Runs the step and adds what it extracts to `variables` for the steps after it."""
    name = str(step.get("name") or step["url"])
    try:
        url = render(step["url"], variables, secrets)
        headers = {k: render(v, variables, secrets) for k, v in step.get("headers", {}).items()}
        body = step.get("body")
        content = render(body, variables, secrets).encode() if body is not None else None
    except MissingValue as exc:
        return StepOutcome(name, False, 0.0, error=str(exc))
    headers.setdefault("user-agent", USER_AGENT)
    started = time.perf_counter()
    try:
        response = await client.request(
            step.get("method", "GET"), url, headers=headers, content=content
        )
    except httpx.TimeoutException:
        return StepOutcome(name, False, _ms(started), error="timed out")
    except httpx.HTTPError as exc:
        return StepOutcome(name, False, _ms(started), error=f"request failed: {exc}")
    observed = assertions.Observed(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=response.text,
        elapsed_ms=_ms(started),
    )
    checks = step.get("assertions") or [{"type": "status", "equals": 200}]
    for assertion in checks:
        failure = assertions.check(assertion, observed)
        if failure is not None:
            return StepOutcome(name, False, observed.elapsed_ms, response.status_code, failure)
    for extraction in step.get("extract", []):
        value = assertions.extract(extraction, observed)
        if value is None:
            return StepOutcome(
                name,
                False,
                observed.elapsed_ms,
                response.status_code,
                f"could not extract {extraction['var']}",
            )
        variables[str(extraction["var"])] = value
    return StepOutcome(name, True, observed.elapsed_ms, response.status_code)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
