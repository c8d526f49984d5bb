"""Operations: health and readiness probes, metrics, request logs, and the request guards."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import count_rows
from tests.factories import make_caller
from tocsin.app import create_app
from tocsin.auth.models import User
from tocsin.auth.permissions import Role
from tocsin.config import Settings, load_settings
from tocsin.observability import configure_logging

BODY_LIMIT = 4096


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url, log_level="warning", max_body_bytes=BODY_LIMIT)


async def test_healthz_answers_without_login(client: AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_the_database_answers(client: AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_readyz_is_503_problem_when_the_database_is_unreachable(tmp_path: Path) -> None:
    # A directory where the database file should be: every connection attempt fails, as it
    # does when a database server is down, without waiting on network time-outs.
    url = f"sqlite+aiosqlite:///{tmp_path}"
    application = create_app(load_settings(database_url=url))
    async with (
        LifespanManager(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://t") as client,
    ):
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    body = ready.json()
    assert body["status"] == 503
    assert body["checks"] == {"database": "unavailable"}
    assert str(tmp_path) not in ready.text  # nothing about the connection leaks to the caller
    # Liveness does not depend on the database: restarting the process would not help.
    assert alive.status_code == 200


def _sample(text: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_metrics_count_requests_and_time_them(client: AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    for _ in range(3):
        assert (await client.get("/api/v1/me")).status_code == 401
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    labels = {"method": "GET", "route": "/api/v1/me", "status": "401"}
    counted = _sample(after, "tocsin_http_requests_total", labels)
    assert counted - _sample(before, "tocsin_http_requests_total", labels) == 3
    timing = {"method": "GET", "route": "/api/v1/me"}
    timed = _sample(after, "tocsin_http_request_duration_seconds_count", timing)
    assert timed - _sample(before, "tocsin_http_request_duration_seconds_count", timing) == 3
    assert "tocsin_http_request_duration_seconds_bucket" in after
    # The route template is the label, never the raw path: ids cannot explode the series.
    await client.get("/api/v1/tokens/12345")
    assert 'route="/api/v1/tokens/{token_id}"' in (await client.get("/metrics")).text


@pytest.fixture
def json_logs() -> Iterator[None]:
    configure_logging("info", "json")
    yield
    structlog.reset_defaults()


async def test_one_json_log_line_per_request_with_its_request_id(
    client: AsyncClient, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")  # bind to the captured stderr
    capsys.readouterr()
    response = await client.get("/api/v1/me", headers={"X-Request-ID": "trace-7f3a"})
    assert response.headers["x-request-id"] == "trace-7f3a"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == 1
    entry = requests[0]
    assert entry["request_id"] == "trace-7f3a"
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/v1/me"
    assert entry["route"] == "/api/v1/me"
    assert entry["status"] == 401
    assert entry["level"] == "info"
    assert isinstance(entry["duration_ms"], int | float)
    assert entry["timestamp"].endswith("Z")


async def test_a_request_without_an_id_gets_one(client: AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["x-request-id"]
    second = (await client.get("/healthz")).headers["x-request-id"]
    assert first != second
    assert len(first) == 32
    too_long = (await client.get("/healthz", headers={"X-Request-ID": "x" * 65})).headers
    assert too_long["x-request-id"] != "x" * 65


@pytest.fixture
async def admin_headers(session: AsyncSession) -> dict[str, str]:
    return (await make_caller(session, Role.ADMIN)).headers


async def users(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Counted in a short transaction of its own: SQLite writers must not wait on the test."""
    async with sessionmaker() as s:
        return await count_rows(s, User)


async def test_oversized_body_is_413_and_stores_nothing(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_headers: dict[str, str],
) -> None:
    stored = await users(sessionmaker)
    big = {"email": "big@example.test", "role": "viewer", "name": "x" * BODY_LIMIT}
    response = await client.post("/api/v1/users", json=big, headers=admin_headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert str(BODY_LIMIT) in response.json()["detail"]
    assert await users(sessionmaker) == stored


async def test_oversized_streamed_body_without_length_is_413_too(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_headers: dict[str, str],
) -> None:
    stored = await users(sessionmaker)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "stream@example.test", "role": "viewer", "name": "'
        for _ in range(BODY_LIMIT // 512 + 1):
            yield b"y" * 512
        yield b'"}'

    response = await client.post(
        "/api/v1/users",
        content=chunks(),
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert await users(sessionmaker) == stored


async def test_a_body_under_the_limit_is_accepted(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = {"name": "z" * 200}
    response = await client.post("/api/v1/tokens", json=body, headers=admin_headers)
    assert response.status_code == 201


async def test_malformed_json_is_422_problem_and_stores_nothing(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_headers: dict[str, str],
) -> None:
    stored = await users(sessionmaker)
    response = await client.post(
        "/api/v1/users",
        content=b'{"email": "half@example.test", "role": ',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Invalid input"
    assert await users(sessionmaker) == stored


async def test_unknown_fields_and_bad_enums_are_422_naming_the_field(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_headers: dict[str, str],
) -> None:
    stored = await users(sessionmaker)
    unknown = await client.post(
        "/api/v1/users",
        json={"email": "u@example.com", "role": "viewer", "is_superuser": True},
        headers=admin_headers,
    )
    bad_enum = await client.post(
        "/api/v1/users", json={"email": "u@example.com", "role": "root"}, headers=admin_headers
    )
    assert unknown.status_code == bad_enum.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["is_superuser"]
    assert [e["field"] for e in bad_enum.json()["errors"]] == ["role"]
    assert await users(sessionmaker) == stored
