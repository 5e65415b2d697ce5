"""Operating the bot: liveness/readiness probes, Prometheus metrics and structured, masked logs.

Each worker process serves its own `/metrics` from its own registry: Prometheus scrapes every
worker (one target per process); the database-derived gauges are the same on all of them.
"""
