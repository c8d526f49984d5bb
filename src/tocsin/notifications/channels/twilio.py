"""SMS and voice calls through Twilio's REST API (or any provider speaking its shapes).

Messages: POST /2010-04-01/Accounts/{sid}/Messages.json, form fields To, From, Body.
Calls: POST /2010-04-01/Accounts/{sid}/Calls.json, form fields To, From, Twiml.
Both use basic auth with the account SID and auth token and answer 201 with a JSON
resource whose `sid` identifies the message or call.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import httpx

from tocsin.config import Settings
from tocsin.notifications.channels import ChannelError, Sent, is_permanent_http


async def send_sms(settings: Settings, to: str, body: str) -> Sent:
    return await _create(settings, "Messages.json", {"To": to, "Body": body})


async def call(settings: Settings, to: str, speech: str) -> Sent:
    """Read `speech` twice: the first words are often lost while the phone is picked up."""
    said = escape(speech)
    twiml = f'<Response><Say>{said}</Say><Pause length="1"/><Say>{said}</Say></Response>'
    return await _create(settings, "Calls.json", {"To": to, "Twiml": twiml})


async def _create(settings: Settings, resource: str, form: dict[str, str]) -> Sent:
    sid, token, sender = (
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from_number,
    )
    if not (sid and token and sender):
        raise ChannelError("SMS and voice are not configured (TOCSIN_TWILIO_* are unset)")
    url = f"{settings.twilio_api_base_url.rstrip('/')}/2010-04-01/Accounts/{sid}/{resource}"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(url, data={**form, "From": sender}, auth=(sid, token))
    except httpx.HTTPError as exc:
        raise ChannelError(f"Twilio could not be reached: {exc}") from None
    if response.status_code >= 300:
        raise ChannelError(
            f"Twilio answered {response.status_code}: {_message(response)}",
            permanent=is_permanent_http(response.status_code),
        )
    try:
        return Sent(str(response.json()["sid"]))
    except (ValueError, KeyError, TypeError):
        raise ChannelError("Twilio's answer has no sid") from None


def _message(response: httpx.Response) -> str:
    """Twilio's error body: {"code": 21211, "message": "The 'To' number … is not valid"}."""
    try:
        data = response.json()
        return f"{data.get('message', '')} (code {data.get('code', '?')})"
    except ValueError:
        return response.text[:200]
