"""Receiving alerts over HTTP, every format, on a real database.

Each format is sent the way its tool sends it (the Alertmanager, PagerDuty and Opsgenie
bodies are captures of a real Alertmanager 0.25), and each is checked for what a sender
relies on: a valid body is stored before the 2xx, a re-send changes nothing but the count,
and every refusal (malformed, oversized, wrong key, disabled, rate limited) stores nothing.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.test_alert_ingest_helpers import (
    WIRE,
    capture,
    count,
    events_of,
    make_integration,
    make_service,
    process_jobs,
    stored_alerts,
)
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert
from tocsin.alerts.normalized import SourceKind
from tocsin.alerts.schemas import IntegrationUpdate
from tocsin.audit.service import Actor
from tocsin.clock import FrozenClock
from tocsin.events import bus
from tocsin.jobs.registry import load_domain_handlers, registry
from tocsin.jobs.worker import Worker

Send = Callable[[AsyncClient, str, Any], Awaitable[httpx.Response]]


def keyed(kind: str) -> Send:
    async def send(client: AsyncClient, key: str, body: Any) -> httpx.Response:
        return await client.post(f"/api/v1/ingest/{key}/{kind}", json=body)

    return send


def bearer(path: str) -> Send:
    async def send(client: AsyncClient, key: str, body: Any) -> httpx.Response:
        return await client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})

    return send


def in_body(path: str, field: str) -> Send:
    async def send(client: AsyncClient, key: str, body: Any) -> httpx.Response:
        return await client.post(path, json={**body, field: key})

    return send


async def genie(client: AsyncClient, key: str, body: Any) -> httpx.Response:
    return await client.post("/v2/alerts", json=body, headers={"Authorization": f"GenieKey {key}"})


def webhook_body() -> Any:
    return capture("alertmanager-0.25-webhook-v4-pd-test.json")[0]


def pagerduty_body() -> Any:
    event = dict(capture("alertmanager-0.25-to-pagerduty-events-v2.json")[0])
    event.pop("routing_key")
    return event


GRAFANA = {
    "version": "1",
    "groupKey": '{}:{alertname="DiskFull"}',
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "db-1"},
            "annotations": {"summary": "disk 95% full"},
            "startsAt": "2026-01-05T08:55:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "0123456789abcdef",
            "dashboardURL": "https://grafana.example.test/d/1",
            "values": {"A": 95},
        }
    ],
    "title": "[FIRING:1] DiskFull",
}


@dataclass(frozen=True)
class Case:
    name: str
    kind: SourceKind
    send: Send
    valid: Callable[[], Any]
    ok_status: int
    malformed: Any
    malformed_status: int
    alerts: int = 1


CASES = [
    Case(
        "alertmanager-webhook",
        SourceKind.ALERTMANAGER,
        keyed("alertmanager"),
        webhook_body,
        200,
        {"version": "4", "alerts": [{"status": "firing"}]},
        422,
    ),
    Case(
        "alertmanager-webhook-bearer",
        SourceKind.ALERTMANAGER,
        bearer("/api/v1/ingest/alertmanager"),
        webhook_body,
        200,
        {"version": "3", "alerts": []},
        422,
    ),
    Case(
        "alertmanager-api-v2",
        SourceKind.ALERTMANAGER,
        bearer("/api/v2/alerts"),
        lambda: [
            {"labels": {"alertname": "Up", "job": "api"}, "annotations": {"summary": "down"}},
            {"labels": {"alertname": "Up", "job": "db"}},
        ],
        200,
        [{"annotations": {"summary": "no labels"}}],
        422,
        alerts=2,
    ),
    Case(
        "grafana",
        SourceKind.GRAFANA,
        keyed("grafana"),
        lambda: copy.deepcopy(GRAFANA),
        200,
        {"version": "1", "alerts": "not a list"},
        422,
    ),
    Case(
        "pagerduty-v2",
        SourceKind.PAGERDUTY,
        in_body("/v2/enqueue", "routing_key"),
        pagerduty_body,
        202,
        {"event_action": "trigger", "dedup_key": "x"},
        400,
    ),
    Case(
        "pagerduty-v1",
        SourceKind.PAGERDUTY,
        in_body("/generic/2010-04-15/create_event.json", "service_key"),
        lambda: {"event_type": "trigger", "incident_key": "disk-db-1", "description": "disk"},
        200,
        {"event_type": "trigger", "incident_key": "disk-db-1"},
        400,
    ),
    Case(
        "opsgenie",
        SourceKind.OPSGENIE,
        genie,
        lambda: capture("alertmanager-0.25-to-opsgenie-v2-create.json")[0],
        202,
        {"alias": "no message"},
        422,
    ),
    Case(
        "generic",
        SourceKind.GENERIC,
        keyed("generic"),
        lambda: {"title": "disk full", "status": "firing", "labels": {"host": "db-1"}},
        200,
        {"title": "disk full", "labels": "not an object"},
        422,
    ),
]
IDS = [case.name for case in CASES]


@pytest.fixture
async def service(session: AsyncSession) -> str:
    return await make_service(session)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_valid_body_is_stored_before_the_answer_and_a_resend_only_counts(
    case: Case,
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
    clock: FrozenClock,
) -> None:
    integration = await make_integration(session, case.kind)
    first = await case.send(client, integration.key, case.valid())
    assert first.status_code == case.ok_status, first.text
    stored = await stored_alerts(sessionmaker)
    assert len(stored) == case.alerts
    assert all(row.status == "firing" and row.receive_count == 1 for row in stored)
    assert len(await events_of(sessionmaker)) == case.alerts
    assert await decided_ids(sessionmaker) == [row.id for row in stored]

    clock.advance(timedelta(seconds=30))
    again = await case.send(client, integration.key, case.valid())
    assert again.status_code == case.ok_status, again.text
    resent = await stored_alerts(sessionmaker)
    assert [row.id for row in resent] == [row.id for row in stored]
    assert all(row.receive_count == 2 for row in resent)
    assert [row.starts_at for row in resent] == [row.starts_at for row in stored]
    assert len(await events_of(sessionmaker)) == case.alerts, "a re-send is not a state change"
    assert await decided_ids(sessionmaker) == [row.id for row in stored]


async def decided_ids(sessionmaker: async_sessionmaker[AsyncSession]) -> list[int]:
    """The alerts the queued decision jobs will decide (one job decides a whole request)."""
    jobs = await process_jobs(sessionmaker)
    return sorted(int(i) for job in jobs for i in job.payload["alert_ids"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_malformed_body_is_refused_naming_the_problem_and_stores_nothing(
    case: Case,
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, case.kind)
    response = await case.send(client, integration.key, case.malformed)
    assert response.status_code == case.malformed_status, response.text
    assert response.content, "a refusal says why"
    assert await count(sessionmaker, Alert) == 0
    assert await process_jobs(sessionmaker) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_an_oversized_body_gets_413_and_stores_nothing(
    case: Case,
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, case.kind)
    body = case.valid()
    padding = "x" * 1_100_000
    if isinstance(body, list):
        body[0]["annotations"] = {"description": padding}
    else:
        body["padding"] = padding
    response = await case.send(client, integration.key, body)
    assert response.status_code == 413
    assert await count(sessionmaker, Alert) == 0


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_wrong_key_gets_401_and_stores_nothing(
    case: Case,
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    await make_integration(session, case.kind)
    response = await case.send(client, "tocsin_int_not-a-key", case.valid())
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(sessionmaker, Alert) == 0


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_disabled_integration_is_refused_and_stores_nothing(
    case: Case,
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, case.kind)
    await alerts.update_integration(
        session, Actor.system("test"), integration.id, IntegrationUpdate(enabled=False)
    )
    response = await case.send(client, integration.key, case.valid())
    assert response.status_code == 403, response.text
    assert "disabled" in response.json()["detail"]
    assert await count(sessionmaker, Alert) == 0


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_over_the_rate_limit_gets_429_with_retry_after_and_stores_nothing(
    case: Case,
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
    clock: FrozenClock,
) -> None:
    integration = await make_integration(session, case.kind, rate_limit_per_minute=2)
    for _ in range(2):
        accepted = await case.send(client, integration.key, case.valid())
        assert accepted.status_code == case.ok_status, accepted.text
    before = [(row.id, row.receive_count) for row in await stored_alerts(sessionmaker)]

    refused = await case.send(client, integration.key, case.valid())
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 30
    after = [(row.id, row.receive_count) for row in await stored_alerts(sessionmaker)]
    assert after == before, "a refused request stores nothing"

    clock.advance(timedelta(seconds=30))
    retried = await case.send(client, integration.key, case.valid())
    assert retried.status_code == case.ok_status, "the retry after Retry-After is accepted"


async def test_a_key_of_another_kind_is_refused(
    client: AsyncClient, session: AsyncSession, service: str
) -> None:
    grafana = await make_integration(session, SourceKind.GRAFANA)
    response = await client.post(f"/api/v1/ingest/{grafana.key}/alertmanager", json={})
    assert response.status_code == 403
    assert "grafana integration" in response.json()["detail"]
    response = await client.post(
        "/api/v2/alerts", json=[], headers={"Authorization": f"Bearer {grafana.key}"}
    )
    assert response.status_code == 403


async def test_not_json_is_refused(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    response = await client.post(
        f"/api/v1/ingest/{integration.key}/alertmanager", content=b"{not json"
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    pagerduty = await client.post("/v2/enqueue", content=b"{not json")
    assert pagerduty.status_code == 400
    assert await count(sessionmaker, Alert) == 0


async def test_nan_and_infinity_are_refused_as_not_json(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    """Python's reader takes them, but they are not JSON and no JSON column keeps them."""
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'[{"labels": {"alertname": "Down"}, "annotations": {"value": %s}}]' % constant
        response = await client.post(
            f"/api/v1/ingest/{integration.key}/alertmanager",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, constant
        assert constant.decode().lstrip("-") in response.json()["detail"]
    assert await count(sessionmaker, Alert) == 0


# --- what each format does to the stored alert -----------------------------------------------


async def test_alertmanager_group_fires_then_resolves_with_alertmanagers_fingerprints(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    firing, resolved = capture("alertmanager-0.25-webhook-v4-pd-test.json")
    url = f"/api/v1/ingest/{integration.key}/alertmanager"
    assert (await client.post(url, json=firing)).status_code == 200
    assert (await client.post(url, json=resolved)).status_code == 200
    [alert] = await stored_alerts(sessionmaker)
    sent = resolved["alerts"][0]
    assert alert.fingerprint == sent["fingerprint"] == alert.dedup_key
    assert alert.status == "resolved"
    assert alert.ends_at is not None and alert.ends_at.isoformat().startswith(sent["endsAt"][:19])
    assert alert.summary == "checkout down"
    assert alert.severity == "critical"
    assert alert.group_key == firing["groupKey"]
    assert [event.kind for event in await events_of(sessionmaker)] == ["created", "resolved"]


async def test_a_webhook_log_of_real_notifications_is_stored_with_every_identity(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    lines = (WIRE / "alertmanager-0.25-webhook-v4.jsonl").read_text()
    bodies = [json.loads(line)["body"] for line in lines.splitlines() if line.strip()]
    for body in bodies:
        response = await client.post(f"/api/v1/ingest/{integration.key}/alertmanager", json=body)
        assert response.status_code == 200, response.text
    sent = {a["fingerprint"] for body in bodies for a in body["alerts"]}
    assert {row.fingerprint for row in await stored_alerts(sessionmaker)} == sent


async def test_pagerduty_trigger_then_resolve_answers_like_pagerduty(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.PAGERDUTY)
    trigger, resolve = capture("alertmanager-0.25-to-pagerduty-events-v2.json")
    for event in (trigger, resolve):
        response = await client.post("/v2/enqueue", json={**event, "routing_key": integration.key})
        assert response.status_code == 202
        assert response.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": trigger["dedup_key"],
        }
    [alert] = await stored_alerts(sessionmaker)
    assert alert.dedup_key == trigger["dedup_key"]
    assert alert.status == "resolved"
    assert alert.summary == trigger["payload"]["summary"]


async def test_pagerduty_trigger_without_dedup_key_gets_a_new_key_each_time(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.PAGERDUTY)
    body = {**pagerduty_body(), "routing_key": integration.key}
    body.pop("dedup_key")
    keys = [(await client.post("/v2/enqueue", json=body)).json()["dedup_key"] for _ in range(2)]
    assert keys[0] != keys[1]
    assert sorted(row.dedup_key for row in await stored_alerts(sessionmaker)) == sorted(keys)


async def test_a_resolve_for_an_unknown_key_is_accepted_and_stores_nothing(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.PAGERDUTY)
    response = await client.post(
        "/v2/enqueue",
        json={"routing_key": integration.key, "event_action": "resolve", "dedup_key": "never"},
    )
    assert response.status_code == 202
    assert await count(sessionmaker, Alert) == 0


async def test_opsgenie_create_then_close_by_alias(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.OPSGENIE)
    headers = {"Authorization": f"GenieKey {integration.key}"}
    create = capture("alertmanager-0.25-to-opsgenie-v2-create.json")[0]
    close = capture("alertmanager-0.25-to-opsgenie-v2-close.json")[0]
    created = await client.post("/v2/alerts", json=create, headers=headers)
    assert created.status_code == 202
    assert created.json()["result"] == "Request will be processed"
    refused = await client.post(f"/v2/alerts/{create['alias']}/close", json=close, headers=headers)
    assert refused.status_code == 422, "Opsgenie's default identifier type (id) is refused"
    closed = await client.post(
        f"/v2/alerts/{create['alias']}/close?identifierType=alias", json=close, headers=headers
    )
    assert closed.status_code == 202
    [alert] = await stored_alerts(sessionmaker)
    assert alert.dedup_key == create["alias"]
    assert alert.status == "resolved"
    assert [event.kind for event in await events_of(sessionmaker)] == ["created", "resolved"]


async def test_opsgenie_acknowledge_marks_the_alert(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.OPSGENIE)
    headers = {"Authorization": f"GenieKey {integration.key}"}
    await client.post("/v2/alerts", json={"message": "disk", "alias": "d1"}, headers=headers)
    response = await client.post("/v2/alerts/d1/acknowledge?identifierType=alias", headers=headers)
    assert response.status_code == 202
    [alert] = await stored_alerts(sessionmaker)
    assert alert.acknowledged and alert.status == "firing"


async def test_api_v2_endsat_in_the_past_resolves_and_a_later_start_refires(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
    clock: FrozenClock,
) -> None:
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    headers = {"Authorization": f"Bearer {integration.key}"}
    start = clock.now() - timedelta(minutes=5)
    labels = {"alertname": "Up", "job": "api"}
    firing = [{"labels": labels, "startsAt": start.isoformat()}]
    assert (await client.post("/api/v2/alerts", json=firing, headers=headers)).status_code == 200
    ended = [{"labels": labels, "startsAt": start.isoformat(), "endsAt": clock.now().isoformat()}]
    clock.advance(timedelta(seconds=1))
    assert (await client.post("/api/v2/alerts", json=ended, headers=headers)).status_code == 200
    [alert] = await stored_alerts(sessionmaker)
    assert alert.status == "resolved"
    clock.advance(timedelta(minutes=1))
    again = [{"labels": labels, "startsAt": clock.now().isoformat()}]
    assert (await client.post("/api/v2/alerts", json=again, headers=headers)).status_code == 200
    [alert] = await stored_alerts(sessionmaker)
    assert alert.status == "firing" and alert.starts_at == clock.now()
    kinds = [event.kind for event in await events_of(sessionmaker)]
    assert kinds == ["created", "resolved", "refired"]


async def test_generic_mapping_of_the_integration_is_used(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(
        session,
        SourceKind.GENERIC,
        mapping={"summary": "/msg", "dedup_key": "/id", "labels": "/tags"},
    )
    body = {"msg": "queue backed up", "id": "q-7", "tags": {"queue": "orders"}}
    response = await client.post(f"/api/v1/ingest/{integration.key}/generic", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["alerts"][0]["dedup_key"] == "q-7"
    [alert] = await stored_alerts(sessionmaker)
    assert alert.summary == "queue backed up" and alert.labels == {"queue": "orders"}


# --- after the commit: events out, the pipeline's job ------------------------------------


async def test_events_are_published_after_commit(
    client: AsyncClient, session: AsyncSession, service: str
) -> None:
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    firing, resolved = capture("alertmanager-0.25-webhook-v4-pd-test.json")
    url = f"/api/v1/ingest/{integration.key}/alertmanager"
    async with bus.stream() as queue:
        await client.post(url, json=firing)
        await client.post(url, json=firing)
        await client.post(url, json=resolved)
        names = []
        while not queue.empty():
            event = queue.get_nowait()
            if event.name.startswith("alert."):
                names.append((event.name, event.audience))
    assert names == [("alert.received", "alerts:read"), ("alert.resolved", "alerts:read")]


async def test_the_pipeline_job_records_what_was_decided_about_the_alert(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Any,
    service: str,
) -> None:
    load_domain_handlers()
    assert alerts.PROCESS_JOB in registry
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    response = await client.post(
        f"/api/v1/ingest/{integration.key}/alertmanager", json=webhook_body()
    )
    assert response.status_code == 200
    [alert] = await stored_alerts(sessionmaker)
    assert alert.decision is None
    worker = Worker(settings, sessionmaker, worker_id="alerts-test")
    assert await worker.run_once() == 1
    [alert] = await stored_alerts(sessionmaker)
    assert alert.decision == "paged"
    assert "paged the on-call of checkout" in alert.decision_reason
    [job] = await process_jobs(sessionmaker)
    assert job.status == "succeeded"


async def test_concurrent_resends_of_a_new_alert_give_one_alert(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> None:
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    url = f"/api/v1/ingest/{integration.key}/alertmanager"
    responses = await asyncio.gather(*(client.post(url, json=webhook_body()) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    [alert] = await stored_alerts(sessionmaker)
    assert alert.receive_count == 4
