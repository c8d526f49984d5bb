"""A real SMTP server (aiosmtpd) on loopback that keeps what Tocsin sends, for every test that
follows an e-mail: notifications, pages, status-page subscriptions."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A running server and its port, stopped afterwards."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
