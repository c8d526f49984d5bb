"""Roles and the permissions they grant: pure data, no I/O.

Every route names one permission. A role is a set of permissions; an API token narrows its
user's role to the scopes it was created with. The matrix is documented in
docs/permissions.md and checked route by route by the test suite.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    RESPONDER = "responder"
    COMMUNICATOR = "communicator"
    STAKEHOLDER = "stakeholder"
    VIEWER = "viewer"


class Permission(StrEnum):
    PUBLIC = "public"
    """No login needed (status page, health checks, login form)."""
    AUTHENTICATED = "authenticated"
    """Any signed-in user (their own profile, logout)."""
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    """Change services owned by one's own teams (admins: any service)."""
    CATALOG_ADMIN = "catalog:admin"
    """Change teams, members, business units, customer tiers, customers and vendors."""
    POLICY_READ = "policy:read"
    POLICY_WRITE = "policy:write"
    CONFIG_APPLY = "config:apply"
    AUDIT_READ = "audit:read"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    TOKENS_OWN = "tokens:own"
    JOBS_READ = "jobs:read"
    JOBS_MANAGE = "jobs:manage"
    ALERTS_READ = "alerts:read"
    """Read received alerts, their history and the list of integrations (never their keys)."""
    INTEGRATIONS_MANAGE = "integrations:manage"
    """Create, change, rotate and disable alert integrations of one's own teams' services."""
    ALERTS_MANAGE = "alerts:manage"
    """Create and expire silences and maintenance windows; set correlation rules."""
    INCIDENT_READ = "incident:read"
    """Read incidents: public ones, and private ones one takes part in (admins: all)."""
    INCIDENT_DECLARE = "incident:declare"
    INCIDENT_WRITE = "incident:write"
    """Change an incident: status, milestones, roles, checklists, impact, participants."""
    INCIDENT_NOTE = "incident:note"
    """Add notes to an incident's timeline and star them."""
    ONCALL_READ = "oncall:read"
    """See schedules, escalation policies, who is on call, and pages."""
    ONCALL_MANAGE = "oncall:manage"
    """Change schedules, overrides and escalation policies of one's own teams (admins: any)."""
    ONCALL_RESPOND = "oncall:respond"
    """Acknowledge, resolve and reassign pages."""
    CHECKS_READ = "checks:read"
    """See synthetic checks, their status and results (never secret values)."""
    CHECKS_MANAGE = "checks:manage"
    """Create, change and delete synthetic checks of one's own teams' services (admins: any)."""
    CHECKS_RUN = "checks:run"
    """Run synthetic checks on demand, e.g. from an incident page."""
    CHECKS_SECRETS = "checks:secrets"
    """Store and replace the secrets synthetic checks reference by name."""
    TRACES_READ = "traces:read"
    """Read service figures, the dependency map and failure isolation derived from traces."""
    TRACES_WRITE = "traces:write"
    """Export spans to the OTLP receiver (give it to a token that has only this scope)."""
    NOTIFICATIONS_ADMIN = "notifications:admin"
    """See every user's deliveries and manage anyone's contact methods and rules."""
    STATUSPAGE_READ = "statuspage:read"
    """See the status pages' configuration, incidents and subscriber counts in the admin."""
    STATUSPAGE_MANAGE = "statuspage:manage"
    """Manage status pages, components, maintenances and incidents, and post their updates."""
    STATUSPAGE_OVERRIDE = "statuspage:override"
    """Resolve a status-page incident although the premature-resolution guard refuses."""
    COMMS_WRITE = "comms:write"
    """Write structured updates and draft stakeholder messages; preview and edit templates."""
    COMMS_APPROVE = "comms:approve"
    """Approve and publish external stakeholder messages."""
    COMMS_AUDIT = "comms:audit"
    """Read and export the tamper-evident comms log with its hash chain."""


_EVERYONE = {
    Permission.PUBLIC,
    Permission.AUTHENTICATED,
    Permission.CATALOG_READ,
    Permission.POLICY_READ,
    Permission.INCIDENT_READ,
    Permission.ONCALL_READ,
    Permission.CHECKS_READ,
    Permission.STATUSPAGE_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.RESPONDER: frozenset(
        _EVERYONE
        | {
            Permission.CATALOG_WRITE,
            Permission.TOKENS_OWN,
            Permission.JOBS_READ,
            Permission.USERS_READ,
            Permission.INCIDENT_DECLARE,
            Permission.INCIDENT_WRITE,
            Permission.INCIDENT_NOTE,
            Permission.ALERTS_READ,
            Permission.INTEGRATIONS_MANAGE,
            Permission.ALERTS_MANAGE,
            Permission.ONCALL_MANAGE,
            Permission.ONCALL_RESPOND,
            Permission.CHECKS_MANAGE,
            Permission.CHECKS_RUN,
            Permission.TRACES_READ,
            Permission.TRACES_WRITE,
            Permission.COMMS_WRITE,
        }
    ),
    Role.COMMUNICATOR: frozenset(
        _EVERYONE
        | {
            Permission.TOKENS_OWN,
            Permission.USERS_READ,
            Permission.INCIDENT_DECLARE,
            Permission.INCIDENT_NOTE,
            Permission.ALERTS_READ,
            Permission.STATUSPAGE_MANAGE,
            Permission.COMMS_WRITE,
            Permission.COMMS_APPROVE,
        }
    ),
    Role.STAKEHOLDER: frozenset(_EVERYONE),
    Role.VIEWER: frozenset(_EVERYONE | {Permission.ALERTS_READ}),
}

# Scopes a token can carry: everything but the pseudo-permissions every caller has anyway.
TOKEN_SCOPES: frozenset[Permission] = frozenset(Permission) - {
    Permission.PUBLIC,
    Permission.AUTHENTICATED,
}


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def effective_permissions(
    role: Role, scopes: frozenset[Permission] | None = None
) -> frozenset[Permission]:
    """A token can never do more than its user's role; scopes only narrow it."""
    granted = ROLE_PERMISSIONS[role]
    if scopes is None:
        return granted
    return frozenset(p for p in granted if p in scopes or p not in TOKEN_SCOPES)
