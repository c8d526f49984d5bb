"""Chat platforms a war room can live on; `for_platform` builds the configured one."""

from __future__ import annotations

from tocsin.config import Settings
from tocsin.incidents.warrooms.adapters.base import AdapterError, ChatAdapter


def for_platform(platform: str, settings: Settings) -> ChatAdapter:
    if platform == "slack":
        from tocsin.incidents.warrooms.adapters.slack import SlackAdapter

        if not settings.warroom_slack_bot_token:
            raise AdapterError("TOCSIN_WARROOM_SLACK_BOT_TOKEN is not set", permanent=True)
        return SlackAdapter(settings.warroom_slack_api_base_url, settings.warroom_slack_bot_token)
    if platform == "matrix":
        from tocsin.incidents.warrooms.adapters.matrix import MatrixAdapter

        url, token = settings.warroom_matrix_homeserver_url, settings.warroom_matrix_access_token
        if not url or not token:
            raise AdapterError(
                "TOCSIN_WARROOM_MATRIX_HOMESERVER_URL and _ACCESS_TOKEN must be set",
                permanent=True,
            )
        return MatrixAdapter(url, token, settings.warroom_matrix_user_template)
    raise AdapterError(f"no chat adapter for {platform!r}", permanent=True)
