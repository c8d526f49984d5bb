"""A real Synapse homeserver for Matrix war-room tests: SQLite, loopback only, no federation,
rate limits off, registration by shared secret. Started once per test session."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests.net import free_port

SERVER_NAME = "tocsin.test"
START_SECONDS = 60.0
UNLIMITED = {"per_second": 100000, "burst_count": 100000}


@dataclass
class Homeserver:
    url: str
    shared_secret: str
    bot_token: str
    bot_user: str

    def register(self, username: str, *, admin: bool = False) -> tuple[str, str]:
        """Create an account with the shared secret; returns (user id, access token)."""
        with httpx.Client(base_url=self.url, timeout=30) as http:
            nonce = http.get("/_synapse/admin/v1/register").json()["nonce"]
            password = secrets.token_urlsafe(16)
            mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
            mac.update(
                b"\x00".join(
                    [
                        nonce.encode(),
                        username.encode(),
                        password.encode(),
                        b"admin" if admin else b"notadmin",
                    ]
                )
            )
            response = http.post(
                "/_synapse/admin/v1/register",
                json={
                    "nonce": nonce,
                    "username": username,
                    "password": password,
                    "admin": admin,
                    "mac": mac.hexdigest(),
                },
            )
            response.raise_for_status()
            body = response.json()
            return str(body["user_id"]), str(body["access_token"])


def _config(directory: Path, port: int, shared_secret: str) -> Path:
    config = {
        "server_name": SERVER_NAME,
        "pid_file": str(directory / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "media_store_path": str(directory / "media"),
        "signing_key_path": str(directory / "signing.key"),
        "registration_shared_secret": shared_secret,
        "report_stats": False,
        "trusted_key_servers": [],
        "federation_domain_whitelist": [],
        "suppress_key_server_warning": True,
        "enable_metrics": False,
        "rc_message": UNLIMITED,
        "rc_registration": UNLIMITED,
        "rc_room_creation": UNLIMITED,
        "rc_login": {"address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
        "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
        "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED, "per_issuer": UNLIMITED},
    }
    path = directory / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def _start(directory: Path) -> tuple[Homeserver, Running]:
    port, shared_secret = free_port(), secrets.token_hex(16)
    config = _config(directory, port, shared_secret)
    command = [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config)]
    keys = subprocess.run(
        [*command, "--generate-keys"], capture_output=True, text=True, timeout=120, check=False
    )
    if keys.returncode != 0:
        raise RuntimeError(f"Synapse could not generate its keys:\n{keys.stderr[-2000:]}")
    log = directory / "homeserver.out"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    running = Running(process, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Synapse exited with {process.returncode}:\n{running.tail()}")
        try:
            if httpx.get(f"{url}/_matrix/client/versions", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            _stop(running)
            raise RuntimeError(f"Synapse did not answer in {START_SECONDS} s:\n{running.tail()}")
        time.sleep(0.2)  # polling a separate process: there is no event to wait on
    server = Homeserver(url, shared_secret, "", "")
    server.bot_user, server.bot_token = server.register("tocsin-bot", admin=True)
    return server, running


def _stop(running: Running) -> None:
    running.process.terminate()
    try:
        running.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()


def homeserver(directory: Path) -> Iterator[Homeserver]:
    """Start Synapse in `directory`, yield it, stop it. Fails (never skips) when it cannot
    start, with the reason: the Matrix adapter must be tested against the real thing."""
    server, running = _start(directory)
    try:
        yield server
    finally:
        _stop(running)
