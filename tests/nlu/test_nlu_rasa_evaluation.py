"""Evaluating a Rasa server over HTTP next to the embedded engine, and the report.

The Rasa server is a small aiohttp fake of ``/status`` and ``/model/parse`` that answers
from the gold labels, with known mistakes, so every score has an exact expected value.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nlu.cli import evaluate, evaluate_both, evaluate_rasa_engine, format_markdown, write_section
from nlu.embedded import EmbeddedEngine
from nlu.lexicon import DEFAULT_LEXICON_DIR
from nlu.rasa_engine import RasaEngine, RasaUnavailableError
from nlu.training_data import TrainingExample, load_training_data, split_examples

AiohttpServer = Any  # pytest-aiohttp's factory fixture

ZH = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - 你好
    - 您好
    - 扎西德勒
    - 你好啊
    - 早上好
    - 在吗你好
- intent: thank
  examples: |
    - 谢谢
    - 太感谢了
    - 多谢你们
    - 谢谢啦
    - 辛苦了谢谢
- intent: report_issue
  metadata:
    category: streetlight
  examples: |
    - 路灯坏了
    - 路灯不亮
    - 楼下路灯一闪一闪
    - 巷子里的路灯不亮了
    - 路灯白天也亮着
- intent: report_issue
  metadata:
    category: water
  examples: |
    - 停水了
    - 水管爆了
    - 自来水发黄
    - 家里没水了
    - 水压太小了
- intent: check_status
  examples: |
    - 单号[20261122-0007](ticket)办得怎么样了
    - 我的诉求[20261120-0012](ticket)有人管吗
    - 查一下[20261118-0003](ticket)
    - [20261101-0042](ticket)到哪一步了
    - 帮我看看[20261030-0005](ticket)的进度
"""
BO = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - བཀྲ་ཤིས་བདེ་ལེགས།
    - བཀྲ་ཤིས་བདེ་ལེགས་ལགས།
    - ཁྱེད་རང་སྐུ་གཟུགས་བདེ་པོ་ཡིན་པས།
    - བཀྲ་ཤིས་བདེ་ལེགས། ཨ་ཅག
- intent: report_issue
  metadata:
    category: streetlight
  examples: |
    - ལམ་སྒྲོན་ཆག་འདུག
    - ལམ་སྒྲོན་འབར་གྱི་མི་འདུག
    - ང་ཚོའི་ལམ་ཁའི་ལམ་སྒྲོན་ཆག་འདུག
- intent: report_issue
  metadata:
    category: water
  examples: |
    - ཆུ་མི་འདུག
    - ཆུ་དུང་ཆག་འདུག
    - ཁྱིམ་ལ་ཆུ་ཡོང་གི་མི་འདུག
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for language, text in (("zh", ZH), ("bo", BO)):
        (data / language).mkdir(parents=True)
        (data / language / "small.yml").write_text(text, encoding="utf-8")
        (data / language / "README.md").write_text("# not training data\n", encoding="utf-8")
    shutil.copytree(DEFAULT_LEXICON_DIR, data / "lexicon")
    return data


def heldout_of(data_dir: Path) -> list[TrainingExample]:
    return split_examples(load_training_data(data_dir))[1]


class FakeRasa:
    """Answers like Rasa 3.6 with our CategoryClassifier, from the gold labels: the intent
    of ``wrong_intent`` texts is ``out_of_scope``, the category of ``wrong_category`` texts
    is ``other``; entities are the gold ones."""

    def __init__(
        self,
        examples: list[TrainingExample],
        model_file: str = "models/minqing-nlu-train-0123456789ab.tar.gz",
        with_category: bool = True,
    ) -> None:
        self.gold = {e.text: e for e in examples}
        self.model_file = model_file
        self.with_category = with_category
        self.wrong_intent: set[str] = set()
        self.wrong_category: set[str] = set()
        self.status_code = 200
        self.parses = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/status", self.status)
        app.router.add_post("/model/parse", self.parse)
        return app

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"model_file": self.model_file, "model_id": "abc", "num_active_training_jobs": 0}
        )

    async def parse(self, request: web.Request) -> web.Response:
        self.parses += 1
        if self.status_code != 200:
            return web.Response(status=self.status_code)
        text = (await request.json())["text"]
        gold = self.gold[text]
        intent = "out_of_scope" if text in self.wrong_intent else gold.intent
        reply: dict[str, Any] = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "intent_ranking": [{"name": intent, "confidence": 0.9}],
            "entities": [
                {"entity": g.entity, "value": g.value, "start": g.start, "end": g.end}
                for g in gold.entities
            ],
        }
        if self.with_category:
            category = "other" if text in self.wrong_category else (gold.category or "other")
            reply["category"] = {"name": category, "confidence": 0.8}
        return web.json_response(reply)


async def start(aiohttp_server: AiohttpServer, fake: FakeRasa) -> RasaEngine:
    server: TestServer = await aiohttp_server(fake.app())
    return RasaEngine(str(server.make_url("/")), timeout=5.0, fallback=_NoFallback())


class _NoFallback:
    async def parse(self, text: str) -> Any:
        raise AssertionError("an evaluation must never score the fallback")


async def test_rasa_scores_follow_its_answers_exactly(
    aiohttp_server: AiohttpServer, data_dir: Path
) -> None:
    heldout = heldout_of(data_dir)
    fake = FakeRasa(heldout)
    zh = [e for e in heldout if e.language_dir == "zh"]
    reports = [e for e in heldout if e.intent == "report_issue"]
    fake.wrong_intent = {zh[0].text}
    fake.wrong_category = {reports[0].text}
    engine = await start(aiohttp_server, fake)
    try:
        result = await evaluate_rasa_engine(engine, heldout, concurrency=3)
    finally:
        await engine.close()
    zh_scores = result["languages"]["zh"]
    assert zh_scores["examples"] == len(zh)
    assert zh_scores["intent_accuracy"] == round((len(zh) - 1) / len(zh), 4)
    assert result["languages"]["bo"]["intent_accuracy"] == 1.0
    overall = result["overall"]
    assert overall["category_examples"] == len(reports)
    assert overall["category_accuracy"] == round((len(reports) - 1) / len(reports), 4)
    assert result["category_source"] == "rasa"
    n_tickets = sum(len(e.entities) for e in heldout)
    echoed = overall["model_entities"]["per_entity"]["ticket"]  # the fake's own entities
    assert echoed == {"precision": 1.0, "recall": 1.0, "gold": n_tickets, "predicted": n_tickets}
    merged = overall["entities"]["per_entity"]["ticket"]  # the rule extractor's, as the bot
    assert merged["gold"] == n_tickets
    assert merged["recall"] == 1.0
    labels = zh_scores["confusion"]["labels"]
    matrix = zh_scores["confusion"]["matrix"]
    assert matrix[labels.index(zh[0].intent)][labels.index("out_of_scope")] == 1
    assert 0 < overall["http_ms"]["p50"] <= overall["latency_ms"]["p50"]
    assert overall["latency_ms"]["p50"] <= overall["latency_ms"]["p99"]
    assert result["model"]["artefact"] == "minqing-nlu-train-0123456789ab.tar.gz"
    # warm-up, then each held-out text once in order, then once more for the throughput
    assert fake.parses == min(20, len(heldout)) + 2 * len(heldout)
    assert result["throughput"]["parses"] == len(heldout)
    assert result["throughput"]["per_second"] > 0


async def test_without_a_rasa_category_the_embedded_classifier_answers(
    aiohttp_server: AiohttpServer, data_dir: Path, engine: EmbeddedEngine
) -> None:
    heldout = heldout_of(data_dir)
    engine_rasa = await start(aiohttp_server, FakeRasa(heldout, with_category=False))
    try:
        result = await evaluate_rasa_engine(engine_rasa, heldout, category_fallback=engine)
    finally:
        await engine_rasa.close()
    assert result["category_source"] == "embedded"
    reports = [e for e in heldout if e.intent == "report_issue"]
    right = sum(engine.classify_category(e.text)[0] == e.category for e in reports)
    assert result["overall"]["category_accuracy"] == round(right / len(reports), 4)
    assert right >= len(reports) - 1  # streetlights and water: the real model knows them


async def test_a_model_trained_on_all_data_is_refused(
    aiohttp_server: AiohttpServer, data_dir: Path
) -> None:
    heldout = heldout_of(data_dir)
    fake = FakeRasa(heldout, model_file="models/minqing-nlu-all-0123456789ab.tar.gz")
    engine = await start(aiohttp_server, fake)
    try:
        with pytest.raises(ValueError, match="not a model trained on the train split"):
            await evaluate_rasa_engine(engine, heldout)
    finally:
        await engine.close()
    assert fake.parses == 0


async def test_a_failing_server_fails_the_evaluation_instead_of_scoring_the_fallback(
    aiohttp_server: AiohttpServer, data_dir: Path
) -> None:
    heldout = heldout_of(data_dir)
    fake = FakeRasa(heldout)
    fake.status_code = 503
    engine = await start(aiohttp_server, fake)
    try:
        with pytest.raises(RasaUnavailableError, match="503"):
            await evaluate_rasa_engine(engine, heldout)
    finally:
        await engine.close()


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """``app`` on 127.0.0.1 in a thread of its own (for the synchronous entry point)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_both_engines_side_by_side_in_one_report(data_dir: Path, tmp_path: Path) -> None:
    heldout = heldout_of(data_dir)
    fake = FakeRasa(heldout)
    fake.wrong_intent = {heldout[0].text}
    with serve_in_thread(fake.app()) as url:
        results = evaluate_both(
            data_dir,
            tmp_path / "models",
            url,
            facts={"install": "2.7G", "train_seconds": 421, "startup_seconds": 35},
        )
    embedded, rasa = results["engines"]["embedded"], results["engines"]["rasa"]
    assert embedded["model"]["artefact"].startswith("embedded-train-")
    assert embedded["overall"]["examples"] == rasa["overall"]["examples"] == len(heldout)
    assert rasa["overall"]["intent_accuracy"] == round((len(heldout) - 1) / len(heldout), 4)
    assert rasa["server"]["train_seconds"] == 421
    # the embedded column is the same as the embedded-only evaluation's
    alone = evaluate(data_dir, tmp_path / "models")
    assert embedded["overall"]["intent_accuracy"] == alone["overall"]["intent_accuracy"]

    markdown = format_markdown(results)
    lines = markdown.splitlines()
    assert lines[0] == "## NLU: embedded and Rasa side by side"
    header = next(line for line in lines if line.startswith("| metric |"))
    assert header == (
        "| metric | zh embedded | zh Rasa | bo embedded | bo Rasa | "
        "overall embedded | overall Rasa |"
    )
    accuracy = next(line for line in lines if line.startswith("| intent accuracy |"))
    expected = f"{100 * rasa['overall']['intent_accuracy']:.1f} %"
    assert accuracy.rstrip(" |").endswith(expected)
    for needle in (
        "| intent macro-F1 |",
        "| category accuracy (report_issue) |",
        "| entity precision |",
        "| entity recall |",
        "| parse latency p50 |",
        "| parse latency p99 |",
        "### Rasa server on this machine",
        "| training on the train split (`rasa train nlu`) | 421 s |",
        "| start-up until `/status` answers (`rasa run --enable-api`) | 35 s |",
        "parses/s |",
        "### Intent confusion (zh, embedded;",
        "### Intent confusion (bo, Rasa;",
        "category from Rasa itself (the `CategoryClassifier`",
        "| entity | embedded P | embedded R | Rasa P | Rasa R | DIET alone P | DIET alone R |",
    ):
        assert needle in markdown, needle
    assert "- Rasa: zh intent ≥ 95.0 %:" in markdown  # targets reported, not enforced


def test_write_section_replaces_only_the_nlu_section(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "benchmarks.md"
    assert not path.exists()
    write_section(path, "## NLU (embedded engine)\n\nfirst\n")
    assert (
        path.read_text(encoding="utf-8") == "# Benchmarks\n\n## NLU (embedded engine)\n\nfirst\n"
    )

    path.write_text(
        "# Benchmarks\n\nintro\n\n## Gateway\n\n| a | b |\n\n"
        "## NLU (embedded engine)\n\nold\n\n### Intent confusion (zh)\n\nold table\n\n"
        "## Voice\n\nasr numbers\n",
        encoding="utf-8",
    )
    write_section(path, "## NLU: embedded and Rasa side by side\n\nnew\n")
    assert path.read_text(encoding="utf-8") == (
        "# Benchmarks\n\nintro\n\n## Gateway\n\n| a | b |\n\n"
        "## NLU: embedded and Rasa side by side\n\nnew\n\n"
        "## Voice\n\nasr numbers\n"
    )

    other = tmp_path / "other.md"
    other.write_text("# Benchmarks\n\n## Gateway\n\nfast\n", encoding="utf-8")
    write_section(other, "## NLU (embedded engine)\n\nx\n")
    assert other.read_text(encoding="utf-8") == (
        "# Benchmarks\n\n## Gateway\n\nfast\n\n## NLU (embedded engine)\n\nx\n"
    )
