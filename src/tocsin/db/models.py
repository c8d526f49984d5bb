"""Imports every domain's tables so that metadata (and Alembic) sees the whole schema."""

from tocsin.alerts import models as alerts_models
from tocsin.alerts.routing import models as alert_routing_models  # noqa: F401
from tocsin.audit import models as audit_models
from tocsin.auth import models as auth_models
from tocsin.catalog import models as catalog_models
from tocsin.checks import models as checks_models  # noqa: F401
from tocsin.comms import models as comms_models  # noqa: F401
from tocsin.db.base import Base
from tocsin.incidents import models as incident_models
from tocsin.incidents.bridge import models as incident_bridge_models
from tocsin.incidents.coordination import models as incident_coordination_models  # noqa: F401
from tocsin.incidents.escalation import models as incident_escalation_models  # noqa: F401
from tocsin.incidents.reports import models as customer_report_models  # noqa: F401
from tocsin.incidents.vendors import models as incident_vendor_models  # noqa: F401
from tocsin.incidents.warrooms import models as incident_warroom_models  # noqa: F401
from tocsin.jobs import models as jobs_models
from tocsin.notifications import models as notification_models  # noqa: F401
from tocsin.oncall import models as oncall_models  # noqa: F401
from tocsin.policy import models as policy_models
from tocsin.statuspage import models as statuspage_models  # noqa: F401
from tocsin.traces import models as traces_models  # noqa: F401

__all__ = [
    "Base",
    "alerts_models",
    "audit_models",
    "auth_models",
    "catalog_models",
    "incident_bridge_models",
    "incident_models",
    "jobs_models",
    "policy_models",
]
