"""API shapes of synthetic checks, their results and secrets."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, StringConstraints, model_validator

from tocsin.schemas import Input, Output

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
Label = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]
SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")]
Kind = Literal["http", "transaction", "tcp", "dns", "tls"]


def _regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


class AssertionIn(Input):
    type: Literal["status", "latency", "header", "body", "regex", "json"]
    equals: Any = None
    max_ms: float | None = Field(default=None, gt=0)
    name: str | None = None
    contains: str | None = None
    pattern: str | None = None
    path: str | None = None
    """a JMESPath expression, e.g. `cart.items[0].sku`"""

    @model_validator(mode="after")
    def _complete(self) -> AssertionIn:
        needs = {
            "status": "equals",
            "latency": "max_ms",
            "header": "name",
            "body": "contains",
            "regex": "pattern",
            "json": "path",
        }[self.type]
        if getattr(self, needs) is None:
            raise ValueError(f"a {self.type} assertion needs {needs}")
        if self.type == "status" and not isinstance(self.equals, int):
            raise ValueError("a status assertion's equals must be a number")
        if self.pattern is not None:
            _regex(self.pattern)
        if self.path is not None:
            try:
                jmespath.compile(self.path)
            except JMESPathError as exc:
                raise ValueError(f"not a valid JMESPath expression: {exc}") from None
        return self


class ExtractIn(Input):
    var: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    source: Literal["json", "header", "regex"] = Field(alias="from")
    path: str | None = None
    name: str | None = None
    pattern: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> ExtractIn:
        needs = {"json": "path", "header": "name", "regex": "pattern"}[self.source]
        if getattr(self, needs) is None:
            raise ValueError(f"extracting from {self.source} needs {needs}")
        if self.pattern is not None:
            _regex(self.pattern)
        return self


class StepIn(Input):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    assertions: list[AssertionIn] = Field(default_factory=list, max_length=50)
    extract: list[ExtractIn] = Field(default_factory=list, max_length=50)


class SpecIn(Input):
    """What a check probes; which fields apply depends on the kind (see docs/checks.md)."""

    steps: list[StepIn] = Field(default_factory=list, max_length=30)
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    record_name: str | None = None
    record_type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"] = "A"
    nameserver: str | None = None
    expect: list[str] = Field(default_factory=list)
    min_days_left: int = Field(default=14, ge=0, le=3650)
    server_name: str | None = None


class CheckCreate(Input):
    slug: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    service: str
    kind: Kind
    spec: SpecIn
    interval_seconds: int = Field(default=60, ge=10, le=86400)
    jitter_seconds: int = Field(default=10, ge=0, le=3600)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    failure_threshold: int = Field(default=3, ge=1, le=100)
    locations: list[Label] = Field(default_factory=list, max_length=20)
    """worker locations that run it; empty means the default location"""
    enabled: bool = True


class CheckUpdate(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    spec: SpecIn | None = None
    interval_seconds: int | None = Field(default=None, ge=10, le=86400)
    jitter_seconds: int | None = Field(default=None, ge=0, le=3600)
    timeout_seconds: float | None = Field(default=None, gt=0, le=120)
    failure_threshold: int | None = Field(default=None, ge=1, le=100)
    locations: list[Label] | None = Field(default=None, max_length=20)
    enabled: bool | None = None


class StepResultOut(Output):
    name: str
    ok: bool
    elapsed_ms: float
    status: int | None
    error: str | None


class ResultOut(Output):
    id: int
    check: str
    location: str
    started_at: datetime
    ok: bool
    latency_ms: float | None
    error: str | None
    """the failing assertion, or what went wrong"""
    failed_step: str | None
    detail: str
    steps: list[StepResultOut]
    trigger: str
    requested_by: str | None


class CheckOut(Output):
    id: int
    slug: str
    name: str
    service: str
    kind: str
    spec: dict[str, Any]
    interval_seconds: int
    jitter_seconds: int
    timeout_seconds: float
    failure_threshold: int
    locations: list[str]
    enabled: bool
    status: str
    """unknown, up or down"""
    consecutive_failures: int
    last_run_at: datetime | None
    last_failure_at: datetime | None
    green_since: datetime | None
    """since when every run has passed; none while down or never run"""


class StatsOut(Output):
    window_hours: int
    runs: int
    uptime_percent: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None


class CheckDetail(CheckOut):
    stats: StatsOut
    results: list[ResultOut]


class RunRequested(Output):
    checks: list[str]
    runs_queued: int


class SecretIn(Input):
    name: SecretName
    value: Annotated[str, StringConstraints(min_length=1, max_length=10000, strip_whitespace=False)]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""


class SecretOut(Output):
    """Never the value: once stored, a secret can be replaced but not read back."""

    name: str
    description: str
    created_at: datetime
    updated_at: datetime
