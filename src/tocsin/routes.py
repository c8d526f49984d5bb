"""The one place that lists every router the application serves."""

from __future__ import annotations

from fastapi import FastAPI

from tocsin import ops
from tocsin.alerts import api as alerts_api
from tocsin.alerts import ingest as alerts_ingest
from tocsin.alerts import pipeline_api as alerts_pipeline_api
from tocsin.alerts import pipeline_views as alerts_pipeline_views
from tocsin.alerts import views as alerts_views
from tocsin.alerts.fatigue import api as alert_fatigue_api
from tocsin.alerts.fatigue import views as alert_fatigue_views
from tocsin.alerts.routing import api as alert_routing_api
from tocsin.alerts.routing import views as alert_routing_views
from tocsin.audit import api as audit_api
from tocsin.auth import api as auth_api
from tocsin.auth import views as auth_views
from tocsin.catalog import api as catalog_api
from tocsin.catalog import views as catalog_views
from tocsin.checks import api as checks_api
from tocsin.checks import views as checks_views
from tocsin.comms import api as comms_api
from tocsin.comms import views as comms_views
from tocsin.config import Settings
from tocsin.dashboards import api as dashboards_api
from tocsin.dashboards import views as dashboards_views
from tocsin.incidents import api as incidents_api
from tocsin.incidents import views as incidents_views
from tocsin.incidents.bridge import api as incident_bridge_api
from tocsin.incidents.bridge import views as incident_bridge_views
from tocsin.incidents.coordination import api as incident_coordination_api
from tocsin.incidents.coordination import views as incident_coordination_views
from tocsin.incidents.escalation import api as incident_escalation_api
from tocsin.incidents.escalation import views as incident_escalation_views
from tocsin.incidents.reports import api as customer_reports_api
from tocsin.incidents.reports import views as customer_reports_views
from tocsin.incidents.vendors import api as incident_vendors_api
from tocsin.incidents.vendors import views as incident_vendors_views
from tocsin.incidents.warrooms import api as incident_warrooms_api
from tocsin.incidents.warrooms import slack_events as incident_warrooms_slack_events
from tocsin.incidents.warrooms import views as incident_warrooms_views
from tocsin.jobs import api as jobs_api
from tocsin.jobs import notify as jobs_notify
from tocsin.manifest import api as manifest_api
from tocsin.notifications import api as notifications_api
from tocsin.notifications import views as notifications_views
from tocsin.oncall import api as oncall_api
from tocsin.oncall import views as oncall_views
from tocsin.policy import api as policy_api
from tocsin.policy import views as policy_views
from tocsin.statuspage import api as statuspage_api
from tocsin.statuspage import site as statuspage_site
from tocsin.statuspage import views as statuspage_views
from tocsin.traces import api as traces_api
from tocsin.traces import views as traces_views
from tocsin.web import admin as web_admin
from tocsin.web import assets as web_assets
from tocsin.web import live as web_live
from tocsin.web import views as web_views


def include_routes(app: FastAPI, settings: Settings) -> None:
    # First: routes are matched in order, and the public status page is the hottest path.
    app.include_router(statuspage_site.router)
    app.include_router(ops.router)
    app.include_router(alerts_ingest.router)
    app.include_router(alert_fatigue_api.router)  # before /alerts/{alert_id}
    app.include_router(alerts_api.router)
    app.include_router(alerts_pipeline_api.router)
    app.include_router(alert_routing_api.router)
    app.include_router(alert_routing_views.router)
    app.include_router(alert_fatigue_views.router)
    app.include_router(alerts_views.router)
    app.include_router(alerts_pipeline_views.router)
    app.include_router(auth_api.router)
    app.include_router(audit_api.router)
    app.include_router(catalog_api.router)
    app.include_router(policy_api.router)
    app.include_router(incidents_api.router)
    app.include_router(incident_bridge_api.router)
    app.include_router(incident_coordination_api.router)
    app.include_router(incident_vendors_api.router)
    app.include_router(incident_warrooms_api.router)
    app.include_router(incident_warrooms_slack_events.router)
    app.include_router(incident_escalation_api.router)
    app.include_router(customer_reports_api.router)
    app.include_router(jobs_api.router)
    app.include_router(manifest_api.router)
    app.include_router(checks_api.router)
    app.include_router(comms_api.router)
    app.include_router(oncall_api.router)
    app.include_router(jobs_notify.relay_router)
    app.include_router(auth_views.router)
    app.include_router(web_views.router)
    app.include_router(web_admin.router)
    app.include_router(catalog_views.router)
    app.include_router(policy_views.router)
    app.include_router(incidents_views.router)
    app.include_router(customer_reports_views.router)
    app.include_router(incident_bridge_views.router)
    app.include_router(incident_coordination_views.router)
    app.include_router(incident_vendors_views.router)
    app.include_router(incident_warrooms_views.router)
    app.include_router(incident_escalation_views.router)
    app.include_router(dashboards_api.router)
    app.include_router(dashboards_views.router)
    app.include_router(oncall_views.router)
    app.include_router(traces_api.receiver)
    app.include_router(traces_api.router)
    app.include_router(traces_views.router)
    app.include_router(checks_views.router)
    app.include_router(comms_views.router)
    app.include_router(notifications_api.router)
    app.include_router(notifications_views.router)
    app.include_router(statuspage_api.router)
    app.include_router(statuspage_views.router)
    app.include_router(web_live.router)
    app.include_router(web_assets.router)
