"""The load generator against an in-process gateway: a short, slow run whose report must agree
with what the simulator received and with the petitions in the database (no timing asserts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.load.corpus import load_corpus
from bench.load.generator import LoadGenerator
from bench.load.platform import CallbackSender, ObservedState, create_platform_app
from bench.load.stack import petitions_in_database
from bot.app import create_app
from bot.settings import Settings
from nlu.embedded import EmbeddedEngine
from simulator.config import SimulatorConfig

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@asynccontextmanager
async def running(app: web.Application, port: int) -> AsyncIterator[None]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("aes", [False, True], ids=["plain", "aes"])
async def test_short_run_counts_match_the_simulator_and_the_database(
    aes: bool,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    embedded_nlu: EmbeddedEngine,
) -> None:
    platform_port, gateway_port = unused_port(), unused_port()
    config = SimulatorConfig(
        _env_file=None,
        port=platform_port,
        wechat={"aes_key": AES_KEY if aes else None},
        cs_messages_per_window=1000,
    )
    platform, state = create_platform_app(config)
    settings.wechat.api_base_url = f"http://127.0.0.1:{platform_port}"
    settings.wecom.api_base_url = f"http://127.0.0.1:{platform_port}/wecom"
    if aes:
        settings.wechat.aes_key = SecretStr(AES_KEY)
    gateway = create_app(settings, nlu=embedded_nlu)

    async with (
        running(platform, platform_port),
        running(gateway, gateway_port),
        aiohttp.ClientSession() as http,
    ):
        generator = LoadGenerator(
            sender=CallbackSender(state, config, http),
            state=state,
            corpus=load_corpus(),
            targets=[f"http://127.0.0.1:{gateway_port}/wechat"],
            run_id="smoke",
            think_seconds=(0.0, 0.1),
            reply_wait_seconds=20.0,
        )
        result = await generator.run(rate=4, duration=3)
        summary = result.summary()
        stored = await petitions_in_database(settings.database.url, generator.openid_prefix())

    assert summary["sent"] == 12
    assert summary["undelivered"] == 0
    assert summary["bad_passive_replies"] == 0
    delivered = summary["sent"] - summary["undelivered"]
    passive = round(summary["passive_share"] * delivered)
    pushed = round(summary["async_share"] * delivered)
    assert passive + pushed + summary["no_reply"] == delivered
    assert summary["no_reply"] == 0
    # Every push the generator counted is one the simulator accepted, and vice versa.
    received = state.stats.counters["custom_accepted"] + state.stats.counters["template_accepted"]
    assert summary["receipts_total"] == received
    assert summary["pushes_received"] <= received
    assert isinstance(state, ObservedState)
    residents = [o for o in state.residents if o.startswith(generator.openid_prefix())]
    assert len(residents) == sum(result.outcomes.values())
    # Lost petitions: every ticket the generator was given is in the database.
    assert result.tickets <= stored
    assert summary["petitions_completed"] == len(result.tickets)
