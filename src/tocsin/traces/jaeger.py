"""Reading traces from an existing Jaeger through its query API into Tocsin's span store.

Teams that already run Jaeger need not re-point their exporters to get failure isolation:
Tocsin asks Jaeger's query service (`GET /api/traces?service=…&start=…&end=…`, the JSON API
the Jaeger UI uses) for a service's traces in a window and stores their spans as if they had
been exported over OTLP. The conversion is pure; only `fetch` talks to the network.

Jaeger's model differs from OTLP's in ways that matter here: the service is on the span's
process, the parent is a `CHILD_OF` reference, times are microseconds, trace ids may be 64-bit
(16 hex digits, padded here to OTLP's 32), and the error status is the `error` tag (or
`otel.status_code=ERROR` for spans that came from OpenTelemetry), its message the
`otel.status_description` tag or an error log's message.
"""

from __future__ import annotations

from typing import Any

import httpx

from tocsin.traces.otlp import MESSAGE_LIMIT, NAME_LIMIT, SERVICE_LIMIT, UNKNOWN_SERVICE, Decoded

KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
KEPT_TAGS = frozenset(
    {
        "http.method",
        "http.request.method",
        "http.route",
        "http.url",
        "url.full",
        "server.address",
        "peer.service",
        "rpc.method",
        "db.system",
        "error.type",
    }
)
HTTP_STATUS_TAGS = ("http.response.status_code", "http.status_code")
MESSAGE_FIELDS = ("message", "exception.message", "error.object")
HEX = frozenset("0123456789abcdef")


class JaegerError(RuntimeError):
    """Jaeger could not be asked, or answered something that is not its trace JSON."""


def _hex_id(value: Any, length: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.lower()
    if not text or len(text) > length or not set(text) <= HEX:
        return None
    padded = text.rjust(length, "0")
    return None if set(padded) == {"0"} else padded


def _list(value: Any) -> list[Any]:
    """A JSON array, or nothing: a field of the wrong type is ignored, not a crash."""
    return value if isinstance(value, list) else []


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in _list(span.get("tags")):
        if isinstance(tag, dict) and isinstance(tag.get("key"), str):
            out[tag["key"]] = tag.get("value")
    return out


def _log_message(span: dict[str, Any]) -> str | None:
    for log in _list(span.get("logs")):
        fields = {
            f.get("key"): f.get("value")
            for f in _list(log.get("fields") if isinstance(log, dict) else None)
            if isinstance(f, dict)
        }
        for key in MESSAGE_FIELDS:
            if isinstance(fields.get(key), str) and fields[key]:
                return str(fields[key])
    return None


def _parent(span: dict[str, Any], trace_id: str) -> str | None:
    references = [r for r in _list(span.get("references")) if isinstance(r, dict)]
    references.sort(key=lambda r: r.get("refType") != "CHILD_OF")
    for reference in references:
        if _hex_id(reference.get("traceID"), 32) == trace_id:
            return _hex_id(reference.get("spanID"), 16)
    return None


def _http_status(tags: dict[str, Any]) -> int | None:
    for key in HTTP_STATUS_TAGS:
        try:
            value = int(tags[key])
        except (KeyError, TypeError, ValueError):
            continue
        if 100 <= value <= 599:
            return value
    return None


def _failed(tags: dict[str, Any]) -> bool:
    error = tags.get("error")
    return error is True or str(error).lower() == "true" or tags.get("otel.status_code") == "ERROR"


def span_row(span: dict[str, Any], service: str, out: Decoded, where: str) -> dict[str, Any] | None:
    trace_id = _hex_id(span.get("traceID"), 32)
    span_id = _hex_id(span.get("spanID"), 16)
    start, duration = span.get("startTime"), span.get("duration")
    if trace_id is None or span_id is None:
        out.reject(f"{where}: traceID and spanID must be non-zero hex ids")
        return None
    if not isinstance(start, int) or not isinstance(duration, int) or start <= 0 or duration < 0:
        out.reject(f"{where}: needs startTime and a duration that is not negative")
        return None
    tags = _tags(span)
    failed = _failed(tags)
    message = None
    if failed:
        description = tags.get("otel.status_description")
        message = description if isinstance(description, str) and description else None
        message = message or _log_message(span)
    kept = {
        key: value if not isinstance(value, str) else value[:300]
        for key, value in tags.items()
        if key in KEPT_TAGS and isinstance(value, str | int | float | bool)
    }
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": _parent(span, trace_id),
        "service": service,
        "operation": (str(span.get("operationName") or "") or "(unnamed)")[:NAME_LIMIT],
        "kind": KINDS.get(str(tags.get("span.kind", "")).lower(), 1),
        "start_us": start,
        "duration_us": duration,
        "status_code": 2 if failed else 0,
        "error_message": message[:MESSAGE_LIMIT] if message else None,
        "http_status": _http_status(tags),
        "attributes": kept or None,
    }


def rows_of(document: Any) -> Decoded:
    """The spans of a `/api/traces` answer as span rows; unusable spans are counted apart."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise JaegerError("the answer is not Jaeger's trace JSON (no `data` list)")
    out = Decoded()
    for t, trace in enumerate(document["data"]):
        if not isinstance(trace, dict):
            continue
        found = trace.get("processes")
        processes: dict[str, Any] = found if isinstance(found, dict) else {}
        for s, span in enumerate(_list(trace.get("spans"))):
            if not isinstance(span, dict):
                continue
            process = processes.get(str(span.get("processID"))) or span.get("process") or {}
            name = process.get("serviceName") if isinstance(process, dict) else None
            service = str(name)[:SERVICE_LIMIT] if name else UNKNOWN_SERVICE
            row = span_row(span, service, out, f"data[{t}].spans[{s}]")
            if row is not None:
                out.rows.append(row)
    return out


async def fetch(
    base_url: str, service: str, start_us: int, end_us: int, limit: int, wait_seconds: float
) -> Any:
    """One query to Jaeger's `/api/traces`; its JSON answer."""
    params: dict[str, str | int] = {
        "service": service,
        "start": start_us,
        "end": end_us,
        "limit": limit,
    }
    try:
        async with httpx.AsyncClient(timeout=wait_seconds) as client:
            response = await client.get(base_url.rstrip("/") + "/api/traces", params=params)
    except httpx.HTTPError as exc:
        raise JaegerError(f"Jaeger could not be reached: {exc}") from None
    if response.status_code != 200:
        raise JaegerError(f"Jaeger answered {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        raise JaegerError("Jaeger's answer is not JSON") from None
