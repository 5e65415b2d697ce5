"""The README's first command, for real: `minqing demo` in its own process, driven over HTTP.

It migrates and seeds a fresh SQLite file, creates the grid points' QR codes through the
simulator, and a resident scans one, files a petition and gets a ticket while the card
reaches the handler group.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import unused_port

from nlu.embedded import EmbeddedEngine

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(
    tmp_path: Path, nlu_model_dir: Path, embedded_nlu: EmbeddedEngine
) -> Iterator[dict[str, str]]:
    gateway_port, simulator_port = unused_port(), unused_port()
    env = {
        **os.environ,
        "DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "NLU__MODEL_DIR": str(nlu_model_dir),  # trained once by the embedded_nlu fixture
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "demo",
            "--port",
            str(gateway_port),
            "--simulator-port",
            str(simulator_port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield {
            "gateway": f"http://127.0.0.1:{gateway_port}",
            "simulator": f"http://127.0.0.1:{simulator_port}",
        }
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        print(output[-3000:])  # noqa: T201  (shown when the test fails)


async def _poll(http: aiohttp.ClientSession, url: str, within: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            async with http.get(url) as response:
                if response.status == 200:
                    return await response.json()
        except aiohttp.ClientConnectionError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{url} did not come up")
        await asyncio.sleep(0.25)


async def test_the_demo_runs_a_petition_from_qr_scan_to_handler_group(
    demo: dict[str, str],
) -> None:
    simulator = demo["simulator"]
    async with aiohttp.ClientSession() as http:
        await _poll(http, demo["gateway"] + "/healthz")
        await _poll(http, simulator + "/sim/api/info")

        async def qr_codes() -> list[dict[str, Any]]:
            while True:
                codes: list[dict[str, Any]] = await _poll(http, simulator + "/sim/api/qrcodes")
                if len(codes) >= 6 + 3 + 1:  # report codes, staff codes, the policy code
                    return codes
                await asyncio.sleep(0.25)

        codes = await asyncio.wait_for(qr_codes(), 30)
        ticket = next(c["ticket"] for c in codes if c["scene"] == "report:GP-0201")
        scenes = {c["scene"] for c in codes}
        assert {"staff:G02", "policy:lhasa-gesanglinka"} <= scenes

        async def post(path: str, **body: Any) -> dict[str, Any]:
            async with http.post(simulator + path, json=body) as response:
                result: dict[str, Any] = await response.json()
                return result

        openid = "o-demo-resident"
        await post("/sim/api/residents", openid=openid, nickname="卓玛")
        scanned = await post(f"/sim/api/residents/{openid}/scan", ticket=ticket)
        assert "纳金路菜市场" in scanned["passive_reply"]["content"]
        for text in ("菜市场门口的路灯坏了晚上一片漆黑", "跳过"):
            await post(f"/sim/api/residents/{openid}/messages", type="text", content=text)
        done = await post(f"/sim/api/residents/{openid}/messages", type="text", content="1")
        receipt = done["passive_reply"]["content"]
        assert "工单号：" in receipt
        assert "前办结" in receipt

        async def petition_card() -> str:
            """The group also gets other cards (e.g. the calendar alert at start-up)."""
            while True:
                groups = await _poll(http, simulator + "/sim/api/wecom/groups")
                if groups:
                    messages = await _poll(
                        http, f"{simulator}/sim/api/wecom/groups/{groups[0]['chatid']}/messages"
                    )
                    cards = [str(m) for m in messages if "菜市场门口的路灯" in str(m)]
                    if cards:
                        return cards[0]
                await asyncio.sleep(0.25)

        card = await asyncio.wait_for(petition_card(), 30)
        assert "第二网格" in card
        assert "多吉" in card, "dispatched to the grid worker of 第二网格"

        staff_ticket = next(c["ticket"] for c in codes if c["scene"] == "staff:G02")
        staff_card = await post(f"/sim/api/residents/{openid}/scan", ticket=staff_ticket)
        assert "多吉" in staff_card["passive_reply"]["content"]
        policy_ticket = next(c["ticket"] for c in codes if c["scene"].startswith("policy:"))
        policies = await post(f"/sim/api/residents/{openid}/scan", ticket=policy_ticket)
        assert "高龄津贴" in policies["passive_reply"]["content"]
