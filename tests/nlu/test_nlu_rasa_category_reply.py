"""RasaEngine with a model that predicts our category (the CategoryClassifier component),
and the ``minqing nlu train --engine rasa`` hand-off to scripts/rasa.sh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot import cli as bot_cli
from nlu import cli as nlu_cli
from nlu.embedded import EmbeddedEngine
from nlu.rasa_engine import RasaEngine

AiohttpServer = Any


def reply(text: str, intent: str, category: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.95},
        "intent_ranking": [{"name": intent, "confidence": 0.95}],
        "entities": [],
    }
    if category is not None:
        body["category"] = {"name": category, "confidence": 0.61}
    return body


async def parse_with(
    aiohttp_server: AiohttpServer, engine: EmbeddedEngine, body: dict[str, Any]
) -> Any:
    async def parse(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    server = await aiohttp_server(app)
    rasa = RasaEngine(str(server.make_url("/")), timeout=2.0, fallback=engine)
    try:
        return await rasa.parse(body["text"])
    finally:
        await rasa.close()


async def test_rasas_own_category_wins_over_the_fallback(
    aiohttp_server: AiohttpServer, engine: EmbeddedEngine
) -> None:
    text = "我们小区的暖气到现在还是冰凉的"
    assert engine.classify_category(text)[0] == "heating"
    # Rasa says "water" (wrongly): the point is whose answer is used
    parsed = await parse_with(aiohttp_server, engine, reply(text, "report_issue", "water"))
    assert parsed.category == "water"
    assert parsed.category_confidence == pytest.approx(0.61)
    assert parsed.extras["category_source"] == "rasa"
    assert parsed.extras["rasa_category"] == {"name": "water", "confidence": 0.61}


async def test_no_category_outside_report_issue_but_rasas_guess_is_kept(
    aiohttp_server: AiohttpServer, engine: EmbeddedEngine
) -> None:
    parsed = await parse_with(aiohttp_server, engine, reply("谢谢你们", "thank", "other"))
    assert parsed.category is None
    assert parsed.as_json()["category"] is None
    assert parsed.extras["rasa_category"]["name"] == "other"
    assert "category_source" not in parsed.extras


async def test_models_without_the_component_use_the_fallbacks_category(
    aiohttp_server: AiohttpServer, engine: EmbeddedEngine
) -> None:
    text = "我们小区的暖气到现在还是冰凉的"
    parsed = await parse_with(aiohttp_server, engine, reply(text, "report_issue", None))
    assert parsed.category == "heating"
    assert parsed.extras["category_source"] == "fallback"
    assert "rasa_category" not in parsed.extras


async def test_normalised_kinds_come_from_the_rules_learned_kinds_from_rasa(
    aiohttp_server: AiohttpServer, engine: EmbeddedEngine
) -> None:
    text = "帮我约明天上午的送饭，电话一三九零八九一二三四五"
    body = reply(text, "book_eldercare", None)
    body["entities"] = [  # what DIET answers: surface text, a too-short phone span
        {"entity": "datetime", "value": "明天上午", "start": 3, "end": 7},
        {"entity": "service", "value": "meal", "start": 8, "end": 10},
        {"entity": "phone", "value": "一三九零八九", "start": 13, "end": 19},
    ]
    parsed = await parse_with(aiohttp_server, engine, body)
    kinds = {e.entity: e for e in parsed.entities}
    assert kinds["service"].value == "meal"  # Rasa's (synonym-mapped) entity
    assert kinds["datetime"].value.startswith("20")  # an ISO interval from the rules
    assert "/" in kinds["datetime"].value
    assert kinds["phone"].value == "13908912345"  # spoken digits normalised by the rules
    assert [e.entity for e in parsed.entities].count("phone") == 1


def test_train_rasa_runs_the_script_with_the_split(tmp_path: Path) -> None:
    script = tmp_path / "rasa.sh"
    record = tmp_path / "args"
    script.write_text(f'echo "$@" > {record}\nexit 3\n', encoding="utf-8")
    assert nlu_cli.train_rasa("train", script=script) == 3
    assert record.read_text().split() == ["train", "--split", "train"]
    with pytest.raises(ValueError, match="unknown split"):
        nlu_cli.train_rasa("heldout", script=script)


def test_minqing_nlu_train_engine_rasa_hands_off_and_passes_failures_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def fake_train_rasa(split: str = "all") -> int:
        calls.append(split)
        return 0 if len(calls) == 1 else 2

    monkeypatch.setattr(nlu_cli, "train_rasa", fake_train_rasa)
    bot_cli.main(["nlu", "train", "--engine", "rasa", "--split", "train"])
    with pytest.raises(SystemExit) as failed:
        bot_cli.main(["nlu", "train", "--engine", "rasa"])
    assert failed.value.code == 2
    assert calls == ["train", "all"]
    assert nlu_cli.RASA_SCRIPT.exists()
