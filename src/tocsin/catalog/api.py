"""REST routes for the catalog. Thin: each hands the caller's Principal to the service layer,
which applies team scoping, validation, audit and the transaction."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import (
    BlastRadiusOut,
    BusinessUnitCreate,
    BusinessUnitOut,
    BusinessUnitUpdate,
    CatalogGraphOut,
    CreditOut,
    CustomerCreate,
    CustomerOut,
    CustomerTierCreate,
    CustomerTierOut,
    CustomerTierUpdate,
    CustomerUpdate,
    DependenciesOut,
    DependenciesPut,
    DependencyIn,
    MemberIn,
    MembersPut,
    ServiceCreate,
    ServiceGraphOut,
    ServiceOut,
    ServiceUpdate,
    TeamCreate,
    TeamOut,
    TeamUpdate,
    Tier,
    VendorCreate,
    VendorOut,
    VendorUpdate,
)
from tocsin.db.session import get_session

router = APIRouter(prefix="/api/v1", tags=["catalog"])

READ = Depends(Requires(Permission.CATALOG_READ))
WRITE = Depends(Requires(Permission.CATALOG_WRITE))
ADMIN = Depends(Requires(Permission.CATALOG_ADMIN))
DB = Depends(get_session)


def _gone() -> Response:
    return Response(status_code=204)


# --- teams -----------------------------------------------------------------------------------


@router.get("/teams", response_model=list[TeamOut])
async def list_teams(_: Principal = READ, session: AsyncSession = DB) -> list[TeamOut]:
    return await catalog.list_teams(session)


@router.post("/teams", response_model=TeamOut, status_code=201)
async def create_team(
    body: TeamCreate, who: Principal = ADMIN, session: AsyncSession = DB
) -> TeamOut:
    return await catalog.create_team(session, who, body)


@router.get("/teams/{slug}", response_model=TeamOut)
async def get_team(slug: str, _: Principal = READ, session: AsyncSession = DB) -> TeamOut:
    return await catalog.get_team(session, slug)


@router.patch("/teams/{slug}", response_model=TeamOut)
async def update_team(
    slug: str, body: TeamUpdate, who: Principal = ADMIN, session: AsyncSession = DB
) -> TeamOut:
    return await catalog.update_team(session, who, slug, body)


@router.delete("/teams/{slug}", status_code=204, response_class=Response)
async def delete_team(slug: str, who: Principal = ADMIN, session: AsyncSession = DB) -> Response:
    await catalog.delete_team(session, who, slug)
    return _gone()


@router.put("/teams/{slug}/members", response_model=TeamOut)
async def set_team_members(
    slug: str, body: MembersPut, who: Principal = ADMIN, session: AsyncSession = DB
) -> TeamOut:
    return await catalog.set_team_members(session, who, slug, body.members)


@router.post("/teams/{slug}/members", response_model=TeamOut)
async def add_team_member(
    slug: str, body: MemberIn, who: Principal = ADMIN, session: AsyncSession = DB
) -> TeamOut:
    return await catalog.add_team_member(session, who, slug, body)


@router.delete("/teams/{slug}/members/{user_id}", response_model=TeamOut)
async def remove_team_member(
    slug: str, user_id: int, who: Principal = ADMIN, session: AsyncSession = DB
) -> TeamOut:
    return await catalog.remove_team_member(session, who, slug, user_id)


# --- services and the dependency graph -------------------------------------------------------


@router.get("/services", response_model=list[ServiceOut])
async def list_services(
    team: str | None = Query(default=None, description="Only services this team owns."),
    tag: str | None = Query(default=None, description="Only services with this tag."),
    tier: Tier | None = None,
    _: Principal = READ,
    session: AsyncSession = DB,
) -> list[ServiceOut]:
    return await catalog.list_services(session, team=team, tag=tag, tier=tier)


@router.post("/services", response_model=ServiceOut, status_code=201)
async def create_service(
    body: ServiceCreate, who: Principal = WRITE, session: AsyncSession = DB
) -> ServiceOut:
    return await catalog.create_service(session, who, body)


@router.get("/services/{slug}", response_model=ServiceOut)
async def get_service(slug: str, _: Principal = READ, session: AsyncSession = DB) -> ServiceOut:
    return await catalog.get_service(session, slug)


@router.patch("/services/{slug}", response_model=ServiceOut)
async def update_service(
    slug: str, body: ServiceUpdate, who: Principal = WRITE, session: AsyncSession = DB
) -> ServiceOut:
    return await catalog.update_service(session, who, slug, body)


@router.delete("/services/{slug}", status_code=204, response_class=Response)
async def delete_service(slug: str, who: Principal = WRITE, session: AsyncSession = DB) -> Response:
    await catalog.delete_service(session, who, slug)
    return _gone()


@router.get("/services/{slug}/dependencies", response_model=DependenciesOut)
async def get_dependencies(
    slug: str, _: Principal = READ, session: AsyncSession = DB
) -> DependenciesOut:
    return await catalog.get_dependencies(session, slug)


@router.put("/services/{slug}/dependencies", response_model=DependenciesOut)
async def set_dependencies(
    slug: str, body: DependenciesPut, who: Principal = WRITE, session: AsyncSession = DB
) -> DependenciesOut:
    return await catalog.set_dependencies(session, who, slug, body.dependencies)


@router.post("/services/{slug}/dependencies", response_model=DependenciesOut)
async def add_dependency(
    slug: str, body: DependencyIn, who: Principal = WRITE, session: AsyncSession = DB
) -> DependenciesOut:
    return await catalog.add_dependency(session, who, slug, body)


@router.delete("/services/{slug}/dependencies/{depends_on}", response_model=DependenciesOut)
async def remove_dependency(
    slug: str, depends_on: str, who: Principal = WRITE, session: AsyncSession = DB
) -> DependenciesOut:
    return await catalog.remove_dependency(session, who, slug, depends_on)


@router.get("/services/{slug}/graph", response_model=ServiceGraphOut)
async def service_graph(
    slug: str,
    depth: int | None = Query(
        default=None, ge=1, le=50, description="Hops each way; all if absent."
    ),
    _: Principal = READ,
    session: AsyncSession = DB,
) -> ServiceGraphOut:
    return await catalog.service_graph(session, slug, depth=depth)


@router.get("/services/{slug}/blast-radius", response_model=BlastRadiusOut)
async def blast_radius(
    slug: str, _: Principal = READ, session: AsyncSession = DB
) -> BlastRadiusOut:
    return await catalog.blast_radius(session, slug)


@router.get("/dependency-graph", response_model=CatalogGraphOut)
async def dependency_graph(_: Principal = READ, session: AsyncSession = DB) -> CatalogGraphOut:
    return await catalog.catalog_graph(session)


# --- business units --------------------------------------------------------------------------


@router.get("/business-units", response_model=list[BusinessUnitOut])
async def list_business_units(
    _: Principal = READ, session: AsyncSession = DB
) -> list[BusinessUnitOut]:
    return await catalog.list_business_units(session)


@router.post("/business-units", response_model=BusinessUnitOut, status_code=201)
async def create_business_unit(
    body: BusinessUnitCreate, who: Principal = ADMIN, session: AsyncSession = DB
) -> BusinessUnitOut:
    return await catalog.create_business_unit(session, who, body)


@router.get("/business-units/{slug}", response_model=BusinessUnitOut)
async def get_business_unit(
    slug: str, _: Principal = READ, session: AsyncSession = DB
) -> BusinessUnitOut:
    return await catalog.get_business_unit(session, slug)


@router.patch("/business-units/{slug}", response_model=BusinessUnitOut)
async def update_business_unit(
    slug: str, body: BusinessUnitUpdate, who: Principal = ADMIN, session: AsyncSession = DB
) -> BusinessUnitOut:
    return await catalog.update_business_unit(session, who, slug, body)


@router.delete("/business-units/{slug}", status_code=204, response_class=Response)
async def delete_business_unit(
    slug: str, who: Principal = ADMIN, session: AsyncSession = DB
) -> Response:
    await catalog.delete_business_unit(session, who, slug)
    return _gone()


# --- customer tiers --------------------------------------------------------------------------


@router.get("/customer-tiers", response_model=list[CustomerTierOut])
async def list_customer_tiers(
    _: Principal = READ, session: AsyncSession = DB
) -> list[CustomerTierOut]:
    return await catalog.list_customer_tiers(session)


@router.post("/customer-tiers", response_model=CustomerTierOut, status_code=201)
async def create_customer_tier(
    body: CustomerTierCreate, who: Principal = ADMIN, session: AsyncSession = DB
) -> CustomerTierOut:
    return await catalog.create_customer_tier(session, who, body)


@router.get("/customer-tiers/{slug}", response_model=CustomerTierOut)
async def get_customer_tier(
    slug: str, _: Principal = READ, session: AsyncSession = DB
) -> CustomerTierOut:
    return await catalog.get_customer_tier(session, slug)


@router.patch("/customer-tiers/{slug}", response_model=CustomerTierOut)
async def update_customer_tier(
    slug: str, body: CustomerTierUpdate, who: Principal = ADMIN, session: AsyncSession = DB
) -> CustomerTierOut:
    return await catalog.update_customer_tier(session, who, slug, body)


@router.delete("/customer-tiers/{slug}", status_code=204, response_class=Response)
async def delete_customer_tier(
    slug: str, who: Principal = ADMIN, session: AsyncSession = DB
) -> Response:
    await catalog.delete_customer_tier(session, who, slug)
    return _gone()


# --- customers -------------------------------------------------------------------------------


@router.get("/customers", response_model=list[CustomerOut])
async def list_customers(
    tier: str | None = None,
    business_unit: str | None = None,
    service: str | None = Query(default=None, description="Only customers using this service."),
    _: Principal = READ,
    session: AsyncSession = DB,
) -> list[CustomerOut]:
    return await catalog.list_customers(
        session, tier=tier, business_unit=business_unit, service=service
    )


@router.post("/customers", response_model=CustomerOut, status_code=201)
async def create_customer(
    body: CustomerCreate, who: Principal = ADMIN, session: AsyncSession = DB
) -> CustomerOut:
    return await catalog.create_customer(session, who, body)


@router.get("/customers/{slug}", response_model=CustomerOut)
async def get_customer(slug: str, _: Principal = READ, session: AsyncSession = DB) -> CustomerOut:
    return await catalog.get_customer(session, slug)


@router.patch("/customers/{slug}", response_model=CustomerOut)
async def update_customer(
    slug: str, body: CustomerUpdate, who: Principal = ADMIN, session: AsyncSession = DB
) -> CustomerOut:
    return await catalog.update_customer(session, who, slug, body)


@router.delete("/customers/{slug}", status_code=204, response_class=Response)
async def delete_customer(
    slug: str, who: Principal = ADMIN, session: AsyncSession = DB
) -> Response:
    await catalog.delete_customer(session, who, slug)
    return _gone()


@router.get("/customers/{slug}/credit", response_model=CreditOut)
async def customer_credit(
    slug: str,
    availability: float = Query(ge=0, le=100, description="Measured monthly availability, %."),
    _: Principal = READ,
    session: AsyncSession = DB,
) -> CreditOut:
    return await catalog.customer_credit(session, slug, availability)


# --- vendors ---------------------------------------------------------------------------------


@router.get("/vendors", response_model=list[VendorOut])
async def list_vendors(
    service: str | None = Query(default=None, description="Only vendors backing this service."),
    _: Principal = READ,
    session: AsyncSession = DB,
) -> list[VendorOut]:
    return await catalog.list_vendors(session, service=service)


@router.post("/vendors", response_model=VendorOut, status_code=201)
async def create_vendor(
    body: VendorCreate, who: Principal = ADMIN, session: AsyncSession = DB
) -> VendorOut:
    return await catalog.create_vendor(session, who, body)


@router.get("/vendors/{slug}", response_model=VendorOut)
async def get_vendor(slug: str, _: Principal = READ, session: AsyncSession = DB) -> VendorOut:
    return await catalog.get_vendor(session, slug)


@router.patch("/vendors/{slug}", response_model=VendorOut)
async def update_vendor(
    slug: str, body: VendorUpdate, who: Principal = ADMIN, session: AsyncSession = DB
) -> VendorOut:
    return await catalog.update_vendor(session, who, slug, body)


@router.delete("/vendors/{slug}", status_code=204, response_class=Response)
async def delete_vendor(slug: str, who: Principal = ADMIN, session: AsyncSession = DB) -> Response:
    await catalog.delete_vendor(session, who, slug)
    return _gone()
