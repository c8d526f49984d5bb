"""Durable jobs: timers and the outbox, claimed by workers with leases, retried with back-off.

Domains enqueue work with `tocsin.jobs.service.enqueue` inside their own transaction and
handle it with `@tocsin.jobs.registry.job_handler("kind")` in their `handlers.py`.
"""
