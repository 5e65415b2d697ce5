"""A running gateway and simulator on real local ports, talking real HTTP to each other."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.settings import Settings
from governance.clock import Clock
from nlu.embedded import EmbeddedEngine
from nlu.parsed import NluEngine
from simulator.app import create_simulator_app
from simulator.config import SimulatorConfig

REDIS_URL = os.environ.get("MINQING_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """The test Redis database, emptied before and after (skipped without Redis, except in CI)."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no Redis at " + REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@dataclass
class Stack:
    gateway_url: str
    simulator_url: str
    http: aiohttp.ClientSession
    app: web.Application
    sessions: async_sessionmaker[AsyncSession]

    async def sim(self, method: str, path: str, **json: Any) -> Any:
        async with self.http.request(
            method, self.simulator_url + path, json=json or None
        ) as response:
            assert response.status < 500, await response.text()
            return await response.json()

    async def say(self, openid: str, text: str) -> str:
        """Send a text as the resident; return the passive reply's text ("" if none)."""
        result = await self.sim(
            "POST", f"/sim/api/residents/{openid}/messages", type="text", content=text
        )
        reply = result.get("passive_reply")
        return str(reply.get("content", "")) if reply else ""

    async def wait_for(self, probe: Callable[[], Awaitable[Any]], *, within: float = 10.0) -> Any:
        """Poll until `probe` returns something truthy (outbox delivery is asynchronous)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            value = await probe()
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail("timed out waiting for an asynchronous delivery")
            await asyncio.sleep(0.1)


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    embedded_nlu: EmbeddedEngine,
) -> AsyncIterator[StackFactory]:
    async with stack_factory(settings, sessions, embedded_nlu) as start:
        yield start


@contextlib.asynccontextmanager
async def stack_factory(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    embedded_nlu: EmbeddedEngine,
) -> AsyncIterator[StackFactory]:
    """Start gateway + simulator pairs on free ports; shared with tests/browser (session loop)."""
    runners: list[web.AppRunner] = []
    clients: list[aiohttp.ClientSession] = []

    async def start(
        *,
        nlu: NluEngine | None = None,
        aes_key: str | None = None,
        reply_budget: float | None = None,
        clock: Clock | None = None,
        **sim: Any,
    ) -> Stack:
        gateway_port, simulator_port = unused_port(), unused_port()
        simulator_url = f"http://127.0.0.1:{simulator_port}"
        config = SimulatorConfig(
            port=simulator_port,
            gateway_url=f"http://127.0.0.1:{gateway_port}/wechat",
            wecom_callback_url=f"http://127.0.0.1:{gateway_port}/wecom",
            wechat={"aes_key": aes_key},
            **sim,
        )
        settings.wechat.api_base_url = simulator_url
        settings.wecom.api_base_url = f"{simulator_url}/wecom"
        if aes_key:
            settings.wechat.aes_key = SecretStr(aes_key)
        if reply_budget is not None:
            settings.wechat.reply_budget_seconds = reply_budget
        app = create_app(settings, clock=clock, nlu=nlu or embedded_nlu)
        for application, port in (
            (create_simulator_app(config), simulator_port),
            (app, gateway_port),
        ):
            runner = web.AppRunner(application)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            runners.append(runner)
        http = aiohttp.ClientSession()
        clients.append(http)
        return Stack(f"http://127.0.0.1:{gateway_port}", simulator_url, http, app, sessions)

    yield start
    for client in clients:
        await client.close()
    for runner in reversed(runners):
        await runner.cleanup()
