"""Which function handles which kind of job.

Domains declare handlers next to their use cases (`tocsin/<domain>/handlers.py`) with
`@job_handler("kind")`; the worker imports every such module at start, so a job kind is
handled wherever a worker runs, and an unknown kind is a visible dead letter rather than a
job that silently never runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help (a rejected request, a deleted target):
    the job is dead-lettered at once instead of using up its attempts."""


class RetryLater(Exception):
    """Raised by a handler when the other side said how long to wait (HTTP 429 with
    Retry-After, Matrix's `retry_after_ms`): the next attempt waits at least that long, since
    an earlier one would only be refused again and use up an attempt."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = max(0.0, seconds)


@dataclass
class JobContext:
    """What a handler knows about the job it runs, and a database session if it needs one.

    The session is opened on first use; the worker commits it when the handler returns and
    rolls it back when it raises. Handlers may run more than once (a lease can expire while a
    slow handler is still working), so their effects must be idempotent: use `job_id` or
    `idempotency_key` when talking to the outside world.
    """

    job_id: int
    kind: str
    attempt: int
    max_attempts: int
    run_at: datetime
    idempotency_key: str | None
    worker_id: str
    _sessionmaker: async_sessionmaker[AsyncSession] | None = field(default=None, repr=False)
    _session: AsyncSession | None = field(default=None, repr=False)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._sessionmaker is None:
                raise RuntimeError("this job context has no database")
            self._session = self._sessionmaker()
        return self._session

    async def finish(self, *, succeeded: bool) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if succeeded:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class HandlerSpec:
    kind: str
    handler: Handler
    timeout_seconds: float | None = None
    """an attempt running longer fails; None means settings.job_lease_seconds"""


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}

    def register(self, spec: HandlerSpec) -> None:
        existing = self._specs.get(spec.kind)
        if existing is not None and _qualname(existing.handler) != _qualname(spec.handler):
            raise ValueError(
                f"job kind {spec.kind!r} already has a handler: {_qualname(existing.handler)}"
            )
        self._specs[spec.kind] = spec

    def unregister(self, kind: str) -> None:
        self._specs.pop(kind, None)

    def get(self, kind: str) -> HandlerSpec | None:
        return self._specs.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, kind: object) -> bool:
        return kind in self._specs


def _qualname(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


registry = Registry()
"""The process-wide registry that `@job_handler` fills and workers read by default."""


def job_handler(
    kind: str,
    *,
    timeout_seconds: float | None = None,
    into: Registry | None = None,
) -> Callable[[Handler], Handler]:
    """Declare the async function that runs jobs of `kind`: `async def f(ctx, payload)`."""

    def decorate(func: Handler) -> Handler:
        (into or registry).register(HandlerSpec(kind, func, timeout_seconds))
        return func

    return decorate


def load_domain_handlers() -> list[str]:
    """Import `tocsin.<domain>.handlers` for every domain that has one; returns their names."""
    import tocsin

    loaded = []
    for module in pkgutil.iter_modules(tocsin.__path__):
        if not module.ispkg:
            continue
        name = f"tocsin.{module.name}.handlers"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
            loaded.append(name)
    return loaded
