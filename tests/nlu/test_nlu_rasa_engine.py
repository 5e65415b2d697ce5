from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nlu.embedded import EmbeddedEngine
from nlu.parsed import Language
from nlu.rasa_engine import RasaEngine

AiohttpServer = Any  # pytest-aiohttp's factory fixture


def rasa_reply(text: str) -> dict[str, Any]:
    """What Rasa 3's /model/parse answers (DIET + RegexEntityExtractor)."""
    return {
        "text": text,
        "intent": {"name": "report_issue", "confidence": 0.9731},
        "entities": [
            {
                "entity": "phone",
                "start": 9,
                "end": 20,
                "value": "13908912345",
                "extractor": "RegexEntityExtractor",
            }
        ],
        "intent_ranking": [
            {"name": "report_issue", "confidence": 0.9731},
            {"name": "check_status", "confidence": 0.02},
            {"name": "find_staff", "confidence": 0.004},
            {"name": "greet", "confidence": 0.001},
            {"name": "thank", "confidence": 0.001},
            {"name": "deny", "confidence": 0.0009},
        ],
        "response_selector": {},
    }


@pytest.fixture
async def fake_rasa(aiohttp_server: AiohttpServer) -> TestServer:
    requests: list[dict[str, Any]] = []
    state = {"status": 200}

    async def parse(request: web.Request) -> web.Response:
        body = await request.json()
        requests.append(body)
        if state["status"] != 200:
            return web.Response(status=state["status"], text="boom")
        return web.json_response(rasa_reply(body["text"]))

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    server: TestServer = await aiohttp_server(app)
    server.app["requests"] = requests
    server.app["state"] = state
    return server


async def test_rasa_reply_is_mapped_and_completed_locally(
    fake_rasa: TestServer, engine: EmbeddedEngine
) -> None:
    rasa = RasaEngine(str(fake_rasa.make_url("/")), timeout=2.0, fallback=engine)
    text = "电线掉下来了，电话13908912345，明天上午在家"
    try:
        parsed = await rasa.parse(text)
    finally:
        await rasa.close()
    assert fake_rasa.app["requests"] == [{"text": text}]
    assert parsed.intent.name == "report_issue"
    assert parsed.intent.confidence == pytest.approx(0.9731)
    assert [i.name for i in parsed.intent_ranking] == [
        "report_issue",
        "check_status",
        "find_staff",
        "greet",
        "thank",
    ]
    assert parsed.language is Language.ZH
    assert parsed.hazard == "fallen_wire"
    assert parsed.category == "power"  # from the fallback's category classifier
    assert parsed.extras["engine"] == "rasa"
    kinds = {e.entity: e for e in parsed.entities}
    assert kinds["phone"].value == "13908912345"  # Rasa's own
    assert kinds["datetime"].value.startswith("20")  # the rule extractor fills the gap
    assert [e.start for e in parsed.entities] == sorted(e.start for e in parsed.entities)


async def test_server_errors_fall_back_and_log_once_per_outage(
    fake_rasa: TestServer, engine: EmbeddedEngine, caplog: pytest.LogCaptureFixture
) -> None:
    rasa = RasaEngine(str(fake_rasa.make_url("/")), timeout=2.0, fallback=engine)
    fake_rasa.app["state"]["status"] = 503
    try:
        with caplog.at_level(logging.INFO, logger="nlu.rasa_engine"):
            first = await rasa.parse("太感谢你们了")
            second = await rasa.parse("取消这个预约吧")
            assert rasa.in_outage
            fake_rasa.app["state"]["status"] = 200
            third = await rasa.parse("你好")
    finally:
        await rasa.close()
    assert first.extras["engine"] == "embedded"
    assert first.intent.name == "thank"
    assert second.intent.name == "cancel"
    assert third.extras["engine"] == "rasa"
    assert not rasa.in_outage
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert any("back" in r.getMessage() for r in caplog.records)


async def test_unreachable_rasa_falls_back_to_the_embedded_engine(
    engine: EmbeddedEngine, unused_tcp_port: int
) -> None:
    rasa = RasaEngine(f"http://127.0.0.1:{unused_tcp_port}", timeout=0.5, fallback=engine)
    try:
        parsed = await rasa.parse("我们小区的暖气到现在还是冰凉的")
    finally:
        await rasa.close()
    assert parsed.extras["engine"] == "embedded"
    assert parsed.intent.name == "report_issue"
    assert parsed.category == "heating"


async def test_slow_rasa_times_out_into_the_fallback(
    aiohttp_server: AiohttpServer, engine: EmbeddedEngine
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response(rasa_reply("x"))

    app = web.Application()
    app.router.add_post("/model/parse", slow)
    server = await aiohttp_server(app)
    rasa = RasaEngine(str(server.make_url("")), timeout=0.2, fallback=engine)
    try:
        parsed = await rasa.parse("你能帮我做什么")
    finally:
        await rasa.close()
    assert parsed.extras["engine"] == "embedded"
    assert parsed.intent.name == "help"


async def test_session_is_created_lazily_and_closed(
    fake_rasa: TestServer, engine: EmbeddedEngine
) -> None:
    rasa = RasaEngine(str(fake_rasa.make_url("/")), timeout=2.0, fallback=engine)
    assert rasa._session is None
    await rasa.parse("你好")
    session = rasa._session
    assert session is not None
    assert not session.closed
    await rasa.close()
    assert session.closed
    await rasa.close()  # closing twice is fine
