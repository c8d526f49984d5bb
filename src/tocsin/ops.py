"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.observability import refresh_metrics

router = APIRouter(tags=["operations"])


@router.get("/healthz", dependencies=[Depends(Requires(Permission.PUBLIC))])
async def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Depends(Requires(Permission.PUBLIC))])
async def readyz(request: Request) -> Response:
    """The database answers: a load balancer may send traffic here."""
    try:
        async with request.app.state.sessionmaker() as session:
            await session.execute(sa.text("SELECT 1"))
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", dependencies=[Depends(Requires(Permission.PUBLIC))])
async def metrics(request: Request) -> Response:
    """Prometheus text format. Public like most exporters: it carries counts, never content."""
    await refresh_metrics(request.app.state.sessionmaker)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
