"""The ingestion fast path answers exactly as the framework's routes do.

Monitoring tools rely on each endpoint's answers (status, content type, body); running the
handlers ahead of the framework must change none of them, keep the request visible to
metrics under its route, and still refuse what the routes refuse.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.test_alert_ingest_helpers import count, make_integration, make_service
from tocsin.alerts.models import Alert
from tocsin.alerts.normalized import SourceKind
from tocsin.app import create_app
from tocsin.config import Settings


@pytest.fixture
async def framework(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The same application with the fast path taken out: every request meets the routes."""
    application = create_app(settings)
    application.ingest_fast_path = None
    async with (
        LifespanManager(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://testserver") as c,
    ):
        yield c


def _alert(instance: str) -> dict[str, Any]:
    return {"labels": {"alertname": "Down", "instance": instance}, "annotations": {}}


IDENTITIES = {"id", "dedup_key", "fingerprint", "requestId"}
"""fields that name the stored alert or the request; each path stores alerts of its own"""


def _answer(response: httpx.Response) -> tuple[int, str, Any]:
    body: Any = response.content
    if response.headers.get("content-type", "").endswith("json") and response.content:
        body = _without_identities(json.loads(response.content))
    return response.status_code, response.headers.get("content-type", ""), body


def _without_identities(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_identities(v) for k, v in value.items() if k not in IDENTITIES}
    if isinstance(value, list):
        return [_without_identities(item) for item in value]
    return value


def _requests(am_key: str, genie_key: str, tag: str) -> list[tuple[str, dict[str, Any]]]:
    """One request of each kind an endpoint answers differently; `tag` keeps the alerts
    each path stores apart, so both see new alerts."""
    bearer = {"Authorization": f"Bearer {am_key}"}
    return [
        ("/api/v2/alerts", {"json": [_alert(f"{tag}-a")], "headers": bearer}),
        ("/api/v2/alerts", {"json": [{"labels": {}}], "headers": bearer}),
        ("/api/v2/alerts", {"content": b"{not json", "headers": bearer}),
        ("/api/v2/alerts", {"json": [_alert(tag)], "headers": {"Authorization": "Bearer no"}}),
        (f"/api/v1/ingest/{am_key}/alertmanager", {"json": [_alert(f"{tag}-b")]}),
        (f"/api/v1/ingest/{am_key}/opsgenie", {"json": [_alert(f"{tag}-b")]}),
        ("/api/v1/ingest/alertmanager", {"json": [_alert(f"{tag}-c")], "headers": bearer}),
        (f"/api/v1/heartbeat/{am_key}", {}),
        ("/v2/enqueue", {"json": {"routing_key": am_key, "event_action": "trigger"}}),
        ("/v2/enqueue", {"content": b"[", "headers": {"Content-Type": "application/json"}}),
        (
            f"/v2/alerts/{tag}/close?identifierType=alias",
            {"json": {}, "headers": {"Authorization": f"GenieKey {genie_key}"}},
        ),
    ]


async def test_every_answer_is_the_one_the_route_gives(
    client: AsyncClient,
    framework: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_service(session)
    am = await make_integration(session, SourceKind.ALERTMANAGER)
    genie = await make_integration(session, SourceKind.OPSGENIE)
    fast_requests = _requests(am.key, genie.key, "fast")
    routed_requests = _requests(am.key, genie.key, "routed")
    taken = REGISTRY.get_sample_value("tocsin_ingest_fast_requests_total") or 0.0
    for (path, options), (routed_path, routed_options) in zip(
        fast_requests, routed_requests, strict=True
    ):
        fast = await client.post(path, **options)
        routed = await framework.post(routed_path, **routed_options)
        assert _answer(fast) == _answer(routed), path
    assert await count(sessionmaker, Alert) == 6, "a, b and c of each path, stored once"
    fast_taken = REGISTRY.get_sample_value("tocsin_ingest_fast_requests_total")
    assert fast_taken == taken + len(fast_requests), "the fast path ran each of its requests"


async def test_an_unknown_kind_in_the_path_is_refused_naming_the_field(
    client: AsyncClient, framework: AsyncClient, session: AsyncSession
) -> None:
    await make_service(session)
    am = await make_integration(session, SourceKind.ALERTMANAGER)
    for each in (client, framework):
        response = await each.post(f"/api/v1/ingest/{am.key}/nagios", json=[_alert("a")])
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [error["field"] for error in response.json()["errors"]] == ["kind"]


async def test_requests_are_counted_under_their_route(
    client: AsyncClient, session: AsyncSession
) -> None:
    await make_service(session)
    am = await make_integration(session, SourceKind.ALERTMANAGER)
    labels = {"method": "POST", "route": "/api/v1/ingest/{key}/{kind}", "status": "200"}
    before = REGISTRY.get_sample_value("tocsin_http_requests_total", labels) or 0.0
    response = await client.post(f"/api/v1/ingest/{am.key}/alertmanager", json=[_alert("a")])
    assert response.status_code == 200
    assert REGISTRY.get_sample_value("tocsin_http_requests_total", labels) == before + 1


async def test_a_streamed_body_over_the_limit_is_refused_with_413_and_stores_nothing(
    client: AsyncClient,
    framework: AsyncClient,
    settings: Settings,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A sender that streams its body without a length is cut off at the limit by both paths."""
    await make_service(session)
    am = await make_integration(session, SourceKind.ALERTMANAGER)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'[{"labels": {"alertname": "Down"}, "annotations": {"description": "'
        for _ in range(settings.max_body_bytes // 4096 + 1):
            yield b"y" * 4096
        yield b'"}}]'

    for each in (client, framework):
        response = await each.post(
            "/api/v2/alerts",
            content=chunks(),
            headers={"Authorization": f"Bearer {am.key}", "Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
    assert await count(sessionmaker, Alert) == 0


async def test_the_callers_request_id_comes_back_and_a_missing_one_is_made(
    client: AsyncClient, session: AsyncSession
) -> None:
    await make_service(session)
    am = await make_integration(session, SourceKind.ALERTMANAGER)
    path = f"/api/v1/ingest/{am.key}/alertmanager"
    kept = await client.post(path, json=[_alert("a")], headers={"X-Request-Id": "prom-42"})
    assert kept.headers["x-request-id"] == "prom-42"
    made = [(await client.post(path, json=[_alert("b")])).headers["x-request-id"] for _ in "xy"]
    assert len(set(made)) == 2 and all(len(rid) == 32 for rid in made)
    refused = await client.post(path.replace(am.key, "nope"), json=[_alert("c")])
    assert refused.status_code == 401
    assert refused.headers["x-request-id"]
