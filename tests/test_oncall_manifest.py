"""Schedules and escalation policies as configuration as code, through `tocsin apply`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import count_rows
from tests.factories import make_user
from tocsin.audit.service import Actor
from tocsin.clock import FrozenClock
from tocsin.manifest.apply import SourceFile, apply_files
from tocsin.manifest.export import export_yaml
from tocsin.manifest.plan import Action
from tocsin.manifest.problems import ManifestError
from tocsin.oncall import service as oncall
from tocsin.oncall.models import EscalationPolicy, OncallSchedule

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
kind: Schedule
metadata: {{slug: payments-primary}}
spec:
  name: Payments primary
  team: payments
  layers:
    - name: Follow the sun
      time_zone: Europe/Berlin
      rotation: weekly
      start_date: 2026-01-05
      handoff_time: "09:00"
      members: [{first}, {second}]
---
apiVersion: tocsin/v1
kind: EscalationPolicy
metadata: {{slug: payments}}
spec:
  name: Payments
  team: payments
  repeat: 1
  services: [checkout]
  levels:
    - timeout_minutes: 10
      targets: [{{type: schedule, ref: payments-primary}}]
    - timeout_minutes: {timeout}
      targets: [{{type: user, ref: {second}}}, {{type: team, ref: payments}}]
"""


@pytest.fixture
async def emails(session: AsyncSession, clock: FrozenClock) -> tuple[str, str]:
    first, second = await make_user(session, password=None), await make_user(session, password=None)
    return first.email, second.email


async def apply(session: AsyncSession, text: str) -> list[tuple[str, str, Action]]:
    summary = await apply_files(session, ACTOR, [SourceFile("oncall.yaml", text)])
    return [(c.kind, c.slug, c.action) for c in summary.changes]


async def test_a_file_sets_up_schedule_policy_and_service_and_reapplies_unchanged(
    session: AsyncSession, emails: tuple[str, str]
) -> None:
    first, second = emails
    text = FILE.format(first=first, second=second, timeout=15)
    changes = await apply(session, text)
    assert ("Schedule", "payments-primary", Action.CREATE) in changes
    assert ("EscalationPolicy", "payments", Action.CREATE) in changes
    who = await oncall.who_is_on_call(session, "checkout", datetime(2026, 1, 6, 12, tzinfo=UTC))
    assert who.policy == "payments"
    assert len(who.levels) == 2 and len(who.levels[0].user_ids) == 1

    again = await apply(session, text)
    assert {action for _, _, action in again} == {Action.UNCHANGED}

    changed = await apply(session, FILE.format(first=first, second=second, timeout=20))
    assert ("EscalationPolicy", "payments", Action.UPDATE) in changed
    assert (await oncall.get_policy(session, "payments")).levels[1].timeout_minutes == 20

    exported = [d for d in yaml.safe_load_all(await export_yaml(session)) if d]
    kinds = {d["kind"]: d for d in exported}
    assert kinds["Schedule"]["spec"]["layers"][0]["members"] == [first, second]
    assert kinds["EscalationPolicy"]["spec"]["services"] == ["checkout"]


async def test_an_unknown_person_is_named_and_nothing_is_applied(
    session: AsyncSession, emails: tuple[str, str]
) -> None:
    text = FILE.format(first=emails[0], second="nobody@example.test", timeout=15)
    with pytest.raises(ManifestError) as caught:
        await apply(session, text)
    assert "nobody@example.test" in str(caught.value)
    assert "schedules[payments-primary].spec.layers" in str(caught.value)
    assert await count_rows(session, OncallSchedule) == 0
    assert await count_rows(session, EscalationPolicy) == 0
