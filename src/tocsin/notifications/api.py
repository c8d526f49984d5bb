"""REST routes of notifications: one's contact methods, rules and deliveries under
/api/v1/users/{user}/… (`me` or an id; admins may use any id) and every delivery for admins."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.notifications import handlers as _handlers  # noqa: F401  (dispatch and deliver)
from tocsin.notifications import service
from tocsin.notifications.models import DeliveryStatus
from tocsin.notifications.schemas import (
    ContactMethodCreated,
    ContactMethodIn,
    ContactMethodOut,
    ContactMethodPatch,
    DeliveryOut,
    RuleIn,
    RuleOut,
    VerifyIn,
)

router = APIRouter(prefix="/api/v1", tags=["notifications"])

OWN = Depends(Requires(Permission.AUTHENTICATED))
ADMIN = Depends(Requires(Permission.NOTIFICATIONS_ADMIN))
DB = Depends(get_session)
BASE = "/users/{user}"


@router.get(f"{BASE}/contact-methods", response_model=list[ContactMethodOut])
async def list_contact_methods(
    user: str, who: Principal = OWN, session: AsyncSession = DB
) -> list[ContactMethodOut]:
    return await service.list_contact_methods(session, service.resolve_user(who, user))


@router.post(f"{BASE}/contact-methods", response_model=ContactMethodCreated, status_code=201)
async def create_contact_method(
    user: str, body: ContactMethodIn, who: Principal = OWN, session: AsyncSession = DB
) -> ContactMethodCreated:
    """A webhook's signing secret is in this answer only: store it in the receiver now."""
    user_id = service.resolve_user(who, user)
    return await service.create_contact_method(session, who, user_id, body)


@router.patch(f"{BASE}/contact-methods/{{method_id}}", response_model=ContactMethodOut)
async def update_contact_method(
    user: str,
    method_id: int,
    body: ContactMethodPatch,
    who: Principal = OWN,
    session: AsyncSession = DB,
) -> ContactMethodOut:
    user_id = service.resolve_user(who, user)
    return await service.update_contact_method(session, who, user_id, method_id, body)


@router.delete(f"{BASE}/contact-methods/{{method_id}}", status_code=204)
async def delete_contact_method(
    user: str, method_id: int, who: Principal = OWN, session: AsyncSession = DB
) -> Response:
    await service.delete_contact_method(session, who, service.resolve_user(who, user), method_id)
    return Response(status_code=204)


@router.post(f"{BASE}/contact-methods/{{method_id}}/test", status_code=202)
async def test_contact_method(
    user: str, method_id: int, who: Principal = OWN, session: AsyncSession = DB
) -> dict[str, int]:
    """Send a low-urgency test notification to this method only; see it in the deliveries."""
    job = await service.send_test(session, who, service.resolve_user(who, user), method_id)
    return {"job_id": job.id}


@router.post(f"{BASE}/contact-methods/{{method_id}}/verification", status_code=202)
async def start_verification(
    user: str, method_id: int, who: Principal = OWN, session: AsyncSession = DB
) -> dict[str, int]:
    """Send a code through the method; entering it at …/verify marks the method verified."""
    user_id = service.resolve_user(who, user)
    job = await service.start_verification(session, who, user_id, method_id)
    return {"job_id": job.id}


@router.post(f"{BASE}/contact-methods/{{method_id}}/verify", response_model=ContactMethodOut)
async def verify_contact_method(
    user: str, method_id: int, body: VerifyIn, who: Principal = OWN, session: AsyncSession = DB
) -> ContactMethodOut:
    user_id = service.resolve_user(who, user)
    return await service.verify(session, who, user_id, method_id, body)


@router.get(f"{BASE}/notification-rules", response_model=list[RuleOut])
async def list_rules(user: str, who: Principal = OWN, session: AsyncSession = DB) -> list[RuleOut]:
    return await service.list_rules(session, service.resolve_user(who, user))


@router.post(f"{BASE}/notification-rules", response_model=RuleOut, status_code=201)
async def create_rule(
    user: str, body: RuleIn, who: Principal = OWN, session: AsyncSession = DB
) -> RuleOut:
    return await service.create_rule(session, who, service.resolve_user(who, user), body)


@router.delete(f"{BASE}/notification-rules/{{rule_id}}", status_code=204)
async def delete_rule(
    user: str, rule_id: int, who: Principal = OWN, session: AsyncSession = DB
) -> Response:
    await service.delete_rule(session, who, service.resolve_user(who, user), rule_id)
    return Response(status_code=204)


@router.get(f"{BASE}/deliveries", response_model=list[DeliveryOut])
async def list_my_deliveries(
    user: str,
    status: DeliveryStatus | None = None,
    limit: int = Query(100, ge=1, le=500),
    who: Principal = OWN,
    session: AsyncSession = DB,
) -> list[DeliveryOut]:
    user_id = service.resolve_user(who, user)
    return await service.list_deliveries(session, user_id=user_id, status=status, limit=limit)


@router.get("/notifications/deliveries", response_model=list[DeliveryOut])
async def list_all_deliveries(
    status: DeliveryStatus | None = None,
    user_id: int | None = None,
    limit: int = Query(100, ge=1, le=500),
    who: Principal = ADMIN,
    session: AsyncSession = DB,
) -> list[DeliveryOut]:
    """Every delivery, newest first: where pages went and which failed."""
    return await service.list_deliveries(session, user_id=user_id, status=status, limit=limit)
