from __future__ import annotations

import pytest

from nlu.hazards import detect_hazard


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("吉崩岗社区3号院门口有根电线掉下来了，离地面很低", "fallen_wire"),
        ("电线掉地上了 有个小孩差点踩上去", "fallen_wire"),
        ("嘎玛贡桑那边一根电线被大风刮断了 耷拉在路边", "fallen_wire"),
        ("电表箱被雨淋了一直漏电，摸铁门都麻手", "fallen_wire"),
        ("纳金路有根电线杆倒了", "fallen_wire"),
        ("楼下配电箱冒火花", "fallen_wire"),
        ("电箱着火了快来人啊", "fire"),
        ("楼道里在冒烟，好像哪家起火了", "fire"),
        ("隔壁失火了", "fire"),
        ("厨房里闻到一股煤气味", "gas_leak"),
        ("煤气罐好像漏气了", "gas_leak"),
        ("单元里燃气泄漏了", "gas_leak"),
        ("下大雨家里被淹了", "flood"),
        ("山洪下来了", "flood"),
        ("ཁྱིམ་མདུན་ལ་གློག་སྐུད་ས་ལ་ལྷུང་འདུག", "fallen_wire"),
        ("ལམ་ཁར་གློག་སྐུད་ཆད་འདུག ཉེན་ཁ་ཆེན་པོ་འདུག", "fallen_wire"),
        ("གློག་ཀ་འགྱེལ་འདུག", "fallen_wire"),
        ("ཁང་པའི་ནང་ལ་མེ་ཤོར་འདུག མྱུར་དུ་ཤོག", "fire"),
        ("ཐབ་ཚང་ནང་ནས་དུ་བ་ཐོན་གྱི་འདུག", "fire"),
        ("རླངས་རྫས་ཕྱིར་འཛག་གི་འདུག", "gas_leak"),
        ("ཁང་པའི་ནང་ལ་རླངས་རྫས་ཀྱི་དྲི་མ་ཡོང་གི་འདུག", "gas_leak"),
        ("ཆུ་ལོག་བྱུང་སོང་།", "flood"),
        # mixed: a Tibetan phrase inside Chinese
        ("阿妈啦家 མེ་ཤོར་འདུག 快来", "fire"),
    ],
)
def test_hazards_in_both_languages(text: str, kind: str) -> None:
    assert detect_hazard(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "路灯坏了",
        "停电了",
        "没有漏电，就是灯不亮",
        "小心触电",
        "垃圾好几天没人清运",
        "ལམ་སྒྲོན་ཆག་འདུག",
        "ཁྱིམ་ལ་མེ་ཤོར་མེད། ཆུ་མི་འདུག",
        "གློག་ཆད་འདུག",
    ],
)
def test_no_hazard_in_ordinary_or_negated_reports(text: str) -> None:
    assert detect_hazard(text) is None


def test_fire_outranks_a_fallen_wire_when_both_are_named() -> None:
    assert detect_hazard("电线掉下来了，还着火了") == "fire"


def test_word_pairs_must_stay_in_one_clause() -> None:
    assert detect_hazard("电线是新拉的。掉了一个井盖") is None
