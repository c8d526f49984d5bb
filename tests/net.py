"""Loopback ports for the real servers the suite starts (SMTP, Alertmanager, Synapse, …)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on right now; the caller binds it next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
