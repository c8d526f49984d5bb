"""The hash chain of the comms log: pure functions, no database or clock.

Anyone can re-check an exported log with these rules: each entry's hash is the SHA-256 of the
canonical JSON of its fields (keys sorted, no spaces, UTF-8, time in ISO 8601 UTC with
microseconds) including the previous entry's hash; the first entry's previous hash is GENESIS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

CHAINED_FIELDS = (
    "seq",
    "at",
    "incident_id",
    "kind",
    "channel",
    "audience",
    "recipients",
    "text",
    "actor_type",
    "actor_id",
    "actor_label",
    "prev_hash",
)


def canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The exact bytes hashed. Times must already be canonical strings or aware datetimes."""
    fields = {name: entry[name] for name in CHAINED_FIELDS}
    if isinstance(fields["at"], datetime):
        fields["at"] = canonical_time(fields["at"])
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first place the chain does not hold, and why."""

    seq: int
    reason: str


def first_break(
    entries: Iterable[Mapping[str, Any]], *, expected_last_seq: int = 0
) -> Break | None:
    """Walk entries in `seq` order. `expected_last_seq` is the highest sequence number recorded
    elsewhere (the audit trail), so removing the newest entries is caught too."""
    prev_hash = GENESIS
    expected_seq = 1
    for entry in entries:
        seq = int(entry["seq"])
        if seq != expected_seq:
            return Break(expected_seq, f"entry {expected_seq} is missing (removed)")
        if entry["prev_hash"] != prev_hash:
            return Break(
                seq, f"entry {seq} does not follow entry {seq - 1} (previous hash differs)"
            )
        if entry_hash(entry) != entry["hash"]:
            return Break(seq, f"entry {seq} was altered (its content no longer matches its hash)")
        prev_hash = entry["hash"]
        expected_seq += 1
    if expected_last_seq >= expected_seq:
        return Break(expected_seq, f"entry {expected_seq} is missing (removed)")
    return None
