"""Settings from `TOCSIN_*` environment variables and an optional TOML/YAML/JSON file.

pydantic-settings validates everything at start-up so a typo stops the process with the
setting's name, rather than surfacing as a strange failure in the middle of an incident.
"""

from __future__ import annotations

import json
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/tocsin.db"


class ConfigError(Exception):
    """Raised when configuration is invalid; the message names each failing setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOCSIN_", extra="forbid", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    database_echo: bool = False
    database_pool_size: int = Field(default=10, ge=1, le=500)

    secret_key: str = Field(
        default="change-me-in-production-this-is-only-for-the-demo",
        min_length=32,
        description="Signs session cookies and acknowledgement links.",
    )
    base_url: str = "http://127.0.0.1:8000"
    session_lifetime_hours: int = Field(default=12, ge=1, le=24 * 30)
    secure_cookies: bool = False

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    worker_concurrency: int = Field(default=8, ge=1, le=256)
    worker_batch_size: int = Field(default=100, ge=1, le=5000)
    worker_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    job_lease_seconds: int = Field(default=300, ge=5)
    job_max_attempts: int = Field(default=8, ge=1, le=100)
    bridge_url_template: str = "https://meet.example.com/{ref}"
    comms_four_eyes: bool = True
    comms_executives: list[str] = []
    comms_spokespeople: list[str] = []
    warroom_platforms: list[Literal["web", "slack", "matrix"]] = ["web"]
    warroom_auto_open: bool = True
    warroom_name_template: str = "inc-{yyyymmdd}-{sev}-{slug}"
    warroom_matrix_homeserver_url: str | None = None
    warroom_matrix_access_token: str | None = None
    warroom_matrix_user_template: str = "@{localpart}:{server_name}"
    warroom_slack_bot_token: str | None = None
    warroom_slack_api_base_url: str = "https://slack.com/api"
    warroom_slack_signing_secret: str | None = None
    warroom_slack_pin_reaction: str = "pushpin"
    warroom_matrix_pin_reaction: str = "\N{PUSHPIN}"
    warroom_matrix_poll_seconds: int = Field(default=30, ge=1, le=3600)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_from: str = "Tocsin <tocsin@localhost>"
    smtp_timeout_seconds: float = Field(default=30, gt=0, le=300)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    notification_webhook_timeout_seconds: float = Field(default=10, gt=0, le=120)
    jira_base_url: str | None = None
    jira_email: str | None = None
    jira_api_token: str | None = None
    jira_timeout_seconds: float = Field(default=30, gt=0, le=300)
    jira_search_lag_seconds: float = Field(default=60, ge=0, le=3600)

    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid email profile"
    oidc_default_role: Literal["responder", "communicator", "stakeholder", "viewer"] = "viewer"
    oidc_auto_create_users: bool = True
    oidc_button_label: str = "Sign in with single sign-on"

    traces_retention_hours: int = Field(default=72, ge=1, le=24 * 90)
    traces_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    traces_budget_spans_per_minute: int = Field(default=600_000, ge=0)
    traces_max_concurrent_exports: int = Field(default=16, ge=1, le=1024)
    traces_max_decompressed_bytes: int = Field(default=16_777_216, ge=1024)
    traces_jaeger_url: str | None = None
    traces_jaeger_max_traces: int = Field(default=1000, ge=1, le=100_000)

    worker_location: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    checks_retention_days: int = Field(default=30, ge=1, le=3650)
    statuspage_monitoring_minutes: int = Field(default=15, ge=0, le=24 * 60)
    statuspage_batch_size: int = Field(default=500, ge=1, le=10_000)
    statuspage_smtp_connections: int = Field(default=2, ge=1, le=256)

    config_file: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+psycopg:// "
                f"(got {value.split(':', 1)[0]!r})"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))


class _FileSource(PydanticBaseSettingsSource):
    """Reads `TOCSIN_CONFIG_FILE` (TOML or JSON); environment variables win over it."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("TOCSIN_CONFIG_FILE")
        if not path:
            return {}
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config_file: {path} does not exist")
        text = file.read_text()
        try:
            data = json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config_file: {path} cannot be parsed: {exc}") from exc
        section = data.get("tocsin", data)
        return {str(k).lower(): v for k, v in section.items()}


def describe_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        lines.append(f"TOCSIN_{name.upper()}: {err['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
