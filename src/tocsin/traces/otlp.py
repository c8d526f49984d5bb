"""Decoding OTLP/HTTP trace exports (protobuf or JSON, optionally gzip) into span rows.

Two kinds of failure are kept apart, as the OTLP/HTTP specification does: a body that cannot be
decoded at all (truncated protobuf, invalid JSON, ids that are not hex) is `Malformed` and the
whole request is refused with 400; a decodable span that is unusable (zero or wrong-length ids,
an end before its start) is rejected alone and reported through `partialSuccess`.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status as RpcStatus  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

KEPT_ATTRIBUTES = frozenset(
    {
        "http.request.method",
        "http.method",
        "http.route",
        "url.full",
        "http.url",
        "server.address",
        "peer.service",
        "rpc.method",
        "db.system",
        "exception.type",
        "error.type",
    }
)
"""Attributes worth showing as evidence; everything else is dropped to keep rows small."""

HTTP_STATUS_KEYS = frozenset({"http.response.status_code", "http.status_code"})
NO_TRACE = bytes(16)
NO_SPAN = bytes(8)
MESSAGE_LIMIT = 500
NAME_LIMIT = 200
SERVICE_LIMIT = 100
UNKNOWN_SERVICE = "unknown_service"


class Malformed(ValueError):
    """The body as a whole cannot be decoded; nothing of it may be stored."""


@dataclass
class Decoded:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 5:
            self.reasons.append(reason)


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Gunzip (or inflate) with a ceiling, so a small compressed bomb cannot exhaust memory."""
    encoding = encoding.strip().lower()
    if encoding in {"", "identity"}:
        return body
    if encoding not in {"gzip", "deflate"}:
        raise Malformed(f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Malformed(f"the body is not valid {encoding} data ({exc})") from None
    if len(out) > limit:
        raise Malformed(f"the decompressed body exceeds {limit} bytes")
    if not inflater.eof:
        raise Malformed(f"the {encoding} stream is truncated")
    return out


def _hex_to_b64(value: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise Malformed(f"{where} must be a hex-encoded id, got {value[:40]!r}") from None
    return base64.b64encode(raw).decode()


def _ids_to_base64(document: Any) -> Any:
    """OTLP/JSON writes ids as hex, where the protobuf JSON mapping expects base64."""
    if not isinstance(document, dict):
        raise Malformed("the body must be a JSON object with resourceSpans")
    for r, resource_spans in enumerate(document.get("resourceSpans") or []):
        if not isinstance(resource_spans, dict):
            continue
        scopes = resource_spans.get("scopeSpans") or []
        for s, scope in enumerate(scopes if isinstance(scopes, list) else []):
            spans = scope.get("spans") if isinstance(scope, dict) else None
            for i, span in enumerate(spans if isinstance(spans, list) else []):
                if not isinstance(span, dict):
                    continue
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                for key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id"):
                    if key in span:
                        span[key] = _hex_to_b64(span[key], f"{where}.{key}")
                if "parent_span_id" in span:
                    span["parent_span_id"] = _hex_to_b64(span["parent_span_id"], where)
                for j, link in enumerate(span.get("links") or []):
                    if isinstance(link, dict):
                        for key in ("traceId", "spanId"):
                            if key in link:
                                link[key] = _hex_to_b64(link[key], f"{where}.links[{j}].{key}")
    return document


def parse(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise Malformed(f"the body is not a valid ExportTraceServiceRequest ({exc})") from None
        return request
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Malformed(f"the body is not valid JSON ({exc})") from None
    try:
        json_format.ParseDict(_ids_to_base64(document), request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise Malformed(f"the body is not a valid OTLP/JSON export ({exc})") from None
    return request


def _scalar(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which in {"string_value", "bool_value", "int_value", "double_value"}:
        return getattr(value, which)
    return None


def _service_name(attributes: Any) -> str:
    for kv in attributes:
        if kv.key == "service.name" and kv.value.string_value:
            return str(kv.value.string_value)[:SERVICE_LIMIT]
    return UNKNOWN_SERVICE


def _span_row(span: Span, service: str, out: Decoded, where: str) -> dict[str, Any] | None:
    # The receiver's hot loop (every span of every export): attribute reads on protobuf
    # messages are not free, so each is read once, and keys are looked up in sets.
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == NO_TRACE:
        out.reject(f"{where}: traceId must be 16 non-zero bytes")
        return None
    if len(span_id) != 8 or span_id == NO_SPAN:
        out.reject(f"{where}: spanId must be 8 non-zero bytes")
        return None
    if parent and (len(parent) != 8 or parent == NO_SPAN):
        out.reject(f"{where}: parentSpanId must be empty or 8 non-zero bytes")
        return None
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start == 0 or end < start:
        out.reject(f"{where}: needs a start time and an end time not before it")
        return None
    http_status: int | None = None
    kept: dict[str, Any] = {}
    for kv in span.attributes:
        key = kv.key
        if key in HTTP_STATUS_KEYS:
            value = kv.value
            number = value.int_value or value.string_value
            try:
                http_status = int(number) if number else None
            except ValueError:
                http_status = None
        elif key in KEPT_ATTRIBUTES:
            scalar = _scalar(kv.value)
            if scalar is not None:
                kept[key] = scalar if not isinstance(scalar, str) else scalar[:300]
    status = span.status
    code = status.code
    failed = code == Status.STATUS_CODE_ERROR
    message = status.message if failed else ""
    if failed and not message:
        for event in span.events:
            if event.name == "exception":
                for kv in event.attributes:
                    if kv.key == "exception.message":
                        message = kv.value.string_value
                    elif kv.key == "exception.type":
                        kept.setdefault("exception.type", kv.value.string_value[:300])
    if http_status is not None and not 100 <= http_status <= 599:
        http_status = None
    return {
        "trace_id": trace_id.hex(),
        "span_id": span_id.hex(),
        "parent_span_id": parent.hex() if parent else None,
        "service": service,
        "operation": (span.name or "(unnamed)")[:NAME_LIMIT],
        "kind": int(span.kind),
        "start_us": start // 1000,
        "duration_us": (end - start) // 1000,
        "status_code": int(code),
        "error_message": message[:MESSAGE_LIMIT] or None,
        "http_status": http_status,
        "attributes": kept or None,
    }


def spans_of(request: ExportTraceServiceRequest) -> Decoded:
    out = Decoded()
    for r, resource_spans in enumerate(request.resource_spans):
        service = _service_name(resource_spans.resource.attributes)
        for s, scope in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope.spans):
                row = _span_row(
                    span, service, out, f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                )
                if row is not None:
                    out.rows.append(row)
    return out


def response_body(rejected: int, message: str, content_type: str) -> bytes:
    answer = ExportTraceServiceResponse()
    if rejected or message:
        answer.partial_success.rejected_spans = rejected
        answer.partial_success.error_message = message
    if content_type == PROTOBUF:
        return answer.SerializeToString()
    return json.dumps(json_format.MessageToDict(answer)).encode()


def status_body(code: int, message: str, content_type: str) -> bytes:
    """A google.rpc.Status, the body OTLP/HTTP prescribes for errors."""
    status = RpcStatus(code=code, message=message)
    if content_type == PROTOBUF:
        return status.SerializeToString()
    return json.dumps(json_format.MessageToDict(status)).encode()
