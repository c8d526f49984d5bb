"""Jira Cloud through its REST API v3.

Create: POST /rest/api/3/issue with `fields` (project.key, summary, description in Atlassian
Document Format, issuetype.name, labels), answered 201 `{"id", "key", "self"}`. Comment:
POST /rest/api/3/issue/{key}/comment with `{"body": <ADF>}`, answered 201. Transition:
POST /rest/api/3/issue/{key}/transitions with `{"transition": {"id": ...}}`, answered 204.
Basic auth with the account's e-mail and an API token. Refusals carry
`{"errorMessages": [...], "errors": {field: message}}`.
"""

from __future__ import annotations

from typing import Any

import httpx

from tocsin.alerts.routing.ticketing import adf
from tocsin.alerts.routing.ticketing.base import Draft, Filed, TrackerError
from tocsin.notifications.channels import is_permanent_http

SUMMARY_LIMIT = 255
"""Jira refuses a longer summary."""


class JiraCloud:
    kind = "jira"
    label = "Jira"

    def __init__(self, base_url: str, email: str, api_token: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = (email, api_token)
        self._timeout = timeout

    async def file(self, draft: Draft) -> Filed:
        config = draft.config
        lines = [
            draft.summary or draft.title,
            "",
            f"Service: {draft.service}",
            f"Severity: {draft.severity or 'not given'}",
            f"Tocsin ticket: {draft.ref}",
        ]
        fields: dict[str, Any] = {
            "project": {"key": config["project"]},
            "summary": " ".join(draft.title.split())[:SUMMARY_LIMIT],
            "description": adf.plain("\n".join(lines), ("Alerts in Tocsin", draft.link)),
            "issuetype": {"name": config.get("issue_type") or "Task"},
            "labels": list(config.get("labels") or []),
        }
        data = await self._post("/rest/api/3/issue", {"fields": fields})
        try:
            key = str(data["key"])
        except (KeyError, TypeError):
            raise TrackerError("Jira's answer has no issue key") from None
        return Filed(key=key, url=f"{self.base_url}/browse/{key}")

    async def comment(self, key: str, text: str, link: str) -> None:
        await self._post(
            f"/rest/api/3/issue/{key}/comment",
            {"body": adf.plain(text, ("Alerts in Tocsin", link))},
        )

    async def transition(self, key: str, transition: str) -> None:
        await self._post(f"/rest/api/3/issue/{key}/transitions", {"transition": {"id": transition}})

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(f"{self.base_url}{path}", json=body, auth=self._auth)
        except httpx.HTTPError as exc:
            raise TrackerError(f"Jira could not be reached: {exc}") from None
        if response.status_code >= 300:
            raise TrackerError(
                f"Jira answered {response.status_code}: {_message(response)}",
                permanent=is_permanent_http(response.status_code),
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TrackerError("Jira's answer is not JSON") from None


def _message(response: httpx.Response) -> str:
    """Jira's refusal: error messages, then field errors (`summary: Field is required`)."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if not isinstance(data, dict):
        return str(data)[:200]
    parts = [str(m) for m in data.get("errorMessages") or []]
    errors = data.get("errors") or {}
    if isinstance(errors, dict):
        parts += [f"{field}: {message}" for field, message in errors.items()]
    return "; ".join(parts)[:500] or response.reason_phrase
