"""E-mail over SMTP (submission with STARTTLS and login, or a plain relay)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from tocsin.config import Settings
from tocsin.notifications.channels import ChannelError, Sent


async def send(settings: Settings, to: str, subject: str, text: str, html: str) -> Sent:
    if not settings.smtp_host:
        raise ChannelError("e-mail is not configured (TOCSIN_SMTP_HOST is unset)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message_id = make_msgid(domain="tocsin")
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise ChannelError(f"the mail server refused {to}: {exc}", permanent=True) from None
    except aiosmtplib.SMTPResponseException as exc:
        # 5xx replies are final ("no such user", "message rejected"); 4xx are "try later".
        raise ChannelError(f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"the mail server could not be reached: {exc}") from None
    return Sent(message_id)
