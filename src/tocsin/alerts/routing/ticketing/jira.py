"""Jira Cloud through its REST API v3.

Find: POST /rest/api/3/search/jql with `{"jql", "fields", "maxResults"}`, answered 200
`{"issues": [{"id", "key", "self", "fields"}], "nextPageToken"?, "isLast"?}`. Create: POST
/rest/api/3/issue with `fields` (project.key, summary, description in Atlassian Document
Format, issuetype.name, labels), answered 201 `{"id", "key", "self"}`. Comment:
POST /rest/api/3/issue/{key}/comment with `{"body": <ADF>}`, answered 201. Transition:
POST /rest/api/3/issue/{key}/transitions with `{"transition": {"id": ...}}`, answered 204.
Basic auth with the account's e-mail and an API token. Refusals carry
`{"errorMessages": [...], "errors": {field: message}}`.

Creating an issue has no idempotency key, so every issue carries the draft's marker as a
label and filing looks for it first: a retry after an attempt whose answer was lost (the
worker died before recording the key) adopts that issue instead of filing a second one.
Labels are searchable by every account that can see the project, unlike entity properties,
which JQL finds only when an installed app indexes them. The search is eventually consistent
(Atlassian: usually seconds behind a write), so `visible_within` is the call timeout (every
call is bounded by it as a whole, not per read) plus the configured search lag: routing does
not create again before that much time has passed since an attempt whose outcome is unknown.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
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

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        timeout: float = 30,
        search_lag: float = 60,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = (email, api_token)
        self._timeout = timeout
        self.visible_within = timedelta(seconds=timeout + search_lag)

    async def find(self, draft: Draft) -> Filed | None:
        found = await self._find(str(draft.config["project"]), draft.marker)
        if found is None:
            return None
        return Filed(key=found, url=self._browse(found), adopted=True)

    async def create(self, draft: Draft) -> Filed:
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
            "labels": list(dict.fromkeys([*(config.get("labels") or []), draft.marker])),
        }
        data = await self._post("/rest/api/3/issue", {"fields": fields})
        try:
            key = str(data["key"])
        except (KeyError, TypeError):
            raise TrackerError("Jira's answer has no issue key") from None
        return Filed(key=key, url=self._browse(key))

    async def _find(self, project: str, marker: str) -> str | None:
        """The key of the project's issue labelled `marker` (the first, were there several)."""
        jql = f"project = {_quoted(project)} AND labels = {_quoted(marker)} ORDER BY key ASC"
        data = await self._post(
            "/rest/api/3/search/jql", {"jql": jql, "fields": ["summary"], "maxResults": 1}
        )
        issues = data.get("issues") if isinstance(data, dict) else None
        if not isinstance(issues, list):
            raise TrackerError("Jira's search answer has no issues list")
        for issue in issues:
            if isinstance(issue, dict) and issue.get("key"):
                return str(issue["key"])
        return None

    def _browse(self, key: str) -> str:
        return f"{self.base_url}/browse/{key}"

    async def comment(self, key: str, text: str, link: str) -> None:
        await self._post(
            f"/rest/api/3/issue/{key}/comment",
            {"body": adf.plain(text, ("Alerts in Tocsin", link))},
        )

    async def transition(self, key: str, transition: str) -> None:
        await self._post(f"/rest/api/3/issue/{key}/transitions", {"transition": {"id": transition}})

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            # The whole call is bounded, not each read: `visible_within` counts on it.
            async with (
                asyncio.timeout(self._timeout),
                httpx.AsyncClient(timeout=self._timeout) as http,
            ):
                response = await http.post(f"{self.base_url}{path}", json=body, auth=self._auth)
        except httpx.ConnectError as exc:  # nothing was sent
            raise TrackerError(f"Jira could not be reached: {exc}", created_nothing=True) from None
        except httpx.HTTPError as exc:
            raise TrackerError(f"Jira could not be reached: {exc}") from None
        except TimeoutError:
            raise TrackerError(f"Jira did not answer within {self._timeout:g} s") from None
        if response.status_code >= 300:
            raise TrackerError(
                f"Jira answered {response.status_code}: {_message(response)}",
                permanent=is_permanent_http(response.status_code),
                # A 4xx is Jira's own refusal; a 5xx may come from a gateway after Jira acted.
                created_nothing=400 <= response.status_code < 500,
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TrackerError("Jira's answer is not JSON") from None


def _quoted(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
