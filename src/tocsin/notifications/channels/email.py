"""E-mail over SMTP (submission with STARTTLS and login, or a plain relay).

A single message opens a connection of its own. A batch to many recipients (status-page
subscribers) goes through one `Mailer`, which keeps a single connection for all of them, and a
`Circular`, which renders the message once: building a MIME message costs milliseconds of CPU,
thousands of times that would starve the event loop the API answers on.
"""

from __future__ import annotations

import asyncio
import base64
import html
import re
import secrets
from collections.abc import Callable
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import make_msgid, parseaddr
from io import BytesIO
from types import TracebackType

import aiosmtplib

from tocsin.config import Settings
from tocsin.notifications.channels import ChannelError, Sent

PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,189}")
"""Addresses a Circular writes into its header as they are; any other address (non-ASCII,
quoted local parts) is composed in full by the e-mail package."""

Compose = Callable[[str], tuple[str, str, str]]
"""link → (subject, text, html): the message for one recipient, given their own link."""


def compose(settings: Settings, to: str, subject: str, text: str, html_body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="tocsin")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html_body, subtype="html")
    return message


async def send(settings: Settings, to: str, subject: str, text: str, html: str) -> Sent:
    async with Mailer(settings) as mailer:
        return await mailer.send(to, compose(settings, to, subject, text, html))


class Circular:
    """One message for many recipients, rendered once; per recipient only the To header, the
    Message-ID and one link (an unsubscribe link) differ.

    The message is built by the e-mail package with markers in those places and the bodies
    base64-encoded, so each recipient's copy is the same bytes with the markers swapped and
    the two bodies re-encoded, all in C. The markers are random per circular, so no text an
    author wrote can be mistaken for one.
    """

    def __init__(self, settings: Settings, content: Compose) -> None:
        self._settings = settings
        self._content = content
        slot = f"link-{secrets.token_hex(12)}"
        subject, text, html_body = content(slot)
        if slot in subject:
            raise ValueError("the per-recipient link cannot be part of the subject")
        self._text = text.split(slot)
        self._html = html_body.split(slot)
        tag = secrets.token_hex(12)
        markers = {
            "to": f"to-{tag}@tocsin.invalid",
            "id": f"<id-{tag}@tocsin>",
            "text": f"text-{tag}",
            "html": f"html-{tag}",
        }
        skeleton = EmailMessage()
        skeleton["From"] = settings.smtp_from
        skeleton["To"] = markers["to"]
        skeleton["Subject"] = subject
        skeleton["Message-ID"] = markers["id"]
        skeleton["Auto-Submitted"] = "auto-generated"
        skeleton.set_content(markers["text"], cte="base64")
        skeleton.add_alternative(markers["html"], subtype="html", cte="base64")
        out = BytesIO()
        BytesGenerator(out, policy=SMTP_POLICY).flatten(skeleton)
        flat = out.getvalue()
        found = {
            "to": markers["to"].encode(),
            "id": markers["id"].encode(),
            # set_content ends a body with a newline before it encodes it
            "text": base64.b64encode(f"{markers['text']}\n".encode()),
            "html": base64.b64encode(f"{markers['html']}\n".encode()),
        }
        for name, marker in found.items():
            if flat.count(marker) != 1:
                raise RuntimeError(f"the {name} marker is not where a circular expects it")
        pattern = re.compile(b"|".join(re.escape(m) for m in found.values()))
        names = {marker: name for name, marker in found.items()}
        self._pieces: list[bytes | str] = []
        at = 0
        for match in pattern.finditer(flat):
            self._pieces += [flat[at : match.start()], names[match.group()]]
            at = match.end()
        self._pieces.append(flat[at:])

    def fits(self, address: str) -> bool:
        return PLAIN_ADDRESS.fullmatch(address) is not None

    def render(self, to: str, link: str) -> tuple[bytes, str]:
        """The message to one plain address, ready for DATA, and its Message-ID."""
        message_id = make_msgid(domain="tocsin")
        values = {
            "to": to.encode("ascii"),
            "id": message_id.encode("ascii"),
            "text": _base64_lines(link.join(self._text)),
            "html": _base64_lines(html.escape(link).join(self._html)),
        }
        raw = b"".join(p if isinstance(p, bytes) else values[p] for p in self._pieces)
        return raw, message_id

    def compose(self, to: str, link: str) -> EmailMessage:
        """The same message built in full, for an address `render` cannot write as it is."""
        subject, text, html_body = self._content(link)
        return compose(self._settings, to, subject, text, html_body)


def _base64_lines(text: str) -> bytes:
    """A text body in its canonical form (UTF-8, every line ended by CRLF, the last one too),
    base64-encoded in 76-character lines."""
    data = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    return base64.encodebytes(data).rstrip(b"\n").replace(b"\n", b"\r\n")


class Mailer:
    """One SMTP connection for many messages, each of which succeeds or fails on its own.

    A refused recipient or a rejected message leaves the connection usable (the envelope is
    reset). A connection the server closes (many close after a number of messages) is opened
    again, and a message that had not reached DATA yet is tried once more on the new one; a
    message cut off during DATA is reported as failed for now rather than risk a duplicate.
    When the server cannot be reached at all, every later message fails at once with the same
    error instead of each waiting for its own timeout.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sender = parseaddr(settings.smtp_from)[1]
        self._client: aiosmtplib.SMTP | None = None
        self._unreachable: ChannelError | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Mailer:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    async def send(self, to: str, message: EmailMessage) -> Sent:
        """Send a message built by the e-mail package (any address, SMTPUTF8 if needed)."""
        async with self._lock:
            client = await self._connected()
            try:
                await client.send_message(message, sender=self._sender, recipients=[to])
            except aiosmtplib.SMTPRecipientsRefused as exc:
                codes = [e.code for e in exc.recipients]
                raise ChannelError(
                    f"the mail server refused {to}: {exc}", permanent=min(codes or [550]) >= 500
                ) from None
            except aiosmtplib.SMTPResponseException as exc:
                self._forget_if_closed(client)
                raise _rejected(exc) from None
            except (aiosmtplib.SMTPException, OSError) as exc:
                self._forget(client)
                raise ChannelError(f"the mail server could not be reached: {exc}") from None
            return Sent(str(message["Message-ID"]))

    async def send_circular(self, circular: Circular, to: str, link: str) -> Sent:
        """Send a circular's copy for one recipient with their own link."""
        if not circular.fits(to):
            return await self.send(to, circular.compose(to, link))
        raw, message_id = circular.render(to, link)
        async with self._lock:
            for retried in (False, True):
                client = await self._connected()
                in_data = False
                try:
                    await client.mail(self._sender)
                    await client.rcpt(to)
                    in_data = True
                    await client.data(raw)
                    return Sent(message_id)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    await self._reset(client)
                    raise ChannelError(
                        f"the mail server refused {to}: {exc.code} {exc.message}",
                        permanent=exc.code >= 500,
                    ) from None
                except aiosmtplib.SMTPResponseException as exc:
                    if not client.is_connected and not in_data and not retried:
                        self._forget(client)
                        continue  # the server closed this connection (421): try a new one
                    await self._reset(client)
                    raise _rejected(exc) from None
                except (aiosmtplib.SMTPException, OSError) as exc:
                    self._forget(client)
                    if not in_data and not retried:
                        continue
                    raise ChannelError(f"the mail server could not be reached: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        if self._unreachable is not None:
            raise self._unreachable
        settings = self._settings
        if not settings.smtp_host:
            self._unreachable = ChannelError("e-mail is not configured (TOCSIN_SMTP_HOST is unset)")
            raise self._unreachable
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            self._unreachable = _rejected(exc)
            raise self._unreachable from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            self._unreachable = ChannelError(f"the mail server could not be reached: {exc}")
            raise self._unreachable from None
        self._client = client
        return client

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        """Clear a failed envelope so the connection can carry the next message."""
        if not client.is_connected:
            self._forget(client)
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self._forget(client)

    def _forget_if_closed(self, client: aiosmtplib.SMTP) -> None:
        if not client.is_connected:
            self._forget(client)

    def _forget(self, client: aiosmtplib.SMTP) -> None:
        client.close()
        if self._client is client:
            self._client = None


def _rejected(exc: aiosmtplib.SMTPResponseException) -> ChannelError:
    # 5xx replies are final ("no such user", "message rejected"); 4xx are "try later".
    return ChannelError(f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500)
