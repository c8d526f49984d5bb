"""Paging a person on their own terms: rules expand into deliveries sent through real
SMTP, webhook and Twilio-shaped servers, and an acknowledgement stops the rest."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Configure
from tests.factories import make_user
from tests.mail import Mailbox, smtp_server
from tocsin.auth.models import User
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.jobs.models import Job, JobStatus
from tocsin.jobs.worker import Worker
from tocsin.notifications import handlers as _handlers  # noqa: F401  (registers the jobs)
from tocsin.notifications import rules, service
from tocsin.notifications.message import Notification, Urgency
from tocsin.notifications.models import (
    Channel,
    ContactMethod,
    Delivery,
    DeliveryStatus,
    NotificationRule,
)

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token"
FROM = "+15005550006"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpServer:
    """A local HTTP server: answers with `status` (and `reply`) and records each request."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    reply: dict[str, Any] = field(default_factory=dict)
    check: Any = None


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    state = HttpServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got = Received(self.path, dict(self.headers.items()), body)
            state.requests.append(got)
            status, reply = state.status, state.reply
            if state.check is not None:
                status, reply = state.check(got)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    # serve_forever looks for shutdown() every poll_interval: 0.5 s by default, added to
    # every test that used the server.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def twilio_check(state: HttpServer) -> Any:
    """Answers like Twilio: basic auth with the account, 201 and a resource with a sid."""

    def check(got: Received) -> tuple[int, dict[str, Any]]:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if got.headers.get("Authorization") != expected:
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        form = dict(urllib.parse.parse_qsl(got.body.decode()))
        if state.status >= 300:
            return state.status, {"code": 21211, "message": "The 'To' number is not valid"}
        prefix = "SM" if got.path.endswith("/Messages.json") else "CA"
        sid = f"{prefix}{len(state.requests):032d}"
        return 201, {"sid": sid, "status": "queued", "to": form.get("To"), "from": form.get("From")}

    return check


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
def providers(configure: Configure, mailbox: tuple[Mailbox, int], http_server: HttpServer) -> None:
    http_server.check = twilio_check(http_server)
    configure(
        {
            "TOCSIN_SMTP_HOST": "127.0.0.1",
            "TOCSIN_SMTP_PORT": str(mailbox[1]),
            "TOCSIN_SMTP_STARTTLS": "false",
            "TOCSIN_SMTP_FROM": "Tocsin <pager@tocsin.example>",
            "TOCSIN_TWILIO_ACCOUNT_SID": SID,
            "TOCSIN_TWILIO_AUTH_TOKEN": TOKEN,
            "TOCSIN_TWILIO_FROM_NUMBER": FROM,
            "TOCSIN_TWILIO_API_BASE_URL": http_server.url,
            "TOCSIN_BASE_URL": "https://tocsin.example",
        }
    )


@pytest.fixture
async def run_worker(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Any]:
    async def run() -> int:
        return await Worker(settings, sessionmaker, worker_id="test-worker").run_once()

    yield run


async def add_method(
    session: AsyncSession, user: User, channel: Channel, address: str, secret: str | None = None
) -> ContactMethod:
    method = ContactMethod(user_id=user.id, channel=channel.value, address=address, secret=secret)
    session.add(method)
    await session.flush()
    return method


async def add_rule(
    session: AsyncSession, method: ContactMethod, urgency: Urgency, delay: int
) -> None:
    session.add(
        NotificationRule(
            user_id=method.user_id,
            contact_method_id=method.id,
            urgency=urgency.value,
            delay_minutes=delay,
        )
    )
    await session.flush()


def page(page_id: int | None = 41, **fields: Any) -> Notification:
    values: dict[str, Any] = {
        "subject": "checkout: error rate 12%",
        "body": "Checkout is failing for 12% of requests in eu-west-1.",
        "urgency": Urgency.HIGH,
        "source": "oncall.page",
        "dedup_key": f"page:{page_id}",
        "page_id": page_id,
        "link": f"https://tocsin.example/pages/{page_id}/ack?sig=abc123",
        **fields,
    }
    return Notification(**values)


async def deliveries(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with sessionmaker() as s:
        return list((await s.scalars(sa.select(Delivery).order_by(Delivery.id))).all())


async def test_high_urgency_page_walks_the_rules_until_acknowledged(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    providers: None,
    mailbox: tuple[Mailbox, int],
    http_server: HttpServer,
    run_worker: Any,
) -> None:
    user = await make_user(session, password=None, email="ada@example.test")
    mail = await add_method(session, user, Channel.EMAIL, "ada@work.example")
    sms = await add_method(session, user, Channel.SMS, "+14155550123")
    voice = await add_method(session, user, Channel.VOICE, "+14155550123")
    await add_rule(session, mail, Urgency.HIGH, 0)
    await add_rule(session, sms, Urgency.HIGH, 2)
    await add_rule(session, voice, Urgency.HIGH, 5)
    await add_rule(session, mail, Urgency.LOW, 0)
    await service.notify_user(session, user.id, page())
    await session.commit()

    await run_worker()  # three steps recorded; the e-mail, due at once, goes out
    rows = await deliveries(sessionmaker)
    assert [(d.channel, d.delay_minutes, d.status) for d in rows] == [
        ("email", 0, "sent"),
        ("sms", 2, "queued"),
        ("voice", 5, "queued"),
    ]
    box, _ = mailbox
    assert len(box.messages) == 1
    recipients, message = box.messages[0]
    assert recipients == ["ada@work.example"]
    assert message["Subject"] == "[PAGE] checkout: error rate 12%"
    assert message["From"] == "Tocsin <pager@tocsin.example>"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Acknowledge: https://tocsin.example/pages/41/ack?sig=abc123" in text.get_content()
    assert 'href="https://tocsin.example/pages/41/ack?sig=abc123"' in html.get_content()
    assert http_server.requests == []

    clock.advance(timedelta(minutes=2))
    await run_worker()
    assert len(http_server.requests) == 1
    sms_request = http_server.requests[0]
    assert sms_request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = dict(urllib.parse.parse_qsl(sms_request.body.decode()))
    assert (form["To"], form["From"]) == ("+14155550123", FROM)
    assert form["Body"].startswith("PAGE: checkout: error rate 12%")
    assert form["Body"].endswith("https://tocsin.example/pages/41/ack?sig=abc123")
    assert len(form["Body"]) <= 160

    # The on-call engineer acknowledges: the voice call waiting for its delay is stopped.
    assert await service.cancel_for_page(session, 41) == 1
    await session.commit()
    assert await service.cancel_for_page(session, 41) == 0
    await session.commit()
    clock.advance(timedelta(minutes=5))
    await run_worker()
    assert len(http_server.requests) == 1

    rows = await deliveries(sessionmaker)
    assert [(d.channel, d.status) for d in rows] == [
        ("email", "sent"),
        ("sms", "sent"),
        ("voice", "cancelled"),
    ]
    assert rows[1].provider_id is not None and rows[1].provider_id.startswith("SM")
    assert rows[0].attempts == 1 and rows[0].sent_at is not None


async def test_voice_call_reads_the_page_through_twiml(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    providers: None,
    http_server: HttpServer,
    run_worker: Any,
) -> None:
    user = await make_user(session, password=None)
    voice = await add_method(session, user, Channel.VOICE, "+442071838750")
    await add_rule(session, voice, Urgency.HIGH, 0)
    await service.notify_user(session, user.id, page(subject="Payments down"))
    await session.commit()
    await run_worker()
    await run_worker()
    assert [r.path for r in http_server.requests] == [f"/2010-04-01/Accounts/{SID}/Calls.json"]
    form = dict(urllib.parse.parse_qsl(http_server.requests[0].body.decode()))
    assert form["To"] == "+442071838750"
    assert form["Twiml"].startswith("<Response><Say>This is Tocsin. You are being paged.")
    assert "Payments down" in form["Twiml"]
    [row] = await deliveries(sessionmaker)
    assert row.status == "sent" and row.provider_id and row.provider_id.startswith("CA")


async def test_a_user_without_rules_gets_an_email_at_their_account_address(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    providers: None,
    mailbox: tuple[Mailbox, int],
    run_worker: Any,
) -> None:
    user = await make_user(session, password=None, email="grace@example.test")
    info = page(urgency=Urgency.LOW, page_id=None, link=None, dedup_key="info:1")
    await service.notify_user(session, user.id, info)
    await session.commit()
    await run_worker()
    await run_worker()
    box, _ = mailbox
    assert [rcpt for rcpt, _ in box.messages] == [["grace@example.test"]]
    assert box.messages[0][1]["Subject"] == "checkout: error rate 12%"
    [row] = await deliveries(sessionmaker)
    assert (row.contact_method_id, row.status) == (None, "sent")


async def test_asking_twice_delivers_once(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    providers: None,
    mailbox: tuple[Mailbox, int],
    run_worker: Any,
) -> None:
    user = await make_user(session, password=None)
    await service.notify_user(session, user.id, page())
    await service.notify_user(session, user.id, page())
    await session.commit()
    # Even a dispatch that runs twice (an expired lease) records each step once.
    assert len(await service.dispatch(session, user.id, page())) == 1
    assert await service.dispatch(session, user.id, page()) == []
    await session.commit()
    await run_worker()
    await run_worker()
    assert len(mailbox[0].messages) == 1
    assert len(await deliveries(sessionmaker)) == 1


async def test_acknowledged_before_dispatch_sends_only_the_immediate_step(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    providers: None,
    http_server: HttpServer,
    run_worker: Any,
) -> None:
    user = await make_user(session, password=None)
    sms = await add_method(session, user, Channel.SMS, "+14155550123")
    await add_rule(session, sms, Urgency.HIGH, 0)
    await add_rule(session, sms, Urgency.HIGH, 10)
    await service.notify_user(session, user.id, page(page_id=7))
    assert await service.cancel_for_page(session, 7) == 0
    await session.commit()
    await run_worker()
    clock.advance(timedelta(minutes=15))
    await run_worker()
    assert len(http_server.requests) == 1
    rows = await deliveries(sessionmaker)
    assert [(d.delay_minutes, d.status) for d in rows] == [(0, "sent"), (10, "cancelled")]


async def test_a_refused_number_dead_letters_at_once_and_a_busy_provider_is_retried(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    providers: None,
    http_server: HttpServer,
    run_worker: Any,
) -> None:
    user = await make_user(session, password=None)
    sms = await add_method(session, user, Channel.SMS, "+14155550123")
    await add_rule(session, sms, Urgency.HIGH, 0)
    http_server.status = 400
    await service.notify_user(session, user.id, page(page_id=1))
    await session.commit()
    await run_worker()
    await run_worker()
    [row] = await deliveries(sessionmaker)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error is not None and "21211" in row.error
    async with sessionmaker() as s:
        job = await s.get(Job, row.job_id)
        assert job is not None and job.status == JobStatus.DEAD.value

    http_server.status = 503
    await service.notify_user(session, user.id, page(page_id=2))
    await session.commit()
    await run_worker()
    await run_worker()
    second = (await deliveries(sessionmaker))[1]
    assert (second.status, second.attempts) == ("failed", 1)
    async with sessionmaker() as s:
        job = await s.get(Job, second.job_id)
        assert job is not None and job.status == JobStatus.QUEUED.value
        retry_at = job.run_at
    http_server.status = 201
    clock.set(retry_at + timedelta(seconds=1))
    await run_worker()
    second = (await deliveries(sessionmaker))[1]
    assert (second.status, second.attempts, second.error) == ("sent", 2, None)


async def test_refused_email_address_is_a_permanent_failure(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    providers: None,
    mailbox: tuple[Mailbox, int],
    run_worker: Any,
) -> None:
    user = await make_user(session, password=None, email="gone@example.test")
    mailbox[0].refuse.add("gone@example.test")
    await service.notify_user(session, user.id, page())
    await session.commit()
    await run_worker()
    await run_worker()
    [row] = await deliveries(sessionmaker)
    assert row.status == "failed" and row.error is not None and "550" in row.error
    async with sessionmaker() as s:
        job = await s.get(Job, row.job_id)
        assert job is not None and job.status == JobStatus.DEAD.value


async def test_webhook_is_signed_so_the_receiver_can_trust_it(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    providers: None,
    http_server: HttpServer,
    run_worker: Any,
) -> None:
    secret = "whsec-test-secret"

    def receiver(got: Received) -> tuple[int, dict[str, Any]]:
        header = got.headers.get(rules.SIGNATURE_HEADER, "")
        now = int(clock.now().timestamp())
        if not rules.verify(secret, header, got.body, now):
            return 401, {"error": "bad signature"}
        return 200, {"ok": True}

    http_server.check = receiver
    user = await make_user(session, password=None)
    hook = await add_method(session, user, Channel.WEBHOOK, f"{http_server.url}/hooks", secret)
    await add_rule(session, hook, Urgency.HIGH, 0)
    await service.notify_user(session, user.id, page(incident_id=None))
    await session.commit()
    await run_worker()
    await run_worker()
    [got] = http_server.requests
    assert got.path == "/hooks"
    payload = json.loads(got.body)
    assert payload["event"] == "notification"
    assert payload["subject"] == "checkout: error rate 12%"
    assert payload["page_id"] == 41 and payload["user_id"] == user.id
    assert got.headers["Idempotency-Key"].startswith("notifications.deliver:")
    [row] = await deliveries(sessionmaker)
    assert row.status == DeliveryStatus.SENT.value
    # A tampered body or another secret does not verify.
    header = got.headers[rules.SIGNATURE_HEADER]
    assert not rules.verify(secret, header, got.body + b" ", int(clock.now().timestamp()))
    assert not rules.verify("other", header, got.body, int(clock.now().timestamp()))
