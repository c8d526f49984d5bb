"""The receiving endpoints: where monitoring tools post alerts, in their own formats.

These routes authenticate the sender by an integration key, not a user: in the URL, as a
bearer token (Prometheus and the OpenTelemetry Collector send `Authorization: Bearer`), as
Opsgenie's `Authorization: GenieKey`, or as PagerDuty's `routing_key` in the body. Each
answers the way the tool it imitates answers, so the tools work unmodified.

Order of checks, each refusing before anything is stored: key (401), integration enabled
and of the right kind (403), rate limit (429 with Retry-After), body (400/422), then the
durable write; only after its commit does the sender get its 2xx.

Each route's work is a handler that takes only the request (`Handler`): the routes below
declare paths, parameters and permission for the framework and the API description, and
`tocsin.alerts.fastpath` runs the same handlers ahead of the framework, where per-request
routing and dependency resolution would cost more than storing an alert.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import uuid4

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

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
from tocsin.errors import Invalid, ProblemError


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

Parser = Callable[[Any, alerts.Sender, datetime], list[NormalizedAlert]]
Answer = Callable[[list[alerts.Stored]], Response]
Rejection = Callable[[AlertFormatError], Response]
Handler = Callable[[Request], Awaitable[Response]]
F = TypeVar("F", bound=Callable[..., Any])

HANDLERS: dict[Callable[..., Any], Handler] = {}
"""route endpoint -> the handler it runs, so the fast path can run it without the framework"""


def runs(handler: Handler) -> Callable[[F], F]:
    """Marks a route endpoint as one that only runs `handler` on the request."""

    def mark(endpoint: F) -> F:
        HANDLERS[endpoint] = handler
        return endpoint

    return mark


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


async def _lookup(request: Request, key: str) -> alerts.Sender | None:
    """A key checked a moment ago needs no session; any other costs one short read."""
    sender = alerts.cached_sender(key)
    if sender is None and key:
        async with request.app.state.sessionmaker() as session:
            sender = await alerts.sender_for_key(session, key)
    return sender


async def _sender(request: Request, key: str, kinds: set[SourceKind]) -> alerts.Sender:
    sender = await _lookup(request, key)
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
        return json.loads(raw, parse_constant=_not_json)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlertFormatError.at((), f"must be a JSON document ({exc})") from None


def _not_json(name: str) -> object:
    """NaN and Infinity are not JSON, though Python's reader takes them; no JSON column
    could keep them (PostgreSQL refuses them), so the sender hears it at once."""
    raise AlertFormatError.at((), f"must be a JSON document ({name} is not a JSON number)")


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
    sender = await _sender(request, key, kinds)
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


def _kind(request: Request) -> SourceKind:
    """The `{kind}` of the path; the framework checks it too, the fast path only here."""
    value = request.path_params["kind"]
    try:
        return SourceKind(value)
    except ValueError:
        choices = ", ".join(kind.value for kind in SourceKind)
        raise Invalid("kind", f"must be one of {choices}, not {value!r}") from None


async def _keyed(request: Request, key: str) -> Response:
    kind = _kind(request)
    answer, reject = _ANSWERS.get(kind, (_accepted, _problem))
    return await _receive(
        request, key=key, kinds={kind}, parse=_by_kind, answer=answer, reject=reject
    )


async def _with_key(request: Request) -> Response:
    return await _keyed(request, request.path_params["key"])


async def _with_bearer(request: Request) -> Response:
    return await _keyed(request, _header_key(request))


@router.post("/api/v1/ingest/{key}/{kind}", summary="Receive alerts (key in the URL)")
@runs(_with_key)
async def ingest_with_key(key: str, kind: SourceKind, request: Request) -> Response:
    return await _with_key(request)


@router.post("/api/v1/ingest/{kind}", summary="Receive alerts (key as bearer token)")
@runs(_with_bearer)
async def ingest_with_bearer(kind: SourceKind, request: Request) -> Response:
    return await _with_bearer(request)


async def _ping(request: Request, key: str) -> Response:
    sender = await _sender(request, key, set(SourceKind))
    await _writer(request).ingest(Post(sender, [], ping=True))
    return JSONResponse({"status": "ok"}, status_code=202)


async def _ping_with_key(request: Request) -> Response:
    return await _ping(request, request.path_params["key"])


async def _ping_with_bearer(request: Request) -> Response:
    return await _ping(request, _header_key(request))


@router.post("/api/v1/heartbeat/{key}", summary="Heartbeat ping (key in the URL)")
@runs(_ping_with_key)
async def heartbeat_with_key(key: str, request: Request) -> Response:
    """A sign of life: restarts the heartbeat timer and resolves a missed-heartbeat alert."""
    return await _ping_with_key(request)


@router.post("/api/v1/heartbeat", summary="Heartbeat ping (key as bearer token)")
@runs(_ping_with_bearer)
async def heartbeat_with_bearer(request: Request) -> Response:
    return await _ping_with_bearer(request)


# --- Prometheus Alertmanager API v2 --------------------------------------------------------


def _alertmanager_reject(error: AlertFormatError) -> Response:
    status, body = alertmanager.api_v2_rejection(error)
    return JSONResponse(body, status_code=status)


async def _alertmanager_v2(request: Request) -> Response:
    return await _receive(
        request,
        key=_header_key(request),
        kinds={SourceKind.ALERTMANAGER},
        parse=lambda body, _sender, now: alertmanager.parse_api_v2(body, now=now),
        answer=lambda _stored: Response(status_code=200),
        reject=_alertmanager_reject,
    )


@router.post("/api/v2/alerts", summary="Alertmanager API v2: post alerts (Prometheus)")
@runs(_alertmanager_v2)
async def alertmanager_api_v2(request: Request) -> Response:
    return await _alertmanager_v2(request)


# --- PagerDuty Events API v2 and v1 --------------------------------------------------------


async def _pagerduty_v2(request: Request) -> Response:
    return await _receive(
        request,
        key=None,
        kinds={SourceKind.PAGERDUTY},
        parse=lambda body, _sender, now: pagerduty.parse_events_v2(body, now=now),
        answer=_pagerduty_answer,
        reject=_pagerduty_reject,
    )


@router.post("/v2/enqueue", summary="PagerDuty Events API v2")
@runs(_pagerduty_v2)
async def pagerduty_v2(request: Request) -> Response:
    return await _pagerduty_v2(request)


def _pagerduty_v1_answer(stored: list[alerts.Stored]) -> Response:
    status, body = pagerduty.accepted_v1(stored[0].dedup_key)
    return JSONResponse(body, status_code=status)


async def _pagerduty_v1(request: Request) -> Response:
    return await _receive(
        request,
        key=None,
        kinds={SourceKind.PAGERDUTY},
        parse=lambda body, _sender, now: pagerduty.parse_events_v1(body, now=now),
        answer=_pagerduty_v1_answer,
        reject=_pagerduty_reject,
    )


@router.post("/generic/2010-04-15/create_event.json", summary="PagerDuty Events API v1")
@runs(_pagerduty_v1)
async def pagerduty_v1(request: Request) -> Response:
    return await _pagerduty_v1(request)


# --- Opsgenie Alert API --------------------------------------------------------------------


async def _opsgenie_create(request: Request) -> Response:
    return await _receive(
        request,
        key=_header_key(request),
        kinds={SourceKind.OPSGENIE},
        parse=lambda body, _sender, now: opsgenie.parse_create(body, now=now),
        answer=_opsgenie_answer,
        reject=_opsgenie_reject,
    )


@router.post("/v2/alerts", summary="Opsgenie: create an alert")
@runs(_opsgenie_create)
async def opsgenie_create(request: Request) -> Response:
    return await _opsgenie_create(request)


def _by_identifier(parse: Callable[..., list[NormalizedAlert]]) -> Handler:
    """Close and acknowledge name the alert in the path, the way Opsgenie's API does
    (`identifierType` is Opsgenie's query parameter name)."""

    async def handle(request: Request) -> Response:
        identifier = request.path_params["identifier"]
        identifier_type = request.query_params.get("identifierType")
        return await _receive(
            request,
            key=_header_key(request),
            kinds={SourceKind.OPSGENIE},
            parse=lambda body, _sender, now: parse(
                body, identifier=identifier, identifier_type=identifier_type, now=now
            ),
            answer=_opsgenie_answer,
            reject=_opsgenie_reject,
            empty_body=None,
        )

    return handle


_opsgenie_close = _by_identifier(opsgenie.parse_close)
_opsgenie_acknowledge = _by_identifier(opsgenie.parse_acknowledge)


@router.post("/v2/alerts/{identifier}/close", summary="Opsgenie: close an alert")
@runs(_opsgenie_close)
async def opsgenie_close(
    identifier: str, request: Request, identifierType: str | None = None
) -> Response:
    return await _opsgenie_close(request)


@router.post("/v2/alerts/{identifier}/acknowledge", summary="Opsgenie: acknowledge an alert")
@runs(_opsgenie_acknowledge)
async def opsgenie_acknowledge(
    identifier: str, request: Request, identifierType: str | None = None
) -> Response:
    return await _opsgenie_acknowledge(request)
