from __future__ import annotations

import subprocess
import sys

from nlu.tokenize import (
    TokenKind,
    ascii_digits,
    normalize_tibetan,
    syllable_string,
    tibetan_syllables,
    tokenize,
    words,
)


def test_jieba_keeps_lhasa_places_and_domain_words_whole() -> None:
    found = words("我住在城关区吉崩岗，想问网格员高龄津贴和城乡居民医保怎么办")
    for word in ("城关区", "吉崩岗", "网格员", "高龄津贴", "城乡居民医保"):
        assert word in found
    assert "嘎玛贡桑" in words("嘎玛贡桑那边停电了")
    assert "桑珠孜区" in words("桑珠孜区的产权证在哪办")
    assert "产权证" in words("桑珠孜区的产权证在哪办")


def test_token_spans_point_into_the_original_text() -> None:
    text = "纳金路，ལམ་སྒྲོན་ 坏了 123"
    for token in tokenize(text):
        assert text[token.start : token.end].replace("\u0f0c", "\u0f0b") == token.text or (
            token.kind is TokenKind.NUMBER
        )
    kinds = [t.kind for t in tokenize(text)]
    assert TokenKind.ZH in kinds
    assert TokenKind.BO in kinds
    assert TokenKind.NUMBER in kinds


def test_tibetan_is_split_into_tsheg_syllables_without_shad() -> None:
    assert [t.text for t in tibetan_syllables("བཀྲ་ཤིས་བདེ་ལེགས།")] == [
        "བཀྲ",
        "ཤིས",
        "བདེ",
        "ལེགས",
    ]
    assert words("ང་ཚོའི་ཁྱིམ། ཆུ་མི་འདུག") == ["ང", "ཚོའི", "ཁྱིམ", "ཆུ", "མི", "འདུག"]


def test_tibetan_normalisation_unifies_tsheg_and_strips_shad_and_spaces() -> None:
    assert normalize_tibetan("བཀྲ༌ཤིས་ བདེ་ལེགས། ") == "བཀྲ་ཤིས་བདེ་ལེགས"
    assert syllable_string("དེ༌རིང་།") == "དེ་རིང"


def test_mixed_text_uses_both_tokenizers() -> None:
    tokens = tokenize("阿妈啦 ཐུགས་རྗེ་ཆེ 谢谢")
    assert [t.text for t in tokens if t.kind is TokenKind.BO] == ["ཐུགས", "རྗེ", "ཆེ"]
    assert [t.text for t in tokens if t.kind is TokenKind.ZH][-1] == "谢谢"
    assert "".join(t.text for t in tokens if t.kind is TokenKind.ZH) == "阿妈啦谢谢"


def test_tibetan_and_full_width_digits_become_ascii_one_for_one() -> None:
    assert ascii_digits("༡༣༨ ０８９１") == "138 0891"
    assert len(ascii_digits("༡༣༨")) == 3


def test_jieba_initialises_without_printing_to_stdout() -> None:
    code = "from nlu.tokenize import words; words('城关区吉崩岗社区')"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout == ""
