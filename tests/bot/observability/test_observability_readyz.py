"""/healthz and /readyz of the real app against real and really unreachable dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.observability.http import Observability, Resources
from bot.settings import MetricsSettings, Settings
from governance.clock import SystemClock
from nlu.embedded import EmbeddedEngine

REDIS_DB = 11
"""This helper's own Redis database (PING only: nothing is written)."""

Probe = Callable[[str], Awaitable[tuple[int, dict[str, Any]]]]


@pytest.fixture
async def probe(settings: Settings, embedded_nlu: EmbeddedEngine) -> AsyncIterator[Probe]:
    """Start the real app with the (possibly changed) settings and GET one path as JSON."""
    clients: list[TestClient[Any, Any]] = []

    async def get(path: str) -> tuple[int, dict[str, Any]]:
        if not clients:
            clients.append(TestClient(TestServer(create_app(settings, nlu=embedded_nlu))))
            await clients[0].start_server()
        response = await clients[0].get(path)
        return response.status, await response.json()

    yield get
    for client in clients:
        await client.close()


async def test_ready_when_the_database_answers_and_nlu_is_loaded(probe: Probe) -> None:
    assert await probe("/healthz") == (200, {"status": "ok"})
    status, body = await probe("/readyz")
    assert status == 200, body
    assert body == {
        "status": "ready",
        "not_ready": [],
        "checks": {"database": "ok", "redis": "not configured", "nlu": "ok"},
    }


async def test_ready_with_a_live_redis(probe: Probe, settings: Settings) -> None:
    settings.redis.url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    status, body = await probe("/readyz")
    assert status == 200, body
    assert body["checks"]["redis"] == "ok"


async def test_not_ready_when_redis_is_configured_but_does_not_answer(
    probe: Probe, settings: Settings
) -> None:
    settings.redis.url = f"redis://127.0.0.1:{unused_port()}/0"
    status, body = await probe("/readyz")
    assert status == 503
    assert body["status"] == "not ready"
    assert body["not_ready"] == ["redis"]
    assert body["checks"]["redis"].startswith("error: ")
    assert "127.0.0.1" not in body["checks"]["redis"]  # no addresses leak from the probe
    assert (await probe("/healthz"))[0] == 200  # alive, just not ready


async def test_not_ready_when_the_database_does_not_answer(
    probe: Probe, settings: Settings
) -> None:
    settings.database.url = f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/nowhere"
    status, body = await probe("/readyz")
    assert status == 503
    assert body["not_ready"] == ["database"]
    assert body["checks"]["database"].startswith("error: ")
    assert body["checks"]["nlu"] == "ok"


async def test_not_ready_before_resources_exist_or_without_an_engine(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    observability = Observability(MetricsSettings(), redis_configured=False)
    assert set((await observability.readiness()).values()) == {"not started", "not loaded"}
    observability.attach(Resources(sessions=sessions, redis=None, nlu=None, clock=SystemClock()))
    checks = await observability.readiness()
    assert checks == {"database": "ok", "redis": "not configured", "nlu": "not loaded"}


async def test_metrics_are_still_served_when_the_database_is_down(
    settings: Settings, embedded_nlu: EmbeddedEngine
) -> None:
    settings.database.url = f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/nowhere"
    async with TestClient(TestServer(create_app(settings, nlu=embedded_nlu))) as client:
        response = await client.get("/metrics")
        text = await response.text()
    assert response.status == 200
    assert "minqing_domain_metrics_up 0.0" in text
    assert "minqing_outbox_pending" not in text  # no stale or invented figures
    assert "minqing_http_requests_total" in text
