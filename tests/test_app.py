"""The application as a process: what it does before it takes traffic."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from tocsin.app import create_app
from tocsin.config import Settings


async def test_the_first_requests_of_a_served_process_do_not_analyse_routes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Analysing every route's dependencies took 200 to 400 ms on a fresh process's first
    requests (and stalled every request behind them); start-up does it instead."""
    analysed: list[str] = []
    original = fastapi.routing.get_dependant

    def counting(*args: Any, **kwargs: Any) -> Any:
        analysed.append(str(kwargs.get("path")))
        return original(*args, **kwargs)

    app = create_app(settings, prepare_routes=True)  # as `tocsin serve` makes it
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        monkeypatch.setattr(fastapi.routing, "get_dependant", counting)
        for path in ("/api/v1/incidents", "/api/v1/no-such-thing", "/status", "/healthz"):
            await client.get(path)
    assert analysed == []
