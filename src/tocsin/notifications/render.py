"""The words of a notification on each channel, from templates an operator can change.

The environment is sandboxed: templates are data (an operator may edit them), and the
notification's text comes from alerts, which come from outside.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from tocsin.notifications.message import Notification
from tocsin.notifications.rules import shorten

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates" / "notifications"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES / "messages"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )


def _render(name: str, notification: Notification, base_url: str) -> str:
    context = {"n": notification, "settings_url": f"{base_url.rstrip('/')}/notifications"}
    return _env().get_template(name).render(context).strip()


def email(notification: Notification, base_url: str) -> Rendered:
    subject = " ".join(_render("email_subject.txt", notification, base_url).split())
    return Rendered(
        subject,
        _render("email.txt", notification, base_url) + "\n",
        _render("email.html", notification, base_url),
    )


def sms(notification: Notification, base_url: str) -> str:
    """Kept to one segment; the link survives the cut because it is what the reader needs."""
    text = _render("sms.txt", notification, base_url)
    link = notification.link
    if link and len(link) <= 120 and len(" ".join(text.split())) > 160:
        head = _render("sms.txt", replace(notification, link=None), base_url)
        return shorten(head, 160 - len(link) - 1) + " " + link
    return shorten(text)


def voice(notification: Notification, base_url: str) -> str:
    return " ".join(_render("voice.txt", notification, base_url).split())
