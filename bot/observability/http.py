"""`/readyz` and `/metrics`, and the state they read once the app's resources are open.

`create_app` calls `install` (routes, middleware); `_wire` calls `attach` when the database,
Redis and the NLU engine exist and `detach` before closing them.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.observability.metrics import Metrics, sample_domain
from bot.settings import MetricsSettings
from governance.clock import Clock
from nlu.parsed import NluEngine

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0
"""A dependency slower than this is not ready (the orchestrator probes every few seconds)."""
FORWARDED_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")
_OK = frozenset({"ok", "not configured"})


@dataclass(slots=True)
class Resources:
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis | None
    nlu: NluEngine | None
    clock: Clock


class Observability:
    """Per-application metrics plus the resources the probes check."""

    def __init__(self, settings: MetricsSettings, *, redis_configured: bool) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.redis_configured = redis_configured
        self.resources: Resources | None = None

    def attach(self, resources: Resources) -> None:
        self.resources = resources

    def detach(self) -> None:
        self.resources = None

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state: "ok", "not configured", or why it is not ready."""
        resources = self.resources
        if resources is None:
            return {"database": "not started", "redis": "not started", "nlu": "not loaded"}
        checks = {
            "database": await _check(_select_one(resources.sessions)),
            "redis": "not configured",
            "nlu": "ok" if resources.nlu is not None else "not loaded",
        }
        if self.redis_configured:
            checks["redis"] = (
                await _check(_ping(resources.redis)) if resources.redis else "not connected"
            )
        return checks

    async def readyz(self, _request: web.Request) -> web.Response:
        checks = await self.readiness()
        failing = sorted(name for name, state in checks.items() if state not in _OK)
        return web.json_response(
            {
                "status": "not ready" if failing else "ready",
                "not_ready": failing,
                "checks": checks,
            },
            status=503 if failing else 200,
        )

    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return web.Response(status=403, text="forbidden")
        domain = self.metrics.domain
        resources = self.resources
        if resources is None:
            domain.failed = True
        else:
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                    domain.state = await sample_domain(resources.sessions, resources.clock.now())
                domain.failed = False
            except Exception as exc:  # the HTTP metrics are still worth serving
                log.warning("metrics: database sample failed: %s", type(exc).__name__)
                domain.failed = True
        body = generate_latest(self.metrics.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    def allowed(self, request: web.Request) -> bool:
        """A valid bearer token, or (when allowed) a private peer not forwarding for anyone."""
        token = self.settings.token
        header = request.headers.get("Authorization", "")
        if token is not None and header.startswith("Bearer "):
            return hmac.compare_digest(
                header.removeprefix("Bearer ").strip().encode(),
                token.get_secret_value().encode(),
            )
        if not self.settings.allow_private_networks:
            return False
        if any(name in request.headers for name in FORWARDED_HEADERS):
            return False  # came through the public proxy on someone's behalf
        return is_private(request.remote)


def is_private(address: str | None) -> bool:
    """Loopback, RFC 1918 / unique-local or link-local; unix sockets count as local."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local


async def _select_one(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await session.execute(text("SELECT 1"))


async def _ping(redis: Redis) -> None:
    if not await redis.ping():
        raise ConnectionError("PING unanswered")


async def _check(probe: Coroutine[Any, Any, None]) -> str:
    """Run one probe with a timeout; the failure is named by its type only (no URLs, no hosts)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await probe
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


OBSERVABILITY = web.AppKey("observability", Observability)


def install(
    app: web.Application, settings: MetricsSettings, *, redis_configured: bool
) -> Observability:
    """Add the metrics middleware and the `/readyz` and `/metrics` routes to a new app."""
    observability = Observability(settings, redis_configured=redis_configured)
    app[OBSERVABILITY] = observability
    app.middlewares.append(observability.metrics.middleware)
    app.router.add_get("/readyz", observability.readyz)
    app.router.add_get("/metrics", observability.metrics_endpoint)
    return observability
