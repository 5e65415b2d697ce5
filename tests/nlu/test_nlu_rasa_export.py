"""Writing our training data back out as Rasa YAML (scripts/rasa.sh train stages it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from nlu.lexicon import DEFAULT_DATA_DIR
from nlu.parsed import Entity
from nlu.rasa_components.export import annotate, export, lexicon_blocks, main
from nlu.training_data import (
    TrainingExample,
    load_file,
    load_training_data,
    split_examples,
    strip_annotations,
)


def _key(e: TrainingExample) -> tuple[object, ...]:
    return (e.language_dir, e.text, e.intent, e.category, e.entities)


def _reload(out: Path) -> list[TrainingExample]:
    """What our own loader reads back from the exported files."""
    examples: list[TrainingExample] = []
    for language in ("zh", "bo"):
        path = out / f"{language}.yml"
        if path.exists():
            examples += load_file(path, language)
    return examples


@pytest.mark.parametrize("split", ["all", "train"])
def test_export_round_trips_examples_labels_and_entity_spans(tmp_path: Path, split: str) -> None:
    examples = load_training_data(DEFAULT_DATA_DIR)
    expected = examples if split == "all" else split_examples(examples)[0]
    counts = export(DEFAULT_DATA_DIR, tmp_path, split)
    reloaded = _reload(tmp_path)
    assert Counter(map(_key, reloaded)) == Counter(map(_key, expected))
    assert counts == {
        "zh": sum(e.language_dir == "zh" for e in expected),
        "bo": sum(e.language_dir == "bo" for e in expected),
    }
    assert any(e.entities for e in reloaded)
    assert {e.category for e in reloaded if e.intent == "report_issue"} >= {"water", "power"}


def test_train_split_leaves_every_heldout_text_out(tmp_path: Path) -> None:
    _, heldout = split_examples(load_training_data(DEFAULT_DATA_DIR))
    export(DEFAULT_DATA_DIR, tmp_path, "train")
    trained_texts = {e.text for e in _reload(tmp_path)}
    assert heldout
    assert not trained_texts & {e.text for e in heldout}


def test_only_yaml_is_staged_and_readmes_stay_out(tmp_path: Path) -> None:
    assert (DEFAULT_DATA_DIR / "zh" / "README.md").exists()
    export(DEFAULT_DATA_DIR, tmp_path, "all")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bo.yml", "lexicon.yml", "zh.yml"]
    for path in tmp_path.iterdir():
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert document["version"] == "3.1"
        assert isinstance(document["nlu"], list)


def test_report_issue_blocks_carry_the_category_as_intent_metadata(tmp_path: Path) -> None:
    export(DEFAULT_DATA_DIR, tmp_path, "all")
    blocks = yaml.safe_load((tmp_path / "zh.yml").read_text(encoding="utf-8"))["nlu"]
    reports = [b for b in blocks if b["intent"] == "report_issue"]
    assert len(reports) == len({b["metadata"]["category"] for b in reports}) >= 10
    assert all("metadata" not in b for b in blocks if b["intent"] != "report_issue")
    assert all(isinstance(b["examples"], str) for b in blocks)  # Rasa's `|` block form


def test_annotation_uses_the_short_form_only_when_the_value_is_the_text() -> None:
    example = TrainingExample(
        text="约明天上午的送餐，电话13908912345",
        intent="book_eldercare",
        category=None,
        language_dir="zh",
        entities=(
            Entity("datetime", "明天上午", 1, 5),
            Entity("service", "meal", 6, 8),
            Entity("phone", "13908912345", 11, 22),
        ),
    )
    line = annotate(example)
    assert line == (
        '约[明天上午](datetime)的[送餐]{"entity": "service", "value": "meal"}，'
        "电话[13908912345](phone)"
    )
    text, found = strip_annotations(line)
    assert text == example.text
    assert tuple(a.entity for a in found) == example.entities


def test_lexicon_becomes_lookup_tables_and_consistent_synonyms() -> None:
    blocks = lexicon_blocks(DEFAULT_DATA_DIR / "lexicon")
    lookups = {b["lookup"]: b["examples"] for b in blocks if "lookup" in b}
    assert "- 停电\n" in lookups["cue_cat_power"]
    assert "cue_int_greet" in lookups
    assert "cue_service" in lookups
    synonyms = [b for b in blocks if "synonym" in b]
    meal = next(b for b in synonyms if b["synonym"] == "meal")
    assert "- 送饭\n" in meal["examples"]
    surfaces = [line for b in synonyms for line in b["examples"].splitlines()]
    assert len(surfaces) == len(set(surfaces))  # one surface form, one value


def test_command_line_reports_the_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(DEFAULT_DATA_DIR), "--out", str(tmp_path), "--split", "train"]) == 0
    assert "split train" in capsys.readouterr().err
    assert (tmp_path / "zh.yml").exists()
