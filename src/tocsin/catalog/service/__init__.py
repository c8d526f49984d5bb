"""Catalog use cases: the one import other domains, the web pages and configuration as code
build on (`from tocsin.catalog import service as catalog`).

Reads answer the `*Out` shapes of catalog.schemas, with references as slugs. Writes take the
caller (`who`: a Principal for team scoping, or an Actor for trusted callers), the `*Create` or
`*Update` body, and `commit`; each records an audit entry with before and after. See
`common.py` for the rules they share.
"""

from tocsin.catalog.service.common import Forbidden, Who
from tocsin.catalog.service.customers import (
    create_business_unit,
    create_customer,
    create_customer_tier,
    customer_credit,
    delete_business_unit,
    delete_customer,
    delete_customer_tier,
    get_business_unit,
    get_customer,
    get_customer_tier,
    list_business_units,
    list_customer_tiers,
    list_customers,
    severity_references,
    update_business_unit,
    update_customer,
    update_customer_tier,
)
from tocsin.catalog.service.impact import blast_radius, catalog_graph, service_graph
from tocsin.catalog.service.services import (
    add_dependency,
    create_service,
    delete_service,
    dependency_graph,
    get_dependencies,
    get_service,
    list_services,
    remove_dependency,
    service_id,
    set_dependencies,
    update_service,
)
from tocsin.catalog.service.teams import (
    add_team_member,
    create_team,
    delete_team,
    get_team,
    list_teams,
    remove_team_member,
    set_team_members,
    team_id,
    update_team,
)
from tocsin.catalog.service.vendors import (
    create_vendor,
    delete_vendor,
    get_vendor,
    list_vendors,
    update_vendor,
)

__all__ = [
    "Forbidden",
    "Who",
    "add_dependency",
    "add_team_member",
    "blast_radius",
    "catalog_graph",
    "create_business_unit",
    "create_customer",
    "create_customer_tier",
    "create_service",
    "create_team",
    "create_vendor",
    "customer_credit",
    "delete_business_unit",
    "delete_customer",
    "delete_customer_tier",
    "delete_service",
    "delete_team",
    "delete_vendor",
    "dependency_graph",
    "get_business_unit",
    "get_customer",
    "get_customer_tier",
    "get_dependencies",
    "get_service",
    "get_team",
    "get_vendor",
    "list_business_units",
    "list_customer_tiers",
    "list_customers",
    "list_services",
    "list_teams",
    "list_vendors",
    "remove_dependency",
    "remove_team_member",
    "service_graph",
    "service_id",
    "set_dependencies",
    "set_team_members",
    "severity_references",
    "team_id",
    "update_business_unit",
    "update_customer",
    "update_customer_tier",
    "update_service",
    "update_team",
    "update_vendor",
]
