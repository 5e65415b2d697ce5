"""Fixtures: the simulator under test and a fake gateway (helpers live in simhelpers.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from simhelpers import FakeGateway, make_config

from simulator.app import create_simulator_app

StartGateway = Callable[..., Awaitable[FakeGateway]]
StartSimulator = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def start_gateway(aiohttp_server: Any) -> StartGateway:
    """Start a fake gateway: `await start_gateway(aes_key=..., delays=[...])`."""

    async def start(**kwargs: Any) -> FakeGateway:
        gateway = FakeGateway(**kwargs)
        server = await aiohttp_server(gateway.app())
        gateway.url = str(server.make_url(""))
        return gateway

    return start


@pytest.fixture
def start_simulator(aiohttp_client: Any) -> StartSimulator:
    """Start the simulator: `await start_simulator(gateway=gw, post_timeout_seconds=...)`."""

    async def start(gateway: FakeGateway | None = None, **overrides: Any) -> TestClient:
        if gateway is not None:
            overrides.setdefault("gateway_url", gateway.url.rstrip("/") + "/wechat")
            overrides.setdefault("wecom_callback_url", gateway.url.rstrip("/") + "/wecom")
        client: TestClient = await aiohttp_client(create_simulator_app(make_config(**overrides)))
        return client

    return start


@pytest.fixture
async def client(start_simulator: StartSimulator) -> TestClient:
    """A simulator with no reachable gateway (for API-side tests)."""
    return await start_simulator()
