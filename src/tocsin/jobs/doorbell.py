"""Wake-ups between processes that share one SQLite file.

On PostgreSQL a commit that queues jobs wakes every worker through LISTEN/NOTIFY. SQLite has
no such channel, so a `tocsin worker` beside `tocsin serve --no-worker` learnt of new jobs
only at its next poll (half a second by default): during an alert storm, an unrelated page
waited that long before anyone looked at it. SQLite can only be shared by processes of one
machine, so a local channel is enough: every listening worker binds a Unix datagram socket
in a directory named after the database file, and a commit that queued jobs sends one byte
to each socket there. Like a notification it only shortens the wait; a worker that misses a
ring still polls, and a ring to a process that has gone is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL, make_url

RESCAN_SECONDS = 1.0
"""How long a ringer trusts its list of listeners: a worker that has just started is rung
within this time, and polls meanwhile."""


def bell_directory(url: URL | str) -> Path | None:
    """Where the listeners of a SQLite database bind; None for other databases or memory.

    A short fixed place (socket paths are limited to about a hundred bytes), one per
    database file and user, so that two installations on one machine do not wake each other.
    """
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    name = hashlib.sha256(str(Path(url.database).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"tocsin-{os.getuid()}-{name}"


class Ringer:
    """Sends a ring to every listener of one database."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._targets: list[str] = []
        self._scanned = float("-inf")

    def ring(self) -> None:
        now = time.monotonic()
        if now - self._scanned > RESCAN_SECONDS:
            self._scanned = now
            try:
                self._targets = [str(p) for p in self._directory.glob("*.sock")]
            except OSError:
                self._targets = []
        for target in self._targets:
            try:
                self._socket.sendto(b"!", target)
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):  # its process has gone: forget it
                    os.unlink(target)
                self._scanned = float("-inf")
            except OSError:  # its queue is full: it has rings enough to wake up
                pass


_ringers: dict[URL | str, Ringer | None] = {}
"""database URL -> its ringer (None off SQLite): every committed job rings, and resolving the
file's path each time cost a twentieth of a one-alert request."""


def ring(url: URL | str) -> None:
    """Wake the workers of other processes using this database (a no-op off SQLite)."""
    try:
        ringer = _ringers[url]
    except KeyError:
        directory = bell_directory(url)
        ringer = _ringers[url] = None if directory is None else Ringer(directory)
    if ringer is not None:
        ringer.ring()


class Bell:
    """One worker's socket: `wake` runs (on the event loop) whenever the bell rings."""

    def __init__(self, directory: Path, wake: Callable[[], None]) -> None:
        self._directory = directory
        self._wake = wake
        self._path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        self._socket: socket.socket | None = None

    def start(self) -> None:
        self._directory.mkdir(mode=0o700, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(str(self._path))
        self._socket = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)

    def _drain(self) -> None:
        assert self._socket is not None
        with contextlib.suppress(BlockingIOError):
            while self._socket.recv(64):
                pass
        self._wake()

    def stop(self) -> None:
        if self._socket is None:
            return
        asyncio.get_running_loop().remove_reader(self._socket.fileno())
        self._socket.close()
        self._socket = None
        with contextlib.suppress(OSError):
            self._path.unlink()
        with contextlib.suppress(OSError):  # the last listener leaves no trace
            self._directory.rmdir()


def start_bell(database_url: str, wake: Callable[[], None]) -> Bell | None:
    """Listen for rings on a SQLite database; None elsewhere (PostgreSQL notifies)."""
    directory = bell_directory(database_url)
    if directory is None:
        return None
    bell = Bell(directory, wake)
    bell.start()
    return bell
