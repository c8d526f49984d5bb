"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.db.session import get_session
from tocsin.errors import problem_response
from tocsin.observability import log, refresh_metrics

router = APIRouter(tags=["operations"])


@router.get("/healthz", dependencies=[Depends(Requires(Permission.PUBLIC))])
async def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Depends(Requires(Permission.PUBLIC))])
async def readyz(request: Request, session: AsyncSession = Depends(get_session)) -> Response:
    """The database answers: a load balancer may send traffic here."""
    try:
        # The request's own session: a second one would wait on SQLite's write lock if the
        # caller lookup left a transaction open.
        await session.execute(sa.text("SELECT 1"))
    except Exception as exc:
        # The cause goes to the log, not to an anonymous caller: it can name hosts and users.
        log.warning("readyz.database_unavailable", error=str(exc)[:500])
        return problem_response(
            request,
            503,
            "Service unavailable",
            "the database does not answer",
            extra={"checks": {"database": "unavailable"}},
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", dependencies=[Depends(Requires(Permission.PUBLIC))])
async def metrics(request: Request, session: AsyncSession = Depends(get_session)) -> Response:
    """Prometheus text format. Public like most exporters: it carries counts, never content."""
    # The gauges are read in sessions of their own; on SQLite this request's session would
    # hold the write lock they wait for.
    await session.close()
    await refresh_metrics(request.app.state.sessionmaker)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
