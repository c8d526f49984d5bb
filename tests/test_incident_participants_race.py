"""Adding the same participant from two transactions at once (PostgreSQL, where they really
run side by side): the second finds the pair taken and goes on, instead of failing."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import until_a_transaction_waits_for_a_lock
from tests.factories import make_caller
from tocsin.auth.permissions import Role
from tocsin.incidents.models import IncidentParticipant
from tocsin.incidents.service.common import add_participant
from tocsin.policy import service as policy

pytestmark = pytest.mark.postgres_only


async def test_a_participant_added_by_two_transactions_at_once_is_added_once(
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
) -> None:
    await policy.ensure_default_policies(session)  # the severities
    owner = await make_caller(session, Role.RESPONDER)
    responder = await make_caller(session, Role.RESPONDER)
    declared = await client.post(
        "/api/v1/incidents",
        json={"title": "Card data exposure", "severity": "sev1", "visibility": "private"},
        headers=owner.headers,
    )
    assert declared.status_code == 201, declared.text
    incident_id = int(declared.json()["id"])
    user_id = responder.user.id
    async with sessionmaker() as first, sessionmaker() as second:
        assert await add_participant(first, incident_id, user_id)
        racing = asyncio.create_task(add_participant(second, incident_id, user_id))
        # The second insert waits for the first transaction's row.
        await until_a_transaction_waits_for_a_lock(session)
        await first.commit()
        assert await racing is False, "already a participant: nothing to add"
        await second.commit()  # its transaction went on
    rows = await session.scalar(
        sa.select(sa.func.count()).where(
            IncidentParticipant.incident_id == incident_id, IncidentParticipant.user_id == user_id
        )
    )
    assert rows == 1
