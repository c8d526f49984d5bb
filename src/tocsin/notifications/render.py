"""The words of a notification on each channel, from templates an operator can change.

The environment is sandboxed: templates are data (an operator may edit them), and the
notification's text comes from alerts, which come from outside.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from tocsin.notifications.message import Notification
from tocsin.notifications.rules import shorten

SLACK_SECTION_LIMIT = 3000
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


def chat(notification: Notification, base_url: str) -> Rendered:
    """A chat message: `text` is what Matrix shows without formatting and what Slack puts in
    the phone's notification; `html` is Matrix's formatted body. Blank lines are collapsed
    because chat clients show every one of them."""
    text = _render("chat.txt", notification, base_url)
    lines = [line.rstrip() for line in text.splitlines()]
    compact = "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1]))
    html = _render("chat.html", notification, base_url)
    return Rendered(lines[0] if lines else notification.subject, compact.strip(), html)


def slack_blocks(notification: Notification, base_url: str) -> list[dict[str, Any]]:
    """Block Kit: the headline, the summary, and the acknowledge link as a button, so the
    person paged acts from the message itself. Limits are Slack's (header 150 characters,
    section text 3000)."""
    words = chat(notification, base_url)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": shorten(words.subject, 150)}}
    ]
    if notification.body.strip():
        body = _mrkdwn(notification.body)
        if len(body) > SLACK_SECTION_LIMIT:
            body = body[: SLACK_SECTION_LIMIT - 3].rstrip() + "..."
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    if notification.link:
        label = "Acknowledge" if notification.page_id else "Open in Tocsin"
        button: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "url": notification.link,
            "action_id": "acknowledge" if notification.page_id else "open",
        }
        if notification.page_id:
            button["style"] = "primary"
        blocks.append({"type": "actions", "elements": [button]})
    settings_url = f"{base_url.rstrip('/')}/notifications"
    footer = (
        f"Sent by Tocsin ({_mrkdwn(notification.source)}). "
        f"<{settings_url}|Change how you are notified>"
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return blocks


def _mrkdwn(text: str) -> str:
    """Slack's three control characters escaped, so alert text cannot forge links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
