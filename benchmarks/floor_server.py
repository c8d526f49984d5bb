"""The least a Python server must do to accept Alertmanager API v2 alerts durably.

    python benchmarks/floor_server.py PORT DATABASE_FILE [--journal]

Not part of Tocsin: a yardstick for `ingest.py`. It answers `POST /api/v2/alerts` with no
framework at all: uvloop and httptools (the event loop and HTTP parser uvicorn uses), the
standard library's json and sqlite3 on the event loop's thread. Per alert it does what
durable ingestion cannot skip: parse, a label fingerprint, an upsert of the alert row keyed
by it (earliest start kept, latest annotations), a history row; per request a job row for the
next stage. Requests that arrive while one transaction runs share the next commit (SQLite in
WAL mode with synchronous=NORMAL, as Tocsin runs it), and each is answered after its commit.
It checks no key, validates nothing, groups nothing and answers nothing but 200: its rate is
an upper bound for any Python design, next to Alertmanager's in-memory rate.

With `--journal` it merges nothing: each group of requests is appended to a file as JSON
lines (one `write` per group, before the answers, so it survives the server's crash as a
SQLite commit in that mode does) and nothing reads it. That is the rate of a design which
answers before deduplicating, with the merge left for later; it says how much of the floor
is the merge.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import sys
from typing import Any

import httptools
import uvloop

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY, fingerprint TEXT UNIQUE NOT NULL, labels TEXT NOT NULL,
  annotations TEXT NOT NULL, starts_at TEXT NOT NULL, ends_at TEXT
);
CREATE TABLE IF NOT EXISTS alert_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL, kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, payload TEXT NOT NULL
);
"""
UPSERT = (
    "INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET "
    "annotations = excluded.annotations, ends_at = excluded.ends_at, "
    "starts_at = min(starts_at, excluded.starts_at)"
)
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class Store:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.waiting: list[tuple[list[tuple[Any, ...]], asyncio.Transport]] = []
        self.scheduled = False

    def add(self, rows: list[tuple[Any, ...]], transport: asyncio.Transport) -> None:
        self.waiting.append((rows, transport))
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.commit)

    def commit(self) -> None:
        self.scheduled = False
        group, self.waiting = self.waiting, []
        alerts = [row for rows, _ in group for row in rows]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(UPSERT, alerts)
        self.db.executemany(
            "INSERT INTO alert_events (fingerprint, kind) VALUES (?, 'received')",
            [(row[0],) for row in alerts],
        )
        self.db.executemany(
            "INSERT INTO jobs (kind, payload) VALUES ('alerts.process', ?)",
            [(json.dumps([row[0] for row in rows]),) for rows, _ in group],
        )
        self.db.execute("COMMIT")
        for _, transport in group:
            transport.write(OK)


class Journal(Store):
    """Appends instead of merging."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.waiting = []
        self.scheduled = False

    def commit(self) -> None:
        self.scheduled = False
        group, self.waiting = self.waiting, []
        os.write(self.fd, "".join(json.dumps(rows) + "\n" for rows, _ in group).encode())
        for _, transport in group:
            transport.write(OK)


class Connection(asyncio.Protocol):
    def __init__(self, store: Store) -> None:
        self.store = store
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's own class

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        posted: list[dict[str, Any]] = json.loads(b"".join(self.body))
        self.body = []
        rows = []
        for alert in posted:
            labels = json.dumps(alert["labels"], sort_keys=True)
            fingerprint = hashlib.blake2b(labels.encode(), digest_size=8).hexdigest()
            annotations = json.dumps(alert.get("annotations", {}))
            rows.append((fingerprint, labels, annotations, alert["startsAt"], alert.get("endsAt")))
        assert self.transport is not None
        self.store.add(rows, self.transport)


async def serve(port: int, path: str, journal: bool) -> None:
    store = Journal(path) if journal else Store(path)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(store), "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), sys.argv[2], "--journal" in sys.argv[3:]))
