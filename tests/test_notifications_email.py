"""The e-mail channel for many recipients at once: a Circular renders a message once and gives
every recipient the same mail as composing it in full would, with their own link; a Mailer
carries many messages over one SMTP connection, each failing on its own. All against a real
SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.mail import Picky, smtp_server
from tocsin.config import Settings, load_settings
from tocsin.notifications.channels import ChannelError
from tocsin.notifications.channels import email as email_channel


def mail_settings(port: int) -> Settings:
    return load_settings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_from="Acme Status <status@acme.example>",
        smtp_timeout_seconds=10,
    )


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


def lines(message: EmailMessage) -> tuple[list[str], list[str]]:
    """The two bodies line by line: what a reader sees, whichever line ending carried them."""
    text, rich = bodies(message)
    return text.splitlines(), rich.splitlines()


def content(subject: str, before: str, after: str) -> email_channel.Compose:
    def compose(link: str) -> tuple[str, str, str]:
        text = f"{before}\nUnsubscribe: {link}\n{after}"
        body = f'<p>{html.escape(before)}</p><a href="{html.escape(link)}">Unsubscribe</a>'
        return subject, text, body

    return compose


plain_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x00"),
    max_size=300,
)
addresses = st.from_regex(r"\A[a-z0-9][a-z0-9._+-]{0,30}@[a-z0-9-]{1,20}\.example\Z")
links = st.from_regex(r"\Ahttps://[a-z.]{1,30}/status/unsubscribe/[A-Za-z0-9_.&?=-]{1,200}\Z")


@given(
    subject=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=120),
    before=plain_text,
    after=plain_text,
    to=addresses,
    link=links,
)
@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_circular_copy_reads_like_the_message_composed_in_full(
    subject: str, before: str, after: str, to: str, link: str
) -> None:
    settings = mail_settings(25)
    circular = email_channel.Circular(settings, content(subject, before, after))
    assert circular.fits(to)
    raw, message_id = circular.render(to, link)
    raw.decode("ascii")  # fit for any server, no 8BITMIME needed
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    copy = parse(raw)
    full = parse(circular.compose(to, link).as_bytes(policy=policy.SMTP))
    for header in ("From", "To", "Subject", "Auto-Submitted"):
        assert copy[header] == full[header], header
    assert copy["Message-ID"] == message_id
    assert lines(copy) == lines(full)
    text, rich = lines(copy)
    assert f"Unsubscribe: {link}" in text
    assert any(f'href="{html.escape(link)}"' in line for line in rich)


def test_each_copy_has_its_own_message_id_and_an_odd_address_is_composed_in_full() -> None:
    circular = email_channel.Circular(mail_settings(25), content("Down", "Checkout", ""))
    first, _ = circular.render("a@acme.example", "https://x/1")
    second, _ = circular.render("b@acme.example", "https://x/2")
    assert parse(first)["Message-ID"] != parse(second)["Message-ID"]
    assert not circular.fits('"a b"@acme.example') and not circular.fits("zoë@acme.example")
    assert not circular.fits("a@acme.example\r\nBcc: evil@x.example")
    with pytest.raises(ValueError, match="subject"):
        email_channel.Circular(mail_settings(25), lambda link: (link, link, link))


async def send_all(settings: Settings, recipients: list[str]) -> dict[str, ChannelError | None]:
    circular = email_channel.Circular(settings, content("Checkout is slow", "Investigating", ""))
    outcome: dict[str, ChannelError | None] = {}
    async with email_channel.Mailer(settings) as mailer:
        for to in recipients:
            try:
                await mailer.send_circular(circular, to, f"https://status.example/u/{to}")
                outcome[to] = None
            except ChannelError as exc:
                outcome[to] = exc
    return outcome


async def test_one_connection_carries_them_all_and_a_refusal_fails_only_its_own() -> None:
    box = Picky()
    box.refuse.add("gone@acme.example")
    box.later.add("busy@acme.example")
    people = [f"p{n}@acme.example" for n in range(6)]
    with smtp_server(box) as (_, port):
        outcome = await send_all(
            mail_settings(port),
            [*people[:2], "gone@acme.example", "busy@acme.example", *people[2:]],
        )
    assert [to for to, error in outcome.items() if error is None] == people
    gone, busy = outcome["gone@acme.example"], outcome["busy@acme.example"]
    assert gone is not None and gone.permanent and "550" in str(gone)
    assert busy is not None and not busy.permanent and "451" in str(busy)
    assert [recipients for recipients, _ in box.messages] == [[p] for p in people]
    assert len(set(box.peers)) == 1, "every message over the same connection"
    for to in people:
        [text] = box.text_to(to)
        assert f"Unsubscribe: https://status.example/u/{to}\r\n" in text


async def test_a_server_that_closes_the_connection_gets_a_new_one_and_nobody_twice() -> None:
    box = Picky(per_connection=2)
    people = [f"p{n}@acme.example" for n in range(7)]
    with smtp_server(box) as (_, port):
        outcome = await send_all(mail_settings(port), people)
    assert all(error is None for error in outcome.values())
    assert sorted(r for recipients, _ in box.messages for r in recipients) == sorted(people)
    assert len(set(box.peers)) == 4


@pytest.fixture
async def hang_up() -> AsyncIterator[tuple[int, list[int]]]:
    """A port whose server accepts a connection and closes it at once; counts the attempts."""
    attempts: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        attempts.append(1)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, attempts


async def test_a_server_that_cannot_be_reached_fails_the_rest_without_trying_each(
    hang_up: tuple[int, list[int]],
) -> None:
    port, attempts = hang_up
    outcome = await send_all(mail_settings(port), [f"p{n}@acme.example" for n in range(5)])
    assert all(e is not None and not e.permanent for e in outcome.values()), "try again later"
    assert all("could not be reached" in str(e) for e in outcome.values())
    assert len(attempts) == 1


async def test_a_single_message_still_goes_out_on_its_own() -> None:
    with smtp_server() as (box, port):
        sent = await email_channel.send(
            mail_settings(port), "ana@acme.example", "Hello", "Plain words", "<p>Rich words</p>"
        )
        box.refuse.add("gone@acme.example")
        with pytest.raises(ChannelError) as refused:
            await email_channel.send(
                mail_settings(port), "gone@acme.example", "Hi", "x", "<p>x</p>"
            )
    assert refused.value.permanent
    [(recipients, message)] = box.messages
    assert recipients == ["ana@acme.example"] and message["Message-ID"] == sent.provider_id
    assert lines(message) == (["Plain words"], ["<p>Rich words</p>"])
