"""The receiving endpoints: where monitoring tools post alerts, in their own formats.

These routes authenticate the sender by an integration key, not a user: in the URL, as a
bearer token (Prometheus and the OpenTelemetry Collector send `Authorization: Bearer`), as
Opsgenie's `Authorization: GenieKey`, or as PagerDuty's `routing_key` in the body. Each
answers the way the tool it imitates answers, so the tools work unmodified.

Order of checks, each refusing before anything is stored: key (401), integration enabled
and of the right kind (403), rate limit (429 with Retry-After), body (400/422), then the
durable write; only after its commit does the sender get its 2xx.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts import service as alerts
from tocsin.alerts.formats import alertmanager, generic, grafana, opsgenie, pagerduty
from tocsin.alerts.formats.errors import AlertFormatError
from tocsin.alerts.normalized import NormalizedAlert, SourceKind
from tocsin.alerts.ratelimit import RateLimiter
from tocsin.alerts.schemas import AcceptedAlert, IngestAccepted
from tocsin.alerts.service.group_commit import GroupCommit
from tocsin.alerts.service.ingestion import Post
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.db.session import get_session
from tocsin.errors import ProblemError


class IngestionKey(Requires):
    """Public as far as user sign-in goes: the route checks the integration key itself.

    Unlike `Requires(PUBLIC)` it does not read `Authorization` as a user's API token, since
    here a bearer token is an integration key.
    """

    def __init__(self) -> None:
        super().__init__(Permission.PUBLIC)

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return Principal.anonymous()


router = APIRouter(tags=["ingestion"], dependencies=[Depends(IngestionKey())])
DB = Depends(get_session)

Parser = Callable[[Any, alerts.Sender, datetime], list[NormalizedAlert]]
Answer = Callable[[list[alerts.Stored]], Response]
Rejection = Callable[[AlertFormatError], Response]


def _header_key(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in {"bearer", "geniekey"}:
        return credentials.strip()
    return ""


def _limiter(request: Request) -> RateLimiter:
    limiter = getattr(request.app.state, "alert_rate_limiter", None)
    if not isinstance(limiter, RateLimiter):
        limiter = RateLimiter()
        request.app.state.alert_rate_limiter = limiter
    return limiter


async def _sender(
    request: Request, session: AsyncSession, key: str, kinds: set[SourceKind]
) -> alerts.Sender:
    sender = await alerts.sender_for_key(session, key)
    if sender is None:
        raise ProblemError(
            401,
            "Unknown integration key",
            "send the integration's key in the URL, as a bearer token or as the routing key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not sender.enabled:
        raise ProblemError(403, "Integration disabled", "this integration is disabled")
    if sender.kind not in kinds:
        expected = " or ".join(sorted(kind.value for kind in kinds))
        raise ProblemError(
            403,
            "Wrong integration kind",
            f"this key belongs to a {sender.kind.value} integration; this endpoint takes "
            f"{expected} integrations",
        )
    decision = _limiter(request).check(
        sender.integration_id,
        per_minute=sender.rate_limit_per_minute,
        now=utcnow().timestamp(),
    )
    if not decision.allowed:
        raise ProblemError(
            429,
            "Too many requests",
            f"this integration accepts {sender.rate_limit_per_minute} requests a minute; "
            "nothing of this request was stored, send it again later",
            headers={"Retry-After": str(decision.retry_after)},
        )
    if session.in_transaction():
        # End the look-up's transaction before the write (SQLite holds one writer at a time).
        await session.commit()
    return sender


def _writer(request: Request) -> GroupCommit:
    """The application's one writer, on the same database as the request's session."""
    writer = getattr(request.app.state, "alert_writer", None)
    if not isinstance(writer, GroupCommit):
        writer = GroupCommit(request.app.state.sessionmaker)
        request.app.state.alert_writer = writer
    return writer


def _json(raw: bytes, *, empty: object = ...) -> object:
    if not raw.strip() and empty is not ...:
        return empty
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlertFormatError.at((), f"must be a JSON document ({exc})") from None


def _problem(error: AlertFormatError) -> Response:
    raise ProblemError(422, "Invalid alert", str(error), errors=error.problem_errors())


def _accepted(stored: list[alerts.Stored]) -> Response:
    body = IngestAccepted(
        alerts=[
            AcceptedAlert(
                id=item.alert_id,
                dedup_key=item.dedup_key,
                fingerprint=item.fingerprint,
                status=item.status.value,
                transition=item.change,
            )
            for item in stored
        ]
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200)


async def _receive(
    request: Request,
    session: AsyncSession,
    *,
    key: str | None,
    kinds: set[SourceKind],
    parse: Parser,
    answer: Answer,
    reject: Rejection,
    empty_body: object = ...,
) -> Response:
    raw = await request.body()
    try:
        body = _json(raw, empty=empty_body)
    except AlertFormatError as exc:
        if key is None:  # the key is inside the body: who is asking is not known yet
            raise ProblemError(400, "Invalid JSON", str(exc)) from None
        body = exc
    if key is None:
        key = pagerduty.routing_key(body) or _header_key(request)
    sender = await _sender(request, session, key, kinds)
    try:
        if isinstance(body, AlertFormatError):
            raise body
        parsed = parse(body, sender, utcnow())
    except AlertFormatError as exc:
        return reject(exc)
    stored = await _writer(request).ingest(Post(sender, parsed))
    return answer(stored)


# --- Tocsin's own URL: one per integration, the format follows the integration's kind ----


def _by_kind(body: Any, sender: alerts.Sender, now: datetime) -> list[NormalizedAlert]:
    match sender.kind:
        case SourceKind.ALERTMANAGER:
            if isinstance(body, list):
                return alertmanager.parse_api_v2(body, now=now)
            return alertmanager.parse_webhook(body, now=now)
        case SourceKind.GRAFANA:
            return grafana.parse_webhook(body, now=now)
        case SourceKind.PAGERDUTY:
            if isinstance(body, dict) and "event_type" in body and "event_action" not in body:
                return pagerduty.parse_events_v1(body, now=now)
            return pagerduty.parse_events_v2(body, now=now)
        case SourceKind.OPSGENIE:
            return opsgenie.parse_create(body, now=now)
        case SourceKind.GENERIC:
            mapping = generic.GenericMapping.model_validate(sender.mapping or {})
            return generic.parse(body, now=now, mapping=mapping)


def _pagerduty_answer(stored: list[alerts.Stored]) -> Response:
    status, body = pagerduty.accepted_v2(stored[0].dedup_key)
    return JSONResponse(body, status_code=status)


def _opsgenie_answer(stored: list[alerts.Stored]) -> Response:
    status, body = opsgenie.accepted(str(uuid4()))
    return JSONResponse(body, status_code=status)


def _pagerduty_reject(error: AlertFormatError) -> Response:
    status, body = pagerduty.rejection(error)
    return JSONResponse(body, status_code=status)


def _opsgenie_reject(error: AlertFormatError) -> Response:
    status, body = opsgenie.rejection(error, str(uuid4()))
    return JSONResponse(body, status_code=status)


_ANSWERS: dict[SourceKind, tuple[Answer, Rejection]] = {
    SourceKind.PAGERDUTY: (_pagerduty_answer, _pagerduty_reject),
    SourceKind.OPSGENIE: (_opsgenie_answer, _opsgenie_reject),
}


async def _keyed(request: Request, session: AsyncSession, key: str, kind: SourceKind) -> Response:
    answer, reject = _ANSWERS.get(kind, (_accepted, _problem))
    return await _receive(
        request, session, key=key, kinds={kind}, parse=_by_kind, answer=answer, reject=reject
    )


@router.post("/api/v1/ingest/{key}/{kind}", summary="Receive alerts (key in the URL)")
async def ingest_with_key(
    key: str, kind: SourceKind, request: Request, session: AsyncSession = DB
) -> Response:
    return await _keyed(request, session, key, kind)


@router.post("/api/v1/ingest/{kind}", summary="Receive alerts (key as bearer token)")
async def ingest_with_bearer(
    kind: SourceKind, request: Request, session: AsyncSession = DB
) -> Response:
    return await _keyed(request, session, _header_key(request), kind)


async def _ping(request: Request, session: AsyncSession, key: str) -> Response:
    sender = await _sender(request, session, key, set(SourceKind))
    await _writer(request).ingest(Post(sender, [], ping=True))
    return JSONResponse({"status": "ok"}, status_code=202)


@router.post("/api/v1/heartbeat/{key}", summary="Heartbeat ping (key in the URL)")
async def heartbeat_with_key(key: str, request: Request, session: AsyncSession = DB) -> Response:
    """A sign of life: restarts the heartbeat timer and resolves a missed-heartbeat alert."""
    return await _ping(request, session, key)


@router.post("/api/v1/heartbeat", summary="Heartbeat ping (key as bearer token)")
async def heartbeat_with_bearer(request: Request, session: AsyncSession = DB) -> Response:
    return await _ping(request, session, _header_key(request))


# --- Prometheus Alertmanager API v2 --------------------------------------------------------


def _alertmanager_reject(error: AlertFormatError) -> Response:
    status, body = alertmanager.api_v2_rejection(error)
    return JSONResponse(body, status_code=status)


@router.post("/api/v2/alerts", summary="Alertmanager API v2: post alerts (Prometheus)")
async def alertmanager_api_v2(request: Request, session: AsyncSession = DB) -> Response:
    return await _receive(
        request,
        session,
        key=_header_key(request),
        kinds={SourceKind.ALERTMANAGER},
        parse=lambda body, _sender, now: alertmanager.parse_api_v2(body, now=now),
        answer=lambda _stored: Response(status_code=200),
        reject=_alertmanager_reject,
    )


# --- PagerDuty Events API v2 and v1 --------------------------------------------------------


@router.post("/v2/enqueue", summary="PagerDuty Events API v2")
async def pagerduty_v2(request: Request, session: AsyncSession = DB) -> Response:
    return await _receive(
        request,
        session,
        key=None,
        kinds={SourceKind.PAGERDUTY},
        parse=lambda body, _sender, now: pagerduty.parse_events_v2(body, now=now),
        answer=_pagerduty_answer,
        reject=_pagerduty_reject,
    )


def _pagerduty_v1_answer(stored: list[alerts.Stored]) -> Response:
    status, body = pagerduty.accepted_v1(stored[0].dedup_key)
    return JSONResponse(body, status_code=status)


@router.post("/generic/2010-04-15/create_event.json", summary="PagerDuty Events API v1")
async def pagerduty_v1(request: Request, session: AsyncSession = DB) -> Response:
    return await _receive(
        request,
        session,
        key=None,
        kinds={SourceKind.PAGERDUTY},
        parse=lambda body, _sender, now: pagerduty.parse_events_v1(body, now=now),
        answer=_pagerduty_v1_answer,
        reject=_pagerduty_reject,
    )


# --- Opsgenie Alert API --------------------------------------------------------------------


@router.post("/v2/alerts", summary="Opsgenie: create an alert")
async def opsgenie_create(request: Request, session: AsyncSession = DB) -> Response:
    return await _receive(
        request,
        session,
        key=_header_key(request),
        kinds={SourceKind.OPSGENIE},
        parse=lambda body, _sender, now: opsgenie.parse_create(body, now=now),
        answer=_opsgenie_answer,
        reject=_opsgenie_reject,
    )


@router.post("/v2/alerts/{identifier}/close", summary="Opsgenie: close an alert")
async def opsgenie_close(
    identifier: str,
    request: Request,
    identifierType: str | None = None,  # Opsgenie's query parameter name
    session: AsyncSession = DB,
) -> Response:
    return await _receive(
        request,
        session,
        key=_header_key(request),
        kinds={SourceKind.OPSGENIE},
        parse=lambda body, _sender, now: opsgenie.parse_close(
            body, identifier=identifier, identifier_type=identifierType, now=now
        ),
        answer=_opsgenie_answer,
        reject=_opsgenie_reject,
        empty_body=None,
    )


@router.post("/v2/alerts/{identifier}/acknowledge", summary="Opsgenie: acknowledge an alert")
async def opsgenie_acknowledge(
    identifier: str,
    request: Request,
    identifierType: str | None = None,  # Opsgenie's query parameter name
    session: AsyncSession = DB,
) -> Response:
    return await _receive(
        request,
        session,
        key=_header_key(request),
        kinds={SourceKind.OPSGENIE},
        parse=lambda body, _sender, now: opsgenie.parse_acknowledge(
            body, identifier=identifier, identifier_type=identifierType, now=now
        ),
        answer=_opsgenie_answer,
        reject=_opsgenie_reject,
        empty_body=None,
    )
