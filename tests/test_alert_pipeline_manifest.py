"""Correlation rules as configuration as code: a file sets them, re-applying changes nothing,
an edit updates in place, export gives them back, and a bad rule is named and not applied."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import count_rows
from tocsin.alerts.models import CorrelationRule
from tocsin.alerts.service import settings as rules
from tocsin.audit.service import Actor
from tocsin.clock import FrozenClock
from tocsin.manifest.apply import SourceFile, apply_files
from tocsin.manifest.export import export_yaml
from tocsin.manifest.plan import Action
from tocsin.manifest.problems import ManifestError

ACTOR = Actor.system("test")

FILE = """
apiVersion: tocsin/v1
kind: Team
metadata: {{slug: payments}}
spec: {{name: Payments}}
---
apiVersion: tocsin/v1
kind: Service
metadata: {{slug: checkout}}
spec: {{name: Checkout, owner_team: payments}}
---
apiVersion: tocsin/v1
kind: AlertCorrelationRule
metadata: {{slug: checkout-paging}}
spec:
  service: checkout
  group_by: [alertname, cluster]
  group_wait_seconds: 30
  min_sources: {sources}
  window_seconds: 300
---
apiVersion: tocsin/v1
kind: AlertCorrelationRule
metadata: {{slug: payments-default}}
spec:
  team: payments
  flap_changes: 4
"""


async def apply(session: AsyncSession, text: str) -> list[tuple[str, str, Action]]:
    summary = await apply_files(session, ACTOR, [SourceFile("alerts.yaml", text)])
    return [(c.kind, c.slug, c.action) for c in summary.changes]


async def test_a_file_sets_rules_and_reapplies_unchanged(
    session: AsyncSession, clock: FrozenClock
) -> None:
    changes = await apply(session, FILE.format(sources=2))
    assert ("AlertCorrelationRule", "checkout-paging", Action.CREATE) in changes
    assert ("AlertCorrelationRule", "payments-default", Action.CREATE) in changes
    stored = {r.slug: r for r in await rules.list_rules(session)}
    assert stored["checkout-paging"].group_by == ["alertname", "cluster"]
    assert stored["checkout-paging"].min_sources == 2
    assert stored["payments-default"].team == "payments"

    again = await apply(session, FILE.format(sources=2))
    assert {a for kind, _, a in again if kind == "AlertCorrelationRule"} == {Action.UNCHANGED}

    changed = await apply(session, FILE.format(sources=3))
    assert ("AlertCorrelationRule", "checkout-paging", Action.UPDATE) in changed
    assert await count_rows(session, CorrelationRule) == 2

    exported = [d for d in yaml.safe_load_all(await export_yaml(session)) if d]
    found = {d["metadata"]["slug"]: d for d in exported if d["kind"] == "AlertCorrelationRule"}
    assert found["checkout-paging"]["spec"]["min_sources"] == 3


async def test_a_bad_rule_is_named_and_nothing_is_applied(
    session: AsyncSession, clock: FrozenClock
) -> None:
    with pytest.raises(ManifestError) as caught:
        await apply(session, FILE.format(sources=0))
    assert "alert_correlation_rules[checkout-paging]" in str(caught.value)
    assert "min_sources" in str(caught.value)
    assert await count_rows(session, CorrelationRule) == 0
