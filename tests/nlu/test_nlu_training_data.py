from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from nlu.lexicon import DEFAULT_DATA_DIR
from nlu.parsed import CATEGORIES, INTENTS, Entity
from nlu.training_data import (
    TrainingExample,
    load_training_data,
    split_examples,
    stable_fraction,
    strip_annotations,
)

SAMPLE = """\
version: "3.1"
nlu:
- intent: book_eldercare
  examples: |
    - 帮我订一下[明天中午](datetime)的[助餐]{"entity": "service", "value": "meal"}
    - 电话[13908912345](phone)，约[家政](service:housekeeping)
    - 我想预约上门服务
- intent: report_issue
  metadata:
    category: streetlight
  examples: |
    - 路灯坏了
- synonym: meal
  examples: |
    - 送饭
"""

SAMPLE_BO = """\
version: "3.1"
nlu:
- intent: book_eldercare
  examples: |
    - [སང་ཉིན་](datetime)[ཁ་ལག་སྐྱེལ་]{"entity": "service", "value": "meal"}རོགས།
"""


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    (tmp_path / "zh").mkdir()
    (tmp_path / "bo").mkdir()
    (tmp_path / "zh" / "sample.yml").write_text(SAMPLE, encoding="utf-8")
    (tmp_path / "bo" / "sample.yml").write_text(SAMPLE_BO, encoding="utf-8")
    (tmp_path / "zh" / "README.md").write_text("not data", encoding="utf-8")
    return tmp_path


def test_annotations_are_stripped_and_spans_point_into_the_plain_text() -> None:
    text, found = strip_annotations(
        '帮我订一下[明天中午](datetime)的[助餐]{"entity": "service", "value": "meal"}'
    )
    assert text == "帮我订一下明天中午的助餐"
    entities = [a.entity for a in found]
    assert entities == [Entity("datetime", "明天中午", 5, 9), Entity("service", "meal", 10, 12)]
    assert [text[e.start : e.end] for e in entities] == ["明天中午", "助餐"]
    assert [a.explicit_value for a in found] == [False, True]


def test_rasa_synonym_shorthand_sets_the_value() -> None:
    text, found = strip_annotations("约[家政](service:housekeeping)")
    assert text == "约家政"
    assert found[0].entity == Entity("service", "housekeeping", 1, 3)


def test_loader_reads_intents_categories_languages_and_skips_other_blocks(
    sample_dir: Path,
) -> None:
    examples = load_training_data(sample_dir)
    assert [(e.language_dir, e.intent, e.category) for e in examples] == [
        ("zh", "book_eldercare", None),
        ("zh", "book_eldercare", None),
        ("zh", "book_eldercare", None),
        ("zh", "report_issue", "streetlight"),
        ("bo", "book_eldercare", None),
    ]
    phone_example = next(e for e in examples if "13908912345" in e.text)
    assert phone_example.text == "电话13908912345，约家政"
    assert [(e.entity, phone_example.text[e.start : e.end]) for e in phone_example.entities] == [
        ("phone", "13908912345"),
        ("service", "家政"),
    ]
    bo = next(e for e in examples if e.language_dir == "bo")
    assert bo.text == "སང་ཉིན་ཁ་ལག་སྐྱེལ་རོགས།"
    assert [bo.text[e.start : e.end] for e in bo.entities] == ["སང་ཉིན་", "ཁ་ལག་སྐྱེལ་"]


def test_real_data_uses_only_the_contract_intents_and_categories() -> None:
    examples = load_training_data(DEFAULT_DATA_DIR)
    assert examples, "no training data under data/nlu"
    assert {e.intent for e in examples} <= set(INTENTS)
    assert {e.category for e in examples if e.category} <= set(CATEGORIES)
    assert all(e.category for e in examples if e.intent == "report_issue")
    assert all(e.category is None for e in examples if e.intent != "report_issue")


def test_real_annotation_spans_cover_their_text() -> None:
    for example in load_training_data(DEFAULT_DATA_DIR):
        for entity in example.entities:
            surface = example.text[entity.start : entity.end]
            assert surface, example
            assert surface == surface.strip() or example.language_dir == "bo", example
            assert "[" not in surface, example
            assert "]" not in surface, example
        assert "](" not in example.text, example
        assert "]{" not in example.text, example


def _examples(n: int) -> list[TrainingExample]:
    intents = ["greet", "thank", "report_issue"]
    return [
        TrainingExample(
            f"example {i}",
            intents[i % 3],
            "power" if intents[i % 3] == "report_issue" else None,
            "zh" if i % 2 else "bo",
        )
        for i in range(n)
    ]


def test_split_is_deterministic_disjoint_and_about_a_fifth() -> None:
    examples = load_training_data(DEFAULT_DATA_DIR)
    train, heldout = split_examples(examples)
    again_train, again_heldout = split_examples(list(reversed(examples)))
    assert {e.text for e in heldout} == {e.text for e in again_heldout}
    assert {e.text for e in train} == {e.text for e in again_train}
    assert not {e.text for e in train} & {e.text for e in heldout}
    assert len(train) + len(heldout) == len(examples)
    assert 0.12 < len(heldout) / len(examples) < 0.3


def test_split_puts_every_intent_of_every_language_on_both_sides() -> None:
    examples = load_training_data(DEFAULT_DATA_DIR)
    train, heldout = split_examples(examples)
    groups = Counter((e.language_dir, e.intent) for e in examples)
    for (language, intent), count in groups.items():
        if count >= 2:
            assert any(e.language_dir == language and e.intent == intent for e in train)
            assert any(e.language_dir == language and e.intent == intent for e in heldout)


def test_split_depends_on_text_only_with_a_machine_independent_hash() -> None:
    # sha256-based: these numbers are the same on every machine and Python version
    assert stable_fraction("路灯坏了") == stable_fraction(" 路灯坏了 ")
    assert 0.0 <= stable_fraction("路灯坏了") < 1.0
    assert round(stable_fraction("abc"), 6) == 0.728395
    train, heldout = split_examples(_examples(60))
    assert len(train) + len(heldout) == 60
    assert (
        {e.intent for e in train}
        == {e.intent for e in heldout}
        == {
            "greet",
            "thank",
            "report_issue",
        }
    )
