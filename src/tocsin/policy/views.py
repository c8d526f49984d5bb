"""Policy pages: the severity ladder, each severity's policy, and its edit form for admins.

The edit form is the policy API's body spread over inputs: it is validated by the same
shapes and saved through the policy service, so the change is audited like any other.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin import events
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.policy import service as policy
from tocsin.policy.schemas import (
    CommChannel,
    CommFormat,
    EscalationMode,
    EscalationPolicy,
    EscalationTargets,
    SeverityOut,
    SeverityPolicyIn,
    SeverityPolicyOut,
    SeverityUpdate,
)
from tocsin.web import forms
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

KPI_FIELDS = (
    ("time_to_detect_minutes", "Detect"),
    ("time_to_acknowledge_minutes", "Acknowledge"),
    ("time_to_mitigate_minutes", "Mitigate"),
    ("time_to_resolve_minutes", "Resolve (technical)"),
    ("time_to_business_resolve_minutes", "Resolve (business)"),
)
THRESHOLD_FIELDS = (
    ("duration_minutes", "Lasts longer than (minutes)"),
    ("customers_affected", "Customers affected"),
    ("revenue_per_hour", "Revenue at risk per hour"),
    ("error_rate_percent", "Error rate (%)"),
)

TARGET_GROUPS = (
    ("technical", "Technical escalation"),
    ("executive", "Executive escalation"),
)
RULE_TARGETS = (
    ("technical", "Technical"),
    ("executive", "Executive"),
    ("technical,executive", "Technical and executive"),
)


def _labels() -> dict[str, Any]:
    return {
        "kpi_fields": KPI_FIELDS,
        "threshold_fields": THRESHOLD_FIELDS,
        "formats": list(CommFormat),
        "channels": list(CommChannel),
        "target_groups": TARGET_GROUPS,
        "rule_targets": RULE_TARGETS,
        "modes": list(EscalationMode),
    }


@router.get("/severities")
async def severities_page(
    request: Request,
    _: Principal = Depends(Requires(Permission.POLICY_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    severities = await policy.list_severities(session)
    policies = {p.severity: p for p in await policy.list_policies(session)}
    return render(
        request, "policy/severities.html", severities=severities, policies=policies, **_labels()
    )


@router.get("/severities/{slug}")
async def severity_page(
    request: Request,
    slug: str,
    saved: bool = False,
    principal: Principal = Depends(Requires(Permission.POLICY_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    return render(
        request,
        "policy/severity.html",
        severity=await policy.get_severity(session, slug),
        policy=await policy.get_policy(session, slug),
        may_edit=principal.can(Permission.POLICY_WRITE),
        saved=saved,
        **_labels(),
    )


# --- edit ------------------------------------------------------------------------------------


def _number(value: Any) -> str:
    return "" if value is None else str(value)


def form_values(severity: SeverityOut, stored: SeverityPolicyOut) -> dict[str, Any]:
    """A stored policy as the strings the form's inputs show."""
    data = stored.model_dump(mode="json")
    return {
        "name": severity.name,
        "definition": severity.definition,
        "kpi_targets": {k: _number(v) for k, v in data["kpi_targets"].items()},
        "escalation": escalation_values(stored.escalation),
        "postmortem": {
            "always": data["postmortem"]["always"],
            "due_within_hours": _number(data["postmortem"]["due_within_hours"]),
            "when": {k: _number(v) for k, v in data["postmortem"]["when"].items()},
        },
        "communications": data["communications"],
        "executive_notification": _exec_values(data["executive_notification"]),
        "technical_resolution": data["technical_resolution"],
        "business_resolution": data["business_resolution"],
    }


def _targets_values(targets: EscalationTargets) -> dict[str, str]:
    return {
        "users": ", ".join(targets.users),
        "teams": ", ".join(targets.teams),
        "mode": targets.mode.value,
    }


def escalation_values(policy: EscalationPolicy) -> dict[str, Any]:
    """The escalation section as the form shows it: thresholds, both target groups, rules."""
    return {
        **{name: _number(getattr(policy, name)) for name, _ in THRESHOLD_FIELDS},
        "technical": _targets_values(policy.technical),
        "executive": _targets_values(policy.executive),
        "rules": [
            {
                "id": rule.id,
                "to": ",".join(group.value for group in rule.to),
                **{name: _number(getattr(rule.when, name)) for name, _ in THRESHOLD_FIELDS},
            }
            for rule in policy.rules
        ],
    }


def _parse_escalation(form: Any) -> dict[str, Any]:
    """Thresholds, targets (comma-separated e-mails and team slugs) and the rules' rows."""
    body: dict[str, Any] = _section(form, "escalation", THRESHOLD_FIELDS)
    defaults = EscalationPolicy()
    for group, _ in TARGET_GROUPS:
        prefix = f"escalation.{group}"
        default_mode = getattr(defaults, group).mode.value
        body[group] = {
            "users": forms.split_list(forms.text(form, f"{prefix}.users")),
            "teams": forms.split_list(forms.text(form, f"{prefix}.teams")),
            "mode": forms.text(form, f"{prefix}.mode") or default_mode,
        }
    numbers = [f"rule_{name}" for name, _ in THRESHOLD_FIELDS]
    body["rules"] = [
        {
            "id": row["rule_id"],
            "to": [group for group in row["rule_to"].split(",") if group],
            "when": {name: row[f"rule_{name}"] or None for name, _ in THRESHOLD_FIELDS},
        }
        for row in forms.rows(
            form, "rule_id", "rule_to", *numbers, blank_unless=("rule_id", *numbers)
        )
    ]
    return body


def _escalation_redisplay(body: dict[str, Any]) -> dict[str, Any]:
    return {
        **{name: _number(body.get(name)) for name, _ in THRESHOLD_FIELDS},
        **{
            group: {
                "users": ", ".join(body[group]["users"]),
                "teams": ", ".join(body[group]["teams"]),
                "mode": body[group]["mode"],
            }
            for group, _ in TARGET_GROUPS
        },
        "rules": [
            {
                "id": rule["id"],
                "to": ",".join(rule["to"]),
                **{name: _number(rule["when"][name]) for name, _ in THRESHOLD_FIELDS},
            }
            for rule in body["rules"]
        ],
    }


def _exec_values(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "financial": {k: _number(v) for k, v in data["financial"].items()},
        "reputational": {
            "customers_affected": _number(data["reputational"]["customers_affected"]),
            "public_incident": data["reputational"]["public_incident"],
            "media_inquiry": data["reputational"]["media_inquiry"],
        },
        "regulatory": {
            "data_exposure": data["regulatory"]["data_exposure"],
            "service_tags": ", ".join(data["regulatory"]["service_tags"]),
        },
        "notify_within_minutes": _number(data["notify_within_minutes"]),
    }


def _section(form: Any, prefix: str, names: tuple[tuple[str, str], ...]) -> dict[str, str | None]:
    return {name: forms.optional(form, f"{prefix}.{name}") for name, _ in names}


def parse_policy_form(form: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(severity update body, whole-policy body) from the submitted form. Empty number inputs
    are "no target / not a trigger"; unchecked boxes are False."""
    severity = {"name": forms.text(form, "name"), "definition": forms.text(form, "definition")}
    body = {
        "kpi_targets": _section(form, "kpi_targets", KPI_FIELDS),
        "escalation": _parse_escalation(form),
        "postmortem": {
            "always": form.get("postmortem.always") == "on",
            "due_within_hours": forms.optional(form, "postmortem.due_within_hours") or 72,
            "when": _section(form, "postmortem.when", THRESHOLD_FIELDS),
        },
        "communications": [
            {
                "group": r["comm_group"],
                "cadence_minutes": r["comm_cadence"],
                "format": r["comm_format"],
                "channel": r["comm_channel"],
            }
            for r in forms.rows(
                form,
                "comm_group",
                "comm_cadence",
                "comm_format",
                "comm_channel",
                blank_unless=("comm_group", "comm_cadence"),
            )
        ],
        "executive_notification": _parse_exec(form),
        "technical_resolution": _checklist(form, "technical"),
        "business_resolution": _checklist(form, "business"),
    }
    return severity, body


def _parse_exec(form: Any) -> dict[str, Any]:
    def number(name: str) -> str | None:
        return forms.optional(form, f"executive_notification.{name}")

    def ticked(name: str) -> bool:
        return form.get(f"executive_notification.{name}") == "on"

    tags = forms.text(form, "executive_notification.regulatory.service_tags")
    return {
        "financial": {
            "revenue_per_hour": number("financial.revenue_per_hour"),
            "total_revenue_impact": number("financial.total_revenue_impact"),
        },
        "reputational": {
            "customers_affected": number("reputational.customers_affected"),
            "public_incident": ticked("reputational.public_incident"),
            "media_inquiry": ticked("reputational.media_inquiry"),
        },
        "regulatory": {
            "data_exposure": ticked("regulatory.data_exposure"),
            "service_tags": forms.split_list(tags),
        },
        "notify_within_minutes": number("notify_within_minutes"),
    }


def _checklist(form: Any, kind: str) -> list[dict[str, str]]:
    return [
        {"id": r[f"{kind}_id"] or _item_id(r[f"{kind}_text"]), "text": r[f"{kind}_text"]}
        for r in forms.rows(form, f"{kind}_id", f"{kind}_text", blank_unless=(f"{kind}_text",))
    ]


def _item_id(text: str) -> str:
    """A new checklist item gets a stable id from its first words."""
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words[:6])[:100] or "item"


def _redisplay(severity: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    def strings(section: dict[str, Any]) -> dict[str, Any]:
        return {k: _number(v) if not isinstance(v, bool | dict) else v for k, v in section.items()}

    execs = body["executive_notification"]
    return {
        **severity,
        "kpi_targets": strings(body["kpi_targets"]),
        "escalation": _escalation_redisplay(body["escalation"]),
        "postmortem": {**strings(body["postmortem"]), "when": strings(body["postmortem"]["when"])},
        "communications": body["communications"],
        "executive_notification": {
            "financial": strings(execs["financial"]),
            "reputational": strings(execs["reputational"]),
            "regulatory": {
                **execs["regulatory"],
                "service_tags": ", ".join(execs["regulatory"]["service_tags"]),
            },
            "notify_within_minutes": _number(execs["notify_within_minutes"]),
        },
        "technical_resolution": body["technical_resolution"],
        "business_resolution": body["business_resolution"],
    }


async def _edit_form(
    request: Request,
    severity: SeverityOut,
    values: dict[str, Any],
    errors: forms.FormErrors,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "policy/severity_edit.html",
        status_code=status_code,
        severity=severity,
        values=values,
        errors=errors,
        **_labels(),
    )


@router.get("/severities/{slug}/edit")
async def severity_edit_form(
    request: Request,
    slug: str,
    _: Principal = Depends(Requires(Permission.POLICY_WRITE)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    severity = await policy.get_severity(session, slug)
    stored = await policy.get_policy(session, slug)
    return await _edit_form(request, severity, form_values(severity, stored), forms.FormErrors())


@router.post("/severities/{slug}/edit")
async def severity_edit_submit(
    request: Request,
    slug: str,
    principal: Principal = Depends(Requires(Permission.POLICY_WRITE)),
    session: AsyncSession = Depends(get_session),
) -> Response:
    severity = await policy.get_severity(session, slug)
    severity_body, policy_body = parse_policy_form(await request.form())
    # The form edits thresholds, targets and rules; the missing-commander rule is kept as set
    # through the API or files.
    kept = (await policy.get_policy(session, slug)).escalation.missing_commander
    policy_body["escalation"]["missing_commander"] = kept.model_dump(mode="json")
    errors = forms.FormErrors()
    try:
        update = SeverityUpdate.model_validate(severity_body)
    except ValidationError as exc:
        errors = forms.from_validation(exc)
    try:
        whole = SeverityPolicyIn.model_validate(policy_body)
    except ValidationError as exc:
        for name, messages in forms.from_validation(exc).by_field.items():
            for message in messages:
                errors.add(name, message)
    if not errors:
        try:
            # One transaction for both: the severity and its policy change together or not at all.
            await policy.update_severity(session, principal, slug, update, commit=False)
            await policy.set_policy(session, principal, slug, whole, commit=False)
            await session.commit()
        except ProblemError as exc:
            await session.rollback()
            errors = forms.from_problem(exc)
        else:
            await events.publish("policy.updated", {"severity": slug}, audience="policy:read")
            return RedirectResponse(f"/severities/{slug}?saved=1", status_code=303)
    return await _edit_form(
        request, severity, _redisplay(severity_body, policy_body), errors, status_code=422
    )
