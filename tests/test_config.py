"""Configuration: environment variables, the optional file, and refusing bad values at start-up."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.cli import Run, run_tocsin
from tocsin.config import ConfigError, Settings, load_settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings of the machine running the tests must not leak into these."""
    for name in list(os.environ):
        if name.startswith("TOCSIN_"):
            monkeypatch.delenv(name)


def run_cli(*args: str, env: dict[str, str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The command in `cwd`, so that a default relative path never lands in the checkout."""
    monkeypatch.chdir(cwd)
    return run_tocsin(*args, env=env)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_WORKER_CONCURRENCY", "3")
    monkeypatch.setenv("TOCSIN_SECURE_COOKIES", "true")
    monkeypatch.setenv("TOCSIN_BASE_URL", "https://tocsin.example.com")
    monkeypatch.setenv("TOCSIN_OIDC_ISSUER", "https://idp.example.com")
    monkeypatch.setenv("TOCSIN_OIDC_CLIENT_ID", "tocsin")
    settings = load_settings()
    assert settings.worker_concurrency == 3
    assert settings.secure_cookies is True
    assert settings.base_url == "https://tocsin.example.com"
    assert settings.oidc_enabled


def test_defaults_without_any_configuration() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./var/tocsin.db"
    assert settings.is_sqlite
    assert not settings.oidc_enabled


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TOCSIN_DATABASE_URL", "mysql://root@localhost/tocsin"),
        ("TOCSIN_WORKER_CONCURRENCY", "abc"),
        ("TOCSIN_LOG_LEVEL", "loud"),
        ("TOCSIN_SECRET_KEY", "short"),
    ],
)
def test_an_invalid_value_stops_start_up_naming_the_setting(
    variable: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "never.db"
    env = {"TOCSIN_DATABASE_URL": f"sqlite+aiosqlite:///{database}", variable: value}
    result = run_cli("db", "upgrade", env=env, cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.code != 0
    assert variable in result.err
    assert "Traceback" not in result.err
    assert not database.exists()  # nothing was done with a half-valid configuration


def test_every_failing_setting_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(worker_concurrency=0, session_lifetime_hours="forever")
    message = str(raised.value)
    assert "TOCSIN_WORKER_CONCURRENCY" in message
    assert "TOCSIN_SESSION_LIFETIME_HOURS" in message


def test_postgresql_urls_are_accepted() -> None:
    settings = load_settings(database_url="postgresql+psycopg://tocsin:pw@db:5432/tocsin")
    assert not settings.is_sqlite


def write_config(tmp_path: Path, text: str, name: str = "tocsin.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_toml_file_configures_and_the_environment_wins_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        tmp_path,
        '[tocsin]\nworker_concurrency = 4\nbase_url = "https://from-file.example.com"\n'
        'oidc_default_role = "responder"\n',
    )
    monkeypatch.setenv("TOCSIN_CONFIG_FILE", str(path))
    assert load_settings().worker_concurrency == 4
    monkeypatch.setenv("TOCSIN_WORKER_CONCURRENCY", "9")
    settings = load_settings()
    assert settings.worker_concurrency == 9
    assert settings.base_url == "https://from-file.example.com"
    assert settings.oidc_default_role == "responder"


def test_a_json_file_and_top_level_keys_work_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, '{"job_max_attempts": 3}', name="tocsin.json")
    monkeypatch.setenv("TOCSIN_CONFIG_FILE", str(path))
    assert load_settings().job_max_attempts == 3


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("worker_concurrency = 'many'\n", "TOCSIN_WORKER_CONCURRENCY"),
        ("worker_concurency = 4\n", "TOCSIN_WORKER_CONCURENCY"),
        ("this is not toml\n", "cannot be parsed"),
    ],
)
def test_a_bad_file_stops_start_up_naming_what_is_wrong(
    content: str, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, content)
    env = {
        "TOCSIN_CONFIG_FILE": str(path),
        "TOCSIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
    }
    result = run_cli("db", "upgrade", env=env, cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.code == 2
    assert named in result.err


def test_a_missing_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope\.toml does not exist"):
        load_settings()


def test_the_command_line_uses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "from-file.db"
    path = write_config(tmp_path, f'database_url = "sqlite+aiosqlite:///{database}"\n')
    env = {"TOCSIN_CONFIG_FILE": str(path)}
    result = run_cli("db", "upgrade", env=env, cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.code == 0, result.err
    assert database.exists()


# --- docs/configuration.md lists every setting -------------------------------------------


def _documented_defaults() -> dict[str, str]:
    rows = re.findall(r"^\| `(TOCSIN_[A-Z_]+)` \| ([^|]+) \|", DOCS.read_text(), re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def _shown(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def test_every_setting_is_documented_with_its_default() -> None:
    documented = _documented_defaults()
    expected = {
        f"TOCSIN_{name.upper()}": _shown(field.default)
        for name, field in Settings.model_fields.items()
    }
    missing = sorted(set(expected) - set(documented))
    assert not missing, f"docs/configuration.md does not document {', '.join(missing)}"
    stale = sorted(set(documented) - set(expected))
    assert not stale, f"docs/configuration.md documents settings that do not exist: {stale}"
    wrong = {k: (documented[k], v) for k, v in expected.items() if documented[k] != v}
    assert not wrong, f"documented defaults differ from the code (doc, code): {wrong}"
