"""Composition root of the simulator: `create_simulator_app(config)` and `run(config)`."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

from aiohttp import web

from simulator import control_api, wechat_api, wecom_api
from simulator.config import SimulatorConfig
from simulator.http import SIMULATOR
from simulator.page import load_demo, setup_page
from simulator.service import Simulator
from simulator.state import SimulatorState

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""Large enough to receive (and then refuse) oversized uploads."""


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    simulator = app[SIMULATOR]
    await simulator.start()
    yield
    await simulator.close()


def create_simulator_app(config: SimulatorConfig) -> web.Application:
    """The WeChat + WeCom stand-in: platform API, control API and the page."""
    demo = load_demo()
    state = SimulatorState(config, demo.nicknames)
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[SIMULATOR] = Simulator(config, state)
    app.cleanup_ctx.append(_lifecycle)
    app.add_routes(wechat_api.routes)
    app.add_routes(wecom_api.routes)
    app.add_routes(control_api.routes)
    setup_page(app, demo)
    return app


def run(config: SimulatorConfig) -> None:
    """Serve on config.host:config.port until interrupted."""
    app = create_simulator_app(config)
    mode = "safe (AES)" if config.safe_mode else "plaintext"
    sys.stdout.write(
        f"minqing simulator: http://{config.host}:{config.port}/\n"
        f"  posts to {config.gateway_url} ({mode}) and {config.wecom_callback_url}\n"
        f"  bot settings: WECHAT__API_BASE_URL=http://{config.host}:{config.port} "
        f"WECOM__API_BASE_URL=http://{config.host}:{config.port}/wecom\n"
    )
    sys.stdout.flush()
    web.run_app(app, host=config.host, port=config.port, print=None)
