"""The tokens the Rasa BilingualTokenizer hands to Rasa (its logic, without Rasa)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nlu.rasa_components.tokens import TokenSpan, rasa_tokens
from nlu.tokenize import tokenize

COMPONENTS = Path(__file__).resolve().parents[2] / "nlu" / "rasa_components"


@pytest.mark.parametrize(
    "text",
    [
        "我住在城关区吉崩岗，路灯坏了",
        "ང་ཚོའི་ལམ་ཁའི་ལམ་སྒྲོན་ཆག་འདུག།",
        "ཨ་མ་ལགས 家里停电了，整条巷子都黑了",
        "OK 好的 ཐུགས་རྗེ་ཆེ། 886",
    ],
)
def test_same_words_and_spans_as_the_embedded_engine(text: str) -> None:
    """Both engines must see the same words: Rasa's tokens are nlu.tokenize's."""
    ours = rasa_tokens(text)
    theirs = tokenize(text)
    assert [(t.start, t.end) for t in ours] == [(t.start, t.end) for t in theirs]
    assert [t.text for t in ours] == [t.text for t in theirs]


def test_jieba_user_dictionary_and_tibetan_syllables_are_used() -> None:
    texts = [t.text for t in rasa_tokens("嘎玛贡桑那边停电了 ལམ་སྒྲོན་ཆག་འདུག")]
    assert "嘎玛贡桑" in texts  # from data/nlu/lexicon/jieba_userdict.txt
    assert texts[-4:] == ["ལམ", "སྒྲོན", "ཆག", "འདུག"]


def test_phones_and_tickets_become_length_classes_but_keep_their_spans() -> None:
    text = "电话༡༣༩༠༨༩༡༢༣༤༥ 单号20261122-0007 三楼 886"
    tokens = rasa_tokens(text)
    by_text = {t.text: t for t in tokens}
    phone = by_text["<num:11>"]
    assert text[phone.start : phone.end] == "༡༣༩༠༨༩༡༢༣༤༥"
    assert "<num:8>" in by_text  # 20261122
    assert "0007" in by_text  # short numbers stay as they are
    assert "886" in by_text  # "bye-bye" is a word, not a phone


def test_text_without_words_is_one_token() -> None:
    assert rasa_tokens("  🙏🙏 ") == [TokenSpan("🙏🙏", 2, 4)]
    assert rasa_tokens("") == []
    assert rasa_tokens("   ") == []


def test_only_the_rasa_modules_import_rasa() -> None:
    """The product environment has no Rasa: the modules its tests import must not need it,
    and the components must not import nlu modules that pull in product-only packages."""
    for path in sorted(COMPONENTS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        uses_rasa = any(name.split(".")[0] == "rasa" for name in imported)
        assert uses_rasa == (path.stem in {"tokenizer", "category"}), path.name
        nlu_modules = {name for name in imported if name.startswith("nlu.")}
        assert nlu_modules <= {
            "nlu.lexicon",
            "nlu.tokenize",
            "nlu.parsed",
            "nlu.training_data",
            "nlu.rasa_components.tokens",
            "nlu.rasa_components.category_model",
        }, path.name
