"""A real SMTP server (aiosmtpd) on loopback that keeps what Tocsin sends, for every test that
follows an e-mail: notifications, pages, status-page subscriptions."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.net import free_port


class Mailbox:
    """An aiosmtpd handler that keeps what it was given; `refuse` names addresses it rejects."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: set[str] = set()
        self.peers: list[object] = []
        """the client end (host, port) of the connection each message came over, in order"""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        self.peers.append(session.peer)
        return "250 Message accepted"

    def text_to(self, address: str) -> list[str]:
        """The plain-text bodies of the messages sent to `address`, in order."""
        found = []
        for recipients, message in self.messages:
            if address in recipients:
                part = message.get_body(preferencelist=("plain",))
                assert part is not None
                found.append(part.get_content())
        return found


class Picky(Mailbox):
    """A server that answers some recipients "try later" and closes every connection after
    `per_connection` messages, as many providers do."""

    def __init__(self, per_connection: int | None = None) -> None:
        super().__init__()
        self.later: set[str] = set()
        self.per_connection = per_connection
        self.carried: Counter[object] = Counter()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.per_connection is not None and self.carried[session.peer] >= self.per_connection:
            return "421 4.7.0 too many messages on one connection, closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.later:
            return "451 4.3.0 mailbox busy, try again later"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.carried[session.peer] += 1
        return await super().handle_DATA(server, session, envelope)


@contextlib.contextmanager
def smtp_server(box: Mailbox | None = None) -> Iterator[tuple[Mailbox, int]]:
    """A running server (with a fresh Mailbox unless given one) and its port, stopped
    afterwards."""
    box = box if box is not None else Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
