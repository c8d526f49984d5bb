"""The claim priority of a decision job: alerts that can page at once are decided first.

Ingestion queues one decision job per request, and during a storm thousands wait in the
queue. An alert whose correlation rule holds it for a group wait has that long before it can
page, so its decision may run after those of alerts with no wait (earliest deadline first,
`tocsin.alerts.correlation.slack_rank`). The decision still happens, only later, and the group
wait is counted from the decision as before.

Ingestion is the hot path, so each process keeps the group wait it found for a service for
`RULE_CACHE_SECONDS`: reading the rule (the service's, else its team's) for every request
would cost as much as storing the alerts. A write of a correlation rule or of a service (its
owning team picks the team rule) through this process empties the cache at once, on flush and
again after the commit; one made by another process reaches this one within the TTL. A stale
entry only orders the queue differently for a few seconds: every decision reads the rule
afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from tocsin.alerts.correlation import DEFAULT_RULE, slack_rank
from tocsin.alerts.models import CorrelationRule
from tocsin.alerts.service.pipeline import rule_for
from tocsin.catalog.models import Service
from tocsin.jobs.models import Priority

RULE_CACHE_SECONDS = 5.0
"""How long a process trusts the group wait it read for a service."""
RULE_CACHE_SIZE = 10_000
_CHANGED = "tocsin.correlation_rules_changed"
_TABLES = frozenset({CorrelationRule.__tablename__, Service.__tablename__})

_waits: dict[tuple[str, int], tuple[datetime, timedelta]] = {}
"""(database URL, service id) -> (when read, group wait)"""


def forget_rules() -> None:
    """Drop every cached group wait: a correlation rule or a service changed."""
    _waits.clear()


async def decision_priority(
    session: AsyncSession, service_ids: Iterable[int], now: datetime
) -> int:
    """The priority of a job deciding alerts of these services: the most urgent of them."""
    ranks = [slack_rank(await group_wait(session, sid, now)) for sid in set(service_ids)]
    return Priority.NORMAL + min(ranks, default=0)


async def group_wait(session: AsyncSession, service_id: int, now: datetime) -> timedelta:
    """The group wait of the rule that applies to the service, from the cache when fresh."""
    key = (session.get_bind().engine.url.render_as_string(hide_password=False), service_id)
    held = _waits.get(key)
    if held is not None and held[0] <= now < held[0] + timedelta(seconds=RULE_CACHE_SECONDS):
        return held[1]
    service = await session.get(Service, service_id)
    rule = DEFAULT_RULE if service is None else await rule_for(session, service)
    if len(_waits) >= RULE_CACHE_SIZE:
        _waits.clear()
    _waits[key] = (now, rule.group_wait)
    return rule.group_wait


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, CorrelationRule | Service) for obj in touched):
        session.info[_CHANGED] = True
        forget_rules()


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    """Bulk INSERT, UPDATE and DELETE statements bypass the flush."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _TABLES:
        state.session.info[_CHANGED] = True
        forget_rules()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """Again once the change is visible: a request between the flush and the commit may have
    cached the old wait."""
    if session.info.pop(_CHANGED, False):
        forget_rules()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
