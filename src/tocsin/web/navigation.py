"""The navigation bar: which sections exist and who sees them.

Pure data and one filter, so the menu a person sees always matches what the routes allow:
a link that would answer 403 is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from tocsin.auth.permissions import Permission


@dataclass(frozen=True)
class Link:
    label: str
    href: str
    permission: Permission


@dataclass(frozen=True)
class Section:
    label: str
    links: tuple[Link, ...]


NAVIGATION: tuple[Section, ...] = (
    Section("Home", (Link("Dashboard", "/", Permission.AUTHENTICATED),)),
    Section(
        "Response",
        (
            Link("Incidents", "/incidents", Permission.INCIDENT_READ),
            Link("Incident command", "/dashboards/command", Permission.INCIDENT_READ),
            Link("Stakeholder view", "/dashboards/stakeholder", Permission.INCIDENT_READ),
            Link("Customer reports", "/customer-reports", Permission.INCIDENT_READ),
            Link("Status page", "/status-pages", Permission.STATUSPAGE_READ),
            Link("Comms templates", "/comms/templates", Permission.COMMS_WRITE),
            Link("Stakeholder groups", "/comms/groups", Permission.COMMS_WRITE),
            Link("Media inquiries", "/comms/media-inquiries", Permission.COMMS_WRITE),
            Link("Comms log", "/comms/log", Permission.COMMS_AUDIT),
            Link("Alerts", "/alerts", Permission.ALERTS_READ),
            Link("Alert groups", "/alert-groups", Permission.ALERTS_READ),
            Link("Alert fatigue", "/alerts/fatigue", Permission.ALERTS_READ),
            Link("Alert routing", "/alert-routing", Permission.ALERTS_READ),
            Link("Silences", "/silences", Permission.ALERTS_READ),
            Link("Maintenance", "/maintenance-windows", Permission.ALERTS_READ),
            Link("Integrations", "/integrations", Permission.ALERTS_READ),
            Link("Synthetic checks", "/checks", Permission.CHECKS_READ),
            Link("Traces", "/traces", Permission.TRACES_READ),
        ),
    ),
    Section(
        "On-call",
        (
            Link("Schedules", "/oncall", Permission.ONCALL_READ),
            Link("Escalation policies", "/oncall/policies", Permission.ONCALL_READ),
            Link("Pages", "/oncall/pages", Permission.ONCALL_READ),
            Link("My on-call", "/oncall/me", Permission.ONCALL_READ),
            Link("My notifications", "/notifications", Permission.AUTHENTICATED),
        ),
    ),
    Section(
        "Catalog",
        (
            Link("Services", "/services", Permission.CATALOG_READ),
            Link("Dependency graph", "/services/graph", Permission.CATALOG_READ),
            Link("Teams", "/teams", Permission.CATALOG_READ),
            Link("Customers", "/customers", Permission.CATALOG_READ),
            Link("Vendors", "/vendors", Permission.CATALOG_READ),
        ),
    ),
    Section("Policies", (Link("Severities", "/severities", Permission.POLICY_READ),)),
    Section(
        "Admin",
        (
            Link("Users", "/admin/users", Permission.USERS_READ),
            Link("Audit", "/admin/audit", Permission.AUDIT_READ),
            Link("Deliveries", "/admin/notifications", Permission.NOTIFICATIONS_ADMIN),
        ),
    ),
)


def visible_sections(
    permissions: frozenset[Permission], sections: tuple[Section, ...] = NAVIGATION
) -> list[Section]:
    """The sections and links a caller with `permissions` may open; empty sections vanish."""
    shown = []
    for section in sections:
        links = tuple(link for link in section.links if link.permission in permissions)
        if links:
            shown.append(Section(section.label, links))
    return shown


def _matches(href: str, path: str) -> bool:
    if href == "/":
        return path == "/"
    return path == href or path.startswith(href + "/")


def current_href(path: str, sections: tuple[Section, ...] | list[Section] = NAVIGATION) -> str:
    """The one link a page belongs to: the longest one whose path is a prefix of the page's."""
    hrefs = [link.href for section in sections for link in section.links]
    matching = [href for href in hrefs if _matches(href, path)]
    return max(matching, key=len, default="")
