"""`tocsin integration …`: connect a monitoring tool from a shell."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tocsin.alerts.normalized import SourceKind

integration_app = typer.Typer(
    help="Alert integrations: create one and get its ingestion URL, list them.",
    no_args_is_help=True,
)

VENDOR_ENDPOINTS: dict[SourceKind, list[str]] = {
    SourceKind.ALERTMANAGER: [
        "Prometheus / OpenTelemetry Collector: POST {base}/api/v2/alerts with "
        "'Authorization: Bearer <key>'",
    ],
    SourceKind.PAGERDUTY: [
        "PagerDuty Events API v2 clients: POST {base}/v2/enqueue with routing_key <key>",
        "PagerDuty Events API v1 clients: POST {base}/generic/2010-04-15/create_event.json "
        "with service_key <key>",
    ],
    SourceKind.OPSGENIE: [
        "Opsgenie clients: API URL {base} with 'Authorization: GenieKey <key>'",
    ],
}


@integration_app.command("create")
def create(
    kind: Annotated[SourceKind, typer.Option(help="The sender's format.")],
    service: Annotated[str, typer.Option(help="Slug of the catalog service it alerts for.")],
    name: Annotated[str, typer.Option(help="Defaults to '<kind> for <service>'.")] = "",
    rate_limit: Annotated[
        int, typer.Option("--rate-limit", help="Requests a minute before 429.", min=1)
    ] = 600,
) -> None:
    """Create an integration and print its ingestion URL, key included (shown only once)."""
    from tocsin.alerts import service as alerts
    from tocsin.alerts.schemas import IntegrationCreate
    from tocsin.audit.service import Actor
    from tocsin.cli import fail, run_async, with_session
    from tocsin.config import get_settings
    from tocsin.errors import ProblemError

    body = IntegrationCreate(
        service=service, kind=kind, name=name, rate_limit_per_minute=rate_limit
    )

    async def _create(session: Any) -> Any:
        return await alerts.create_integration(session, Actor.system("cli"), body)

    try:
        created = run_async(lambda s: with_session(s, _create))
    except ProblemError as exc:
        fail(exc.detail or exc.title)
        raise AssertionError from None
    typer.echo(created.url)
    typer.echo(f"key: {created.key}", err=True)
    base = get_settings().base_url.rstrip("/")
    for line in VENDOR_ENDPOINTS.get(kind, []):
        typer.echo(line.format(base=base), err=True)


@integration_app.command("list")
def list_integrations(
    service: Annotated[str | None, typer.Option(help="Only this service's.")] = None,
) -> None:
    """Print integrations: id, kind, service, name, key prefix, enabled, rate limit."""
    from tocsin.alerts import service as alerts
    from tocsin.cli import run_async, with_session

    async def _list(session: Any) -> list[Any]:
        return await alerts.list_integrations(session, service=service)

    for row in run_async(lambda s: with_session(s, _list)):
        state = "enabled" if row.enabled else "disabled"
        typer.echo(
            f"{row.id}\t{row.kind.value}\t{row.service}\t{row.name}\t{row.key_prefix}…\t"
            f"{state}\t{row.rate_limit_per_minute}/min"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(integration_app, name="integration")
