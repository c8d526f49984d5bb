"""RFC 9457 problem details for every error the API returns.

A client (or a person at 3 a.m.) should learn from the body alone what was wrong and, for
validation errors, which field: `errors` lists each with a JSON-pointer-like `field`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extra = extra or {}


class NotFound(ProblemError):
    def __init__(self, what: str, key: object) -> None:
        super().__init__(404, "Not found", f"{what} {key!s} does not exist")


class Conflict(ProblemError):
    def __init__(self, detail: str, field: str | None = None) -> None:
        errors = [{"field": field, "message": detail}] if field else None
        super().__init__(409, "Conflict", detail, errors=errors)


class Invalid(ProblemError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            422,
            "Invalid input",
            f"{field}: {message}",
            errors=[{"field": field, "message": message}],
        )


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/v1/", "/v2/")) or path in {"/openapi.json", "/metrics"}:
        return False
    return "text/html" in request.headers.get("accept", "")


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        origin, rest = parts[0], parts[1:]
        return ".".join(rest) if rest else origin
    return ".".join(parts)


def _html_error(request: Request, status: int, title: str, detail: str | None) -> Response:
    """A person in a browser gets a page they can navigate away from, not a JSON document."""
    from tocsin.web.templating import render

    return render(request, "error.html", status_code=status, title=title, detail=detail or title)


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        if exc.status in {403, 404} and _wants_html(request):
            return _html_error(request, exc.status, exc.title, exc.detail)
        return problem_response(
            request, exc.status, exc.title, exc.detail, exc.errors, exc.headers, exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            loc = err.get("loc", ())
            errors.append({"field": _field_name(loc), "message": err.get("msg", "invalid")})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(request, 422, "Invalid input", detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        title = {
            400: "Bad request",
            401: "Authentication required",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            413: "Request body too large",
            415: "Unsupported media type",
            429: "Too many requests",
        }.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code in {403, 404} and _wants_html(request):
            return _html_error(request, exc.status_code, title, detail)
        return problem_response(
            request, exc.status_code, title, detail, headers=getattr(exc, "headers", None)
        )
