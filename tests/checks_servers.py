"""Real local targets for synthetic check tests: a tiny shop over HTTP, a DNS server over UDP,
a TLS server with a certificate made on the spot, all on loopback."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rrset
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.net import free_port

SHOP_PASSWORD = "hunter2-correct-horse"


@dataclass
class Shop:
    """A shop whose login, cart or checkout can be told to fail."""

    failing: str | None = None
    """login, cart or checkout"""
    echo_password: bool = False
    """answer login with the password in a header, like a badly written debug mode"""
    orders: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def app(self) -> Starlette:
        async def login(request: Request) -> Response:
            body = await request.json()
            headers = {"x-debug-password": body.get("password", "")} if self.echo_password else {}
            if self.failing == "login" or body.get("password") != SHOP_PASSWORD:
                return JSONResponse({"error": "bad credentials"}, 401, headers=headers)
            return JSONResponse({"token": "tok-42"}, headers=headers)

        def authorised(request: Request) -> bool:
            return request.headers.get("authorization") == "Bearer tok-42"

        async def cart(request: Request) -> Response:
            if not authorised(request):
                return JSONResponse({"error": "sign in first"}, 401)
            if self.failing == "cart":
                return JSONResponse({"error": "cart service unavailable"}, 503)
            return JSONResponse({"cart": {"id": "cart-7", "items": [{"sku": "TEA-1"}]}})

        async def checkout(request: Request) -> Response:
            if not authorised(request):
                return JSONResponse({"error": "sign in first"}, 401)
            body = await request.json()
            status = "declined" if self.failing == "checkout" else "confirmed"
            self.orders.append({"cart": body.get("cart"), "status": status})
            return JSONResponse({"order": {"cart": body.get("cart"), "status": status}})

        return Starlette(
            routes=[
                Route("/login", login, methods=["POST"]),
                Route("/cart", cart, methods=["POST"]),
                Route("/checkout", checkout, methods=["POST"]),
            ]
        )


@asynccontextmanager
async def serve_shop() -> AsyncIterator[Shop]:
    shop = Shop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.listen(128)  # connections wait in the backlog until the server is up: no polling
    server = uvicorn.Server(uvicorn.Config(shop.app(), log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    shop.url = f"http://127.0.0.1:{port}"
    try:
        yield shop
    finally:
        server.should_exit = True
        await task
        sock.close()


class _Resolver(asyncio.DatagramProtocol):
    def __init__(self, records: dict[str, str]) -> None:
        self.records = records
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text()
        if name in self.records:
            response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", self.records[name]))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@asynccontextmanager
async def serve_dns(records: dict[str, str]) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Resolver(records), local_addr=("127.0.0.1", 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def self_signed(directory: Path, not_after: datetime) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=90))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("shop.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@asynccontextmanager
async def serve_tls(cert: Path, key: Path) -> AsyncIterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def serve_tcp() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    return free_port()
