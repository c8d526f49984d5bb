"""A local server speaking the documented shapes of the Jira Cloud REST API v3 calls that
routing tickets use.

- POST /rest/api/3/issue with `{"fields": {project: {key}, summary, description (Atlassian
  Document Format), issuetype: {name}, labels}}` answers 201 `{"id", "key", "self"}`; an
  unknown project, a missing summary or a label with a space answers 400
  `{"errorMessages": [], "errors": {...}}`.
- POST /rest/api/3/search/jql with `{"jql", "fields"?, "maxResults"?, "nextPageToken"?}`
  answers 200 `{"issues": [{"id", "key", "self", "fields"}], "isLast": true}`. The JQL
  understood is what routing sends: `field = "value"` clauses on project and labels joined
  by AND, then an optional ORDER BY key; other JQL answers 400 as Jira does for a query it
  cannot parse, and a body with other members (the old `startAt`) answers 400 "Invalid
  request payload".
- POST /rest/api/3/issue/{key}/comment with `{"body": <ADF>}` answers 201 with the comment.
- POST /rest/api/3/issue/{key}/transitions with `{"transition": {"id"}}` answers 204.
- Every call uses basic auth (account e-mail, API token); anything else answers 401.

Jira's search is eventually consistent, and the server can be told to lag as it does: a new
issue shows in search only `search_lag` after it was created (on the application's clock, so
tests move time rather than sleep), and only once `unseen_searches` searches have missed it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tocsin.clock import utcnow

EMAIL = "tocsin@example.com"
TOKEN = "jira-api-token"


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    created_at: datetime = field(default_factory=utcnow)
    missed: int = 0
    """searches that should have found it but did not (it was not indexed yet)"""
    comments: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[str] = field(default_factory=list)


@dataclass
class FakeJira:
    projects: set[str] = field(default_factory=lambda: {"OPS"})
    transition_ids: set[str] = field(default_factory=lambda: {"31"})
    issues: dict[str, Issue] = field(default_factory=dict)
    down: int = 0
    """answer this many calls with 503 first, as during an outage"""
    refuse_creates: int = 0
    """answer this many creates with `refuse_status` and create nothing, as a gateway does
    whose Jira behind it is down (503) or as Jira does when rate-limiting (429)"""
    refuse_status: int = 503
    search_lag: timedelta = timedelta(0)
    """how long after its creation an issue is still missing from search"""
    unseen_searches: int = 0
    """how many searches miss a new issue before it shows"""
    search_together: asyncio.Barrier | None = None
    """searches wait here until as many have arrived, to run concurrent callers in step"""
    calls: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(10000))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/rest/api/3/issue", self.create, methods=["POST"]),
                Route("/rest/api/3/search/jql", self.search, methods=["POST"]),
                Route("/rest/api/3/issue/{key}/comment", self.comment, methods=["POST"]),
                Route("/rest/api/3/issue/{key}/transitions", self.transition, methods=["POST"]),
            ]
        )

    async def _gate(self, request: Request) -> Response | None:
        self.calls.append(f"{request.method} {request.url.path}")
        if self.down:
            self.down -= 1
            return Response("Service Unavailable", status_code=503)
        expected = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse(
                {"errorMessages": ["Client must be authenticated to access this resource."]},
                status_code=401,
            )
        return None

    async def create(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        if self.refuse_creates:
            self.refuse_creates -= 1
            if self.refuse_status == 429:
                return JSONResponse(
                    {"errorMessages": ["Rate limit exceeded."]},
                    status_code=429,
                    headers={"Retry-After": "10"},
                )
            return Response("Service Unavailable", status_code=self.refuse_status)
        fields = (await request.json()).get("fields", {})
        errors = {}
        if fields.get("project", {}).get("key") not in self.projects:
            errors["project"] = "Specify a valid project ID or key"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if fields.get("description", {}).get("type") != "doc":
            errors["description"] = "Operation value must be an Atlassian Document."
        if not fields.get("issuetype", {}).get("name"):
            errors["issuetype"] = "Specify an issue type"
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(
            isinstance(label, str) and label and " " not in label for label in labels
        ):
            errors["labels"] = "A label cannot contain spaces."
        if errors:
            return JSONResponse({"errorMessages": [], "errors": errors}, status_code=400)
        issue_id = str(next(self._ids))
        key = f"{fields['project']['key']}-{len(self.issues) + 1}"
        self.issues[key] = Issue(issue_id, key, fields)
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {"id": issue_id, "key": key, "self": f"{base}/rest/api/3/issue/{issue_id}"},
            status_code=201,
        )

    async def search(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        if self.search_together is not None:
            await self.search_together.wait()
        body = await request.json()
        if not isinstance(body, dict) or set(body) - SEARCH_MEMBERS or "jql" not in body:
            return JSONResponse({"errorMessages": [INVALID_PAYLOAD]}, status_code=400)
        conditions = _conditions(str(body["jql"]))
        if conditions is None:
            return JSONResponse(
                {"errorMessages": [f"Error in the JQL Query: {body['jql']!r}"]},
                status_code=400,
            )
        found = [i for i in self.issues.values() if _matches(i, conditions) and self._indexed(i)]
        found.sort(key=lambda i: (i.key.split("-")[0], int(i.key.split("-")[1])))
        found = found[: int(body.get("maxResults") or 50)]
        wanted = body.get("fields") or []
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issues": [
                    {
                        "id": issue.id,
                        "key": issue.key,
                        "self": f"{base}/rest/api/3/issue/{issue.id}",
                        "fields": {f: issue.fields.get(f) for f in wanted},
                    }
                    for issue in found
                ],
                "isLast": True,
            }
        )

    def _indexed(self, issue: Issue) -> bool:
        """Whether search shows the issue yet; a search it is missing from counts as a miss."""
        if utcnow() < issue.created_at + self.search_lag or issue.missed < self.unseen_searches:
            issue.missed += 1
            return False
        return True

    def _issue(self, request: Request) -> Issue | None:
        return self.issues.get(request.path_params["key"])

    async def comment(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        issue = self._issue(request)
        if issue is None:
            return JSONResponse({"errorMessages": ["Issue does not exist"]}, status_code=404)
        body = (await request.json()).get("body")
        comment_id = str(next(self._ids))
        issue.comments.append(body)
        return JSONResponse({"id": comment_id, "body": body}, status_code=201)

    async def transition(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        issue = self._issue(request)
        if issue is None:
            return JSONResponse({"errorMessages": ["Issue does not exist"]}, status_code=404)
        wanted = (await request.json()).get("transition", {}).get("id")
        if wanted not in self.transition_ids:
            return JSONResponse(
                {"errorMessages": [f"Transition id '{wanted}' is not valid for this issue."]},
                status_code=400,
            )
        issue.transitions.append(wanted)
        return Response(status_code=204)


SEARCH_MEMBERS = {
    "jql",
    "fields",
    "maxResults",
    "nextPageToken",
    "expand",
    "properties",
    "fieldsByKeys",
    "failFast",
    "reconcileIssues",
}
INVALID_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
CLAUSE = re.compile(r'^\s*(project|labels)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
ORDER_BY = re.compile(r"\s+ORDER\s+BY\s+key(\s+ASC)?\s*$", re.IGNORECASE)


def _conditions(jql: str) -> list[tuple[str, str]] | None:
    """The (field, value) clauses of the JQL; None when the JQL is not understood."""
    query = ORDER_BY.sub("", jql)
    conditions = []
    for clause in re.split(r"\s+AND\s+", query, flags=re.IGNORECASE):
        match = CLAUSE.match(clause)
        if match is None:
            return None
        conditions.append((match.group(1).lower(), re.sub(r"\\(.)", r"\1", match.group(2))))
    return conditions


def _matches(issue: Issue, conditions: list[tuple[str, str]]) -> bool:
    for name, value in conditions:
        if name == "project" and issue.fields["project"]["key"] != value:
            return False
        if name == "labels" and value not in issue.fields.get("labels", []):
            return False
    return True
