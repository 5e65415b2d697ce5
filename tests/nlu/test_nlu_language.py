from __future__ import annotations

import pytest

from nlu.language import detect_language, script_counts
from nlu.parsed import Language


@pytest.mark.parametrize(
    "text",
    ["路灯坏了", "我们楼下的路灯坏了好几天了", "城关区吉崩岗社区3号院停水了", "谢谢！", "好"],
)
def test_chinese_text_is_zh(text: str) -> None:
    assert detect_language(text) is Language.ZH


@pytest.mark.parametrize(
    "text",
    [
        "ལམ་སྒྲོན་ཆག་འདུག",
        "བཀྲ་ཤིས་བདེ་ལེགས།",
        "ང་ཚོའི་ཁྱིམ་ལ་ཆུ་མི་འདུག ཁ་པར་ ༡༣༨༩༩༩༩༡༢༣༤",
        # one Han place name inside a long Tibetan sentence stays Tibetan
        "ང་ཚོ་城关区ནས་ཡིན། ལམ་སྒྲོན་ཆག་ནས་ཉིན་མང་པོ་སོང་། མྱུར་དུ་བཟོ་བཅོས་གནང་རོགས།",
    ],
)
def test_tibetan_text_is_bo(text: str) -> None:
    assert detect_language(text) is Language.BO


@pytest.mark.parametrize(
    "text",
    [
        "བཀྲ་ཤིས་བདེ་ལེགས 你好 路灯坏了",
        "阿妈啦 ཐུགས་རྗེ་ཆེ 谢谢",
        "ལམ་སྒྲོན་ཆག་འདུག 路灯坏了",
    ],
)
def test_substantial_use_of_both_scripts_is_mixed(text: str) -> None:
    assert detect_language(text) is Language.MIXED


@pytest.mark.parametrize("text", ["", "   ", "13908912345", "👍👍", "ok!", "༡༢༣", "。。。", "?!"])
def test_text_without_han_or_tibetan_letters_is_unknown(text: str) -> None:
    assert detect_language(text) is Language.UNKNOWN


def test_tibetan_is_counted_in_syllables_not_code_points() -> None:
    # བསྒྲུབས is one syllable of six code points
    assert script_counts("བསྒྲུབས་路") == (1, 1)
    assert script_counts("ང་ཚོ། ༡༢") == (2, 0)
