"""The real Rasa 3.6 server: `scripts/rasa.sh ci` trains it, serves it and runs these tests
with MINQING_TEST_RASA_URL set (CI always; locally with `RASA=1 make test`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from nlu.embedded import EmbeddedEngine
from nlu.rasa_engine import RasaEngine

RASA_URL = os.environ.get("MINQING_TEST_RASA_URL")
CASES = Path(__file__).parent / "rasa_live_cases.yml"
MIN_SHARE = 0.8
"""Of sentences written for these tests (never in the training data), at least this share must
come back right: a trained DIET model is not perfect, but a broken one scores near chance."""

pytestmark = [
    pytest.mark.rasa_live,
    pytest.mark.skipif(not RASA_URL, reason="MINQING_TEST_RASA_URL not set (scripts/rasa.sh ci)"),
]


def cases() -> dict[str, list[dict[str, str]]]:
    loaded: dict[str, list[dict[str, str]]] = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
async def rasa(engine: EmbeddedEngine) -> AsyncIterator[RasaEngine]:
    assert RASA_URL is not None
    rasa = RasaEngine(RASA_URL, timeout=10.0, fallback=engine)
    yield rasa
    await rasa.close()


@pytest.mark.parametrize("language", ["zh", "bo"])
async def test_the_live_server_understands_new_sentences(rasa: RasaEngine, language: str) -> None:
    sentences = cases()[language]
    right_intent = right_category = reports = 0
    for case in sentences:
        parsed = await rasa.parse(case["text"])
        assert not rasa.in_outage, "the Rasa server did not answer: the fallback did"
        assert parsed.language.value in (language, "mixed")
        right_intent += parsed.intent.name == case["intent"]
        if "category" in case:
            reports += 1
            right_category += parsed.category == case["category"]
    assert right_intent >= MIN_SHARE * len(sentences), (right_intent, len(sentences))
    assert right_category >= MIN_SHARE * reports, (right_category, reports)


async def test_entities_come_back_with_spans(rasa: RasaEngine) -> None:
    text = "我的电话是13908912345，门口路灯不亮了"
    parsed = await rasa.parse(text)
    assert not rasa.in_outage
    phones = [e for e in parsed.entities if e.entity == "phone"]
    assert [(p.value, text[p.start : p.end]) for p in phones] == [("13908912345",) * 2]
