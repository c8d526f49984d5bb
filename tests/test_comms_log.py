"""The comms log: every published message is recorded with its exact text, the chain is
hash-linked, the database refuses rewrites, and `tocsin comms verify` (and the API) finds the
first altered or removed entry, also when someone drops the trigger to get past it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.cli import tocsin
from tests.factories import Caller, make_caller
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.comms import log
from tocsin.comms.chain import entry_hash
from tocsin.comms.models import CommsLogEntry
from tocsin.policy import service as policy

LOG = "/api/v1/comms/log"


@pytest.fixture
async def admin(session: AsyncSession, clock: FrozenClock) -> Caller:
    await policy.ensure_default_policies(session)
    caller = await make_caller(session, Role.ADMIN)
    await session.commit()
    return caller


async def write_entries(session: AsyncSession, count: int, clock: FrozenClock) -> None:
    from datetime import timedelta

    for n in range(1, count + 1):
        await log.record(
            session,
            incident_id=None,
            kind="customer-email",
            channel="email",
            audience="customers",
            recipients=f"list-{n}@example.test",
            text=f"Update {n}: payments are failing — we're on it ✓",
            actor=Actor("user", 7, "comms@example.test"),
        )
        clock.advance(timedelta(minutes=1))
    await session.commit()


async def tamper(session: AsyncSession, db_kind: str, statement: str) -> None:
    """What someone with database credentials might do: get past the trigger, then rewrite."""
    if db_kind == "postgresql":
        off = "ALTER TABLE comms_log_entries DISABLE TRIGGER comms_log_entries_append_only"
        await session.execute(sa.text(off))
        await session.execute(sa.text(statement))
        on = "ALTER TABLE comms_log_entries ENABLE TRIGGER comms_log_entries_append_only"
        await session.execute(sa.text(on))
    else:
        await session.execute(sa.text("DROP TRIGGER IF EXISTS comms_log_entries_no_update"))
        await session.execute(sa.text("DROP TRIGGER IF EXISTS comms_log_entries_no_delete"))
        await session.execute(sa.text(statement))
    await session.commit()


async def test_an_intact_log_verifies_from_the_command_line(
    session: AsyncSession, admin: Caller, clock: FrozenClock, database_url: str
) -> None:
    await write_entries(session, 3, clock)
    run = await tocsin("comms", "verify", database_url=database_url)
    assert run.code == 0, run.err
    assert "3 entries" in run.out


async def test_the_database_refuses_to_change_or_delete_an_entry(
    session: AsyncSession, admin: Caller, clock: FrozenClock
) -> None:
    await write_entries(session, 2, clock)
    for statement in (
        "UPDATE comms_log_entries SET text = 'nothing happened' WHERE seq = 1",
        "DELETE FROM comms_log_entries WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(sa.text(statement))
        await session.rollback()
    assert (await log.verify(session))[1] is None


async def test_an_altered_entry_is_found_by_verify(
    session: AsyncSession, admin: Caller, clock: FrozenClock, database_url: str, db_kind: str
) -> None:
    await write_entries(session, 5, clock)
    await tamper(session, db_kind, "UPDATE comms_log_entries SET text = 'softened' WHERE seq = 3")
    run = await tocsin("comms", "verify", database_url=database_url)
    assert run.code == 1
    assert "entry 3 was altered" in run.err


async def test_a_removed_entry_is_found_by_verify_also_the_newest(
    session: AsyncSession, admin: Caller, clock: FrozenClock, db_kind: str, client: AsyncClient
) -> None:
    await write_entries(session, 4, clock)
    await tamper(session, db_kind, "DELETE FROM comms_log_entries WHERE seq = 2")
    response = await client.get(f"{LOG}/verify", headers=admin.headers)
    assert response.json() == {
        "ok": False,
        "entries": 3,
        "first_break_seq": 2,
        "reason": "entry 2 is missing (removed)",
    }
    # Removing the newest entries leaves a chain that looks whole; the audit trail remembers.
    await tamper(session, db_kind, "DELETE FROM comms_log_entries WHERE seq >= 3")
    await tamper(session, db_kind, "DELETE FROM comms_log_entries WHERE seq = 2 OR seq = 1")
    response = await client.get(f"{LOG}/verify", headers=admin.headers)
    assert response.json()["reason"] == "entry 1 is missing (removed)"


async def test_a_rehashed_entry_breaks_the_link_to_the_next_one(
    session: AsyncSession, admin: Caller, clock: FrozenClock, client: AsyncClient, db_kind: str
) -> None:
    """A forger who recomputes the altered entry's hash still breaks the following link."""
    await write_entries(session, 3, clock)
    row = await session.scalar(sa.select(CommsLogEntry).where(CommsLogEntry.seq == 2))
    assert row is not None
    fields = log.entry_fields(row)
    fields["text"] = "softened"
    forged = entry_hash(fields)
    await session.rollback()
    await tamper(
        session,
        db_kind,
        f"UPDATE comms_log_entries SET text = 'softened', hash = '{forged}' WHERE seq = 2",
    )
    body = (await client.get(f"{LOG}/verify", headers=admin.headers)).json()
    assert body["first_break_seq"] == 3
    assert "does not follow" in body["reason"]


async def test_auditors_export_a_range_as_json_and_csv_and_can_check_the_chain(
    session: AsyncSession, admin: Caller, clock: FrozenClock, client: AsyncClient
) -> None:
    start = clock.now()
    await write_entries(session, 4, clock)
    response = await client.get(LOG, headers=admin.headers)
    assert response.status_code == 200
    entries: list[dict[str, Any]] = response.json()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert entries[0]["prev_hash"] == "0" * 64
    # The chain checked with nothing but hashlib and json, as an outside auditor would.
    previous = "0" * 64
    for entry in entries:
        chained = {k: v for k, v in entry.items() if k != "hash"}
        assert chained["prev_hash"] == previous
        canonical = json.dumps(chained, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(canonical.encode()).hexdigest() == entry["hash"]
        previous = entry["hash"]

    window = {
        "from": (start.replace(minute=1)).isoformat(),
        "to": start.replace(minute=3).isoformat(),
    }
    ranged = await client.get(LOG, params={**window, "format": "csv"}, headers=admin.headers)
    assert ranged.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(ranged.text)))
    assert [r["seq"] for r in rows] == ["2", "3"]
    assert rows[0]["text"] == "Update 2: payments are failing — we're on it ✓"
    assert rows[0]["hash"] == entries[1]["hash"]


async def test_only_admins_read_the_log_and_a_bad_range_is_refused(
    session: AsyncSession, admin: Caller, client: AsyncClient
) -> None:
    communicator = await make_caller(session, Role.COMMUNICATOR)
    await session.commit()
    assert (await client.get(LOG, headers=communicator.headers)).status_code == 403
    bad = await client.get(
        LOG,
        params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=admin.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "to"
    wrong = await client.get(LOG, params={"format": "xml"}, headers=admin.headers)
    assert wrong.status_code == 422
