"""Pages as chat direct messages: Slack through a local server speaking its Web API, Matrix
through a real Synapse homeserver, both with the war rooms' bot."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.chat.serving import serving
from tests.chat.slack import TOKEN, FakeSlack
from tests.chat.synapse import Homeserver
from tests.conftest import Configure, count_rows
from tests.factories import Caller, browser_login, make_caller, make_user
from tests.test_incident_warrooms_matrix import matrix, synapse  # noqa: F401  (fixture)
from tests.test_notifications import add_method, add_rule, deliveries, page
from tests.test_oncall import make_policy, paged, people, service_id  # noqa: F401  (fixture)
from tests.test_oncall import page as open_page
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.jobs.models import Job, JobStatus
from tocsin.jobs.worker import Worker
from tocsin.notifications import handlers as _handlers  # noqa: F401  (registers the jobs)
from tocsin.notifications import service
from tocsin.notifications.message import Urgency
from tocsin.notifications.models import Channel, ContactMethod

ME = "/api/v1/users/me"
ACK = "https://tocsin.example/pages/1/ack?sig=abc123"


@pytest.fixture
async def slack_server() -> AsyncIterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    async with serving(fake.app()) as base:
        yield fake, base


@pytest.fixture
def slack(slack_server: tuple[FakeSlack, str]) -> FakeSlack:
    return slack_server[0]


@pytest.fixture
def slack_env(slack_server: tuple[FakeSlack, str], configure: Configure) -> None:
    configure(
        {
            "TOCSIN_WARROOM_SLACK_BOT_TOKEN": TOKEN,
            "TOCSIN_WARROOM_SLACK_API_BASE_URL": slack_server[1] + "/api",
        },
    )


@pytest.fixture
def run_jobs(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    """Run every job that is due, including the ones due jobs enqueue for now."""

    async def run() -> None:
        worker = Worker(settings, sessionmaker, worker_id="test-worker")
        while await worker.run_once():
            pass

    return run


async def job_of(sessionmaker: async_sessionmaker[AsyncSession], job_id: int | None) -> Job:
    async with sessionmaker() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        return job


async def test_a_page_reaches_slack_and_its_acknowledge_button_stops_the_escalation(
    client: AsyncClient,
    session: AsyncSession,
    clock: FrozenClock,
    people: dict[str, Caller],  # noqa: F811
    slack: FakeSlack,
    slack_env: None,
    run_jobs: Any,
) -> None:
    ada, bob = people["ada"], people["bob"]
    member = slack.add_user(ada.user.email)
    added = await client.post(
        f"{ME}/contact-methods",
        json={"channel": "slack", "address": member.lower(), "label": "Slack"},
        headers=ada.headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["address"] == member
    rule = await client.post(
        f"{ME}/notification-rules",
        json={"contact_method_id": added.json()["id"], "urgency": "high"},
        headers=ada.headers,
    )
    assert rule.status_code == 201, rule.text
    await make_policy(
        client,
        ada,
        [
            {"timeout_minutes": 5, "targets": [{"type": "user", "id": ada.user.id}]},
            {"timeout_minutes": 5, "targets": [{"type": "user", "id": bob.user.id}]},
        ],
    )
    await open_page(session, await service_id(session))
    await run_jobs()

    dm = slack.dms[member]
    [message] = dm.messages
    assert message["text"].startswith("PAGE: [Page #1] Database down")
    header, section, actions, _footer = message["blocks"]
    assert header["text"]["text"] == "PAGE: [Page #1] Database down"
    assert section["text"]["text"] == "primary unreachable"
    [button] = actions["elements"]
    assert button["text"]["text"] == "Acknowledge" and "/oncall/ack/" in button["url"]
    [delivery] = (await client.get(f"{ME}/deliveries", headers=ada.headers)).json()
    assert (delivery["channel"], delivery["address"], delivery["status"]) == (
        "slack",
        member,
        "sent",
    )
    assert delivery["provider_id"] == f"{dm.id}/{message['ts']}"

    # The button opens the signed link; confirming there acknowledges without a login.
    path = button["url"][button["url"].index("/oncall/ack/") :]
    confirmed = await client.post(path)
    assert confirmed.status_code == 200 and "acknowledged" in confirmed.text
    clock.advance(timedelta(minutes=6))
    await run_jobs()
    assert [user for user, _ in await paged(session)] == [ada.user.id]  # bob is never paged
    assert len(dm.messages) == 1


async def test_a_failing_slack_is_retried_and_a_refused_member_is_final(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    slack: FakeSlack,
    slack_env: None,
    run_jobs: Any,
) -> None:
    user = await make_user(session, password=None)
    method = await add_method(session, user, Channel.SLACK, slack.add_user(user.email))
    await add_rule(session, method, Urgency.HIGH, 0)
    slack.down = True
    await service.notify_user(session, user.id, page(page_id=1))
    await session.commit()
    await run_jobs()
    [row] = await deliveries(sessionmaker)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error is not None and "HTTP 503" in row.error
    job = await job_of(sessionmaker, row.job_id)
    assert job.status == JobStatus.QUEUED.value

    # Back, but rate limiting: Slack's 429 is also a "come back later".
    slack.down, slack.rate_limited = False, 1
    clock.set(job.run_at + timedelta(seconds=1))
    await run_jobs()
    [row] = await deliveries(sessionmaker)
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.error is not None and "rate limited; retry after 30 s" in row.error
    job = await job_of(sessionmaker, row.job_id)
    assert job.status == JobStatus.QUEUED.value

    clock.set(job.run_at + timedelta(seconds=1))
    await run_jobs()
    [row] = await deliveries(sessionmaker)
    assert (row.status, row.attempts, row.error) == ("sent", 3, None)
    assert len(slack.dms[method.address].messages) == 1

    # A member ID Slack does not know is refused with ok:false; retrying cannot help.
    stranger = await make_user(session, password=None)
    unknown = await add_method(session, stranger, Channel.SLACK, "U0UNKNOWN")
    await add_rule(session, unknown, Urgency.HIGH, 0)
    await service.notify_user(session, stranger.id, page(page_id=2))
    await session.commit()
    await run_jobs()
    refused = (await deliveries(sessionmaker))[1]
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.error is not None and refused.error.endswith("user_not_found")
    assert (await job_of(sessionmaker, refused.job_id)).status == JobStatus.DEAD.value


async def test_an_unconfigured_slack_waits_for_its_configuration(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    configure: Configure,
    run_jobs: Any,
) -> None:
    configure({"TOCSIN_WARROOM_SLACK_BOT_TOKEN": None})
    user = await make_user(session, password=None)
    method = await add_method(session, user, Channel.SLACK, "U0ADA")
    await add_rule(session, method, Urgency.HIGH, 0)
    await service.notify_user(session, user.id, page())
    await session.commit()
    await run_jobs()
    [row] = await deliveries(sessionmaker)
    assert row.status == "failed" and "TOCSIN_WARROOM_SLACK_BOT_TOKEN" in (row.error or "")
    assert (await job_of(sessionmaker, row.job_id)).status == JobStatus.QUEUED.value


# --- Matrix ----------------------------------------------------------------------------


@dataclass
class Limiter:
    """A proxy in front of the homeserver that answers the next `limited` requests the way
    Synapse's rate limiter does (429, M_LIMIT_EXCEEDED, retry_after_ms)."""

    upstream: str
    limited: int = 0
    url: str = ""

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT"]
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)])

    async def handle(self, request: Request) -> Response:
        if self.limited:
            self.limited -= 1
            return JSONResponse(
                {
                    "errcode": "M_LIMIT_EXCEEDED",
                    "error": "Too Many Requests",
                    "retry_after_ms": 2000,
                },
                status_code=429,
            )
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as http:
            answer = await http.request(
                request.method,
                request.url.path,
                params=request.query_params,
                content=await request.body(),
                headers={"Authorization": request.headers.get("authorization", "")},
            )
        return Response(
            answer.content, answer.status_code, media_type=answer.headers.get("content-type")
        )


@pytest.fixture
async def limiter(synapse: Homeserver) -> AsyncIterator[Limiter]:  # noqa: F811
    proxy = Limiter(synapse.url)
    async with serving(proxy.app()) as url:
        proxy.url = url
        yield proxy


@pytest.fixture
def matrix_env(
    limiter: Limiter,
    synapse: Homeserver,  # noqa: F811
    configure: Configure,
) -> None:
    configure(
        {
            "TOCSIN_WARROOM_MATRIX_HOMESERVER_URL": limiter.url,
            "TOCSIN_WARROOM_MATRIX_ACCESS_TOKEN": synapse.bot_token,
        },
    )


def matrix_account(synapse: Homeserver) -> tuple[str, str]:  # noqa: F811
    """A fresh Matrix account (the homeserver lives for the whole test session)."""
    return synapse.register(f"oncall-{secrets.token_hex(4)}")


def invited(synapse: Homeserver, room: str, user: str) -> bool:  # noqa: F811
    """The person is invited to `room` as to a direct chat."""
    path = f"/rooms/{quote(room)}/state/m.room.member/{quote(user)}"
    member = matrix(synapse, synapse.bot_token, "GET", path)
    return bool(member["membership"] == "invite" and member.get("is_direct") is True)


async def test_matrix_pages_arrive_in_one_direct_room_with_the_acknowledge_link(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    synapse: Homeserver,  # noqa: F811
    matrix_env: None,
    run_jobs: Any,
) -> None:
    user = await make_user(session, password=None)
    matrix_user, token = matrix_account(synapse)
    method = await add_method(session, user, Channel.MATRIX, matrix_user)
    await add_rule(session, method, Urgency.HIGH, 0)
    await service.notify_user(session, user.id, page(page_id=1, link=ACK))
    await session.commit()
    await run_jobs()
    [row] = await deliveries(sessionmaker)
    assert row.status == "sent", row.error
    room, event_id = str(row.provider_id).split("/", 1)

    # The person finds an invitation to a direct chat with the bot, and the page in it.
    assert invited(synapse, room, matrix_user)
    matrix(synapse, token, "POST", f"/join/{quote(room)}")
    event = matrix(synapse, token, "GET", f"/rooms/{quote(room)}/event/{quote(event_id)}")
    assert event["sender"] == synapse.bot_user and event["type"] == "m.room.message"
    content = event["content"]
    assert content["body"].startswith("PAGE: checkout: error rate 12%")
    assert f"Acknowledge: {ACK}" in content["body"]
    assert f'<a href="{ACK}">Acknowledge</a>' in content["formatted_body"].replace("&amp;", "&")

    # The next page goes to the same room; once the person leaves it, a new one is opened.
    await service.notify_user(session, user.id, page(page_id=2))
    await session.commit()
    await run_jobs()
    second = (await deliveries(sessionmaker))[1]
    assert second.status == "sent" and str(second.provider_id).startswith(f"{room}/")
    matrix(synapse, token, "POST", f"/rooms/{quote(room)}/leave")
    await service.notify_user(session, user.id, page(page_id=3))
    await session.commit()
    await run_jobs()
    third = (await deliveries(sessionmaker))[2]
    assert third.status == "sent", third.error
    new_room = str(third.provider_id).split("/", 1)[0]
    assert new_room != room
    assert invited(synapse, new_room, matrix_user)


async def test_a_rate_limited_homeserver_is_retried_and_an_unknown_user_is_final(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    synapse: Homeserver,  # noqa: F811
    limiter: Limiter,
    matrix_env: None,
    run_jobs: Any,
) -> None:
    user = await make_user(session, password=None)
    matrix_user, _ = matrix_account(synapse)
    method = await add_method(session, user, Channel.MATRIX, matrix_user)
    await add_rule(session, method, Urgency.HIGH, 0)
    limiter.limited = 1
    await service.notify_user(session, user.id, page(page_id=1))
    await session.commit()
    await run_jobs()
    [row] = await deliveries(sessionmaker)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error is not None and "M_LIMIT_EXCEEDED" in row.error
    job = await job_of(sessionmaker, row.job_id)
    assert job.status == JobStatus.QUEUED.value
    clock.set(job.run_at + timedelta(seconds=1))
    await run_jobs()
    [row] = await deliveries(sessionmaker)
    assert (row.status, row.attempts, row.error) == ("sent", 2, None)

    nobody = await make_user(session, password=None)
    ghost = await add_method(session, nobody, Channel.MATRIX, "@nobody-here:tocsin.test")
    await add_rule(session, ghost, Urgency.HIGH, 0)
    await service.notify_user(session, nobody.id, page(page_id=2))
    await session.commit()
    await run_jobs()
    refused = (await deliveries(sessionmaker))[1]
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.error == "Matrix has no user @nobody-here:tocsin.test"
    assert (await job_of(sessionmaker, refused.job_id)).status == JobStatus.DEAD.value


# --- contact methods -------------------------------------------------------------------


async def test_chat_addresses_are_checked_per_kind_and_bad_ones_change_nothing(
    client: AsyncClient, session: AsyncSession
) -> None:
    me = await make_caller(session)
    before = await count_rows(session, ContactMethod)
    await session.rollback()
    for body in [
        {"channel": "slack", "address": "ada@example.com"},
        {"channel": "slack", "address": "#incidents"},
        {"channel": "matrix", "address": "ada"},
        {"channel": "matrix", "address": "!room:example.org"},
    ]:
        response = await client.post(f"{ME}/contact-methods", json=body, headers=me.headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == "address"
    assert await count_rows(session, ContactMethod) == before
    await session.rollback()

    added = await client.post(
        f"{ME}/contact-methods",
        json={"channel": "matrix", "address": "@ada:example.org"},
        headers=me.headers,
    )
    assert added.status_code == 201 and added.json()["address"] == "@ada:example.org"
    moved = await client.patch(
        f"{ME}/contact-methods/{added.json()['id']}", json={"address": "ada"}, headers=me.headers
    )
    assert moved.status_code == 422 and moved.json()["errors"][0]["field"] == "address"


async def test_the_page_offers_slack_and_matrix(client: AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, Role.VIEWER, email="chat-page@example.com")
    await session.commit()
    csrf = await browser_login(client, user.email)
    shown = await client.get("/notifications")
    assert '<option value="slack">' in shown.text and '<option value="matrix">' in shown.text

    bad = await client.post(
        "/notifications/contact-methods",
        data={"csrf_token": csrf, "channel": "slack", "address": "ada@example.com"},
    )
    assert bad.status_code == 422 and "address:" in bad.text and "member ID" in bad.text
    added = await client.post(
        "/notifications/contact-methods",
        data={"csrf_token": csrf, "channel": "slack", "address": "u024be7lh"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert "U024BE7LH" in (await client.get("/notifications")).text
