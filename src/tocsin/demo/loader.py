"""Loading the demo organisation: people of every role, then the catalog file.

The catalog half is an ordinary configuration file (organisation.yaml) applied with the
same code as `tocsin apply`, so the demo doubles as a worked example of the format. People
are not part of configuration files (they sign in with passwords or single sign-on), so they
are created here, in the same transaction: either the whole demo is there or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.permissions import Role
from tocsin.manifest.apply import SourceFile, apply_documents, parse
from tocsin.manifest.plan import Summary
from tocsin.policy import service as policy

DEMO_PASSWORD = "tocsin-demo-password"
"""Known to everyone who reads this: the demo is for trying Tocsin out, never for production."""

ADMIN_EMAIL = "admin@demo.tocsin.dev"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role


DEMO_USERS = (
    DemoUser(ADMIN_EMAIL, "Ada Admin", Role.ADMIN),
    DemoUser("responder@demo.tocsin.dev", "Rui Responder", Role.RESPONDER),
    DemoUser("communicator@demo.tocsin.dev", "Cleo Communicator", Role.COMMUNICATOR),
    DemoUser("stakeholder@demo.tocsin.dev", "Sam Stakeholder", Role.STAKEHOLDER),
    DemoUser("viewer@demo.tocsin.dev", "Vic Viewer", Role.VIEWER),
    DemoUser("kai@demo.tocsin.dev", "Kai Storefront", Role.RESPONDER),
    DemoUser("noor@demo.tocsin.dev", "Noor Commerce", Role.RESPONDER),
    DemoUser("priya@demo.tocsin.dev", "Priya Payments", Role.RESPONDER),
    DemoUser("tomas@demo.tocsin.dev", "Tomas Fulfilment", Role.RESPONDER),
    DemoUser("lee@demo.tocsin.dev", "Lee Platform", Role.RESPONDER),
)

ORGANISATION_FILE = "organisation.yaml"


def organisation_yaml() -> str:
    return resources.files("tocsin.demo").joinpath(ORGANISATION_FILE).read_text("utf-8")


@dataclass(frozen=True)
class DemoResult:
    loaded: bool
    """False when --if-empty found people already there"""
    users_created: tuple[str, ...] = ()
    summary: Summary | None = None


async def load_demo(session: AsyncSession, *, if_empty: bool = False) -> DemoResult:
    """Load (or top up) the demo; safe to run again: existing people and unchanged objects
    are left alone. With `if_empty`, a database that has any user is not touched at all."""
    if if_empty and await auth.list_users(session):
        await session.rollback()
        return DemoResult(loaded=False)
    actor = Actor.system("demo")
    created = []
    try:
        for person in DEMO_USERS:
            if await auth.find_user_by_email(session, person.email) is None:
                await auth.create_user(
                    session,
                    actor,
                    email=person.email,
                    role=person.role,
                    name=person.name,
                    password=DEMO_PASSWORD,
                    commit=False,
                )
                created.append(person.email)
        await policy.ensure_default_policies(session, actor, commit=False)
        sources, notes = parse(
            [SourceFile(f"tocsin/demo/{ORGANISATION_FILE}", organisation_yaml())]
        )
        summary = await apply_documents(session, actor, sources, commit=False, notes=notes)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return DemoResult(loaded=True, users_created=tuple(created), summary=summary)
