"""REST routes for configuration as code: apply a file, export everything.

The body of an apply is the file itself (YAML, or JSON, which is YAML too), not a JSON
wrapper around it: a CI job can send `catalog.yaml` as it is, and line numbers in the errors
match the file.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.manifest.apply import KIND_ORDER, SourceFile, apply_files
from tocsin.manifest.export import export_yaml
from tocsin.manifest.problems import ManifestError
from tocsin.manifest.schemas import ApplyOut

router = APIRouter(prefix="/api/v1/config", tags=["configuration as code"])

YAML_TYPES = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}
)
JSON_TYPES = frozenset({"application/json"})

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": "One or more `tocsin/v1` documents (or Backstage descriptors) as YAML; "
        "or as JSON: one document, or a list of documents.",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.post("/apply", response_model=ApplyOut, openapi_extra=_BODY_DOC)
async def apply_config(
    request: Request,
    dry_run: bool = Query(default=False, description="Check and report, change nothing."),
    backstage: bool = Query(
        default=False, description="Read every document as a Backstage descriptor."
    ),
    filename: str = Query(
        default="body", max_length=200, description="The name errors give the file."
    ),
    principal: Principal = Depends(Requires(Permission.CONFIG_APPLY)),
    session: AsyncSession = Depends(get_session),
) -> ApplyOut:
    """Create or update everything the documents describe, in one transaction; a document
    with an error changes nothing, and the problem names the line and field."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in YAML_TYPES | JSON_TYPES:
        raise ProblemError(
            415,
            "Unsupported media type",
            "send the file as application/yaml (or application/json)",
        )
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemError(400, "Bad request", "the body is not UTF-8 text") from None
    file = SourceFile(filename, text, backstage=backstage)
    try:
        summary = await apply_files(session, principal.actor, [file], dry_run=dry_run)
    except ManifestError as exc:
        raise ProblemError(
            422,
            "Invalid configuration",
            str(exc),
            errors=[p.as_dict() for p in exc.problems],
        ) from exc
    return ApplyOut.model_validate(summary.as_dict(KIND_ORDER))


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}}},
)
async def export_config(
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> Response:
    """The catalog and policies as a file that POST /api/v1/config/apply accepts."""
    return Response(await export_yaml(session), media_type="application/yaml")
