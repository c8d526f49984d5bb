"""Live dashboards (S2.4): the incident commander's board and the stakeholder screen."""
