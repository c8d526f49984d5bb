"""External trackers a routing ticket can be mirrored to; `for_tracker` builds the configured
one from settings (credentials live in settings, the rule names only the tracker and its
project)."""

from __future__ import annotations

from tocsin.alerts.routing.ticketing.base import Draft, Filed, Tracker, TrackerError
from tocsin.config import Settings

__all__ = ["Draft", "Filed", "Tracker", "TrackerError", "for_tracker", "missing_settings"]


def missing_settings(kind: str, settings: Settings) -> str | None:
    """Why `kind` cannot be used with these settings, or None when it can."""
    if kind == "jira":
        if not (settings.jira_base_url and settings.jira_email and settings.jira_api_token):
            return "Jira is not configured (set TOCSIN_JIRA_BASE_URL, _EMAIL and _API_TOKEN)"
        return None
    return f"no tracker {kind!r}"


def for_tracker(kind: str, settings: Settings) -> Tracker:
    problem = missing_settings(kind, settings)
    if problem is not None:
        raise TrackerError(problem, permanent=True)
    if kind == "jira":
        from tocsin.alerts.routing.ticketing.jira import JiraCloud

        assert settings.jira_base_url and settings.jira_email and settings.jira_api_token
        return JiraCloud(
            settings.jira_base_url,
            settings.jira_email,
            settings.jira_api_token,
            settings.jira_timeout_seconds,
            settings.jira_search_lag_seconds,
        )
    raise TrackerError(f"no tracker {kind!r}", permanent=True)  # pragma: no cover
