"""Alerts: ingest what monitoring tools send, deduplicate, group, correlate and suppress.

The pure core lives here with no database, HTTP or clock imports: `normalized` (one shape
for every alert), `formats` (one parser per wire format), `fingerprint` (Alertmanager's
alert identity) and `merge` (what a re-post does to a stored alert).
"""
