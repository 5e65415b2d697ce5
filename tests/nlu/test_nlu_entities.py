from __future__ import annotations

from datetime import datetime

import pytest

from nlu.entities import (
    extract_entities,
    extract_phones,
    extract_policy_topics,
    extract_services,
    extract_tickets,
)
from nlu.parsed import Entity


def only(entities: list[Entity] | tuple[Entity, ...], text: str) -> tuple[str, str]:
    """(value, surface) of the single entity found."""
    assert len(entities) == 1, entities
    e = entities[0]
    return e.value, text[e.start : e.end]


# --- phone --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "surface"),
    [
        ("我的电话13908912345", "13908912345", "13908912345"),
        ("电话是 139 0891 5566 谢谢", "13908915566", "139 0891 5566"),
        ("联系方式：189-0891-2233", "18908912233", "189-0891-2233"),
        ("手机１３６３８９０１２３４", "13638901234", "１３６３８９０１２３４"),
        ("座机0891-6321234，白天有人", "0891-6321234", "0891-6321234"),
        ("日喀则的座机 0892 8823456", "0892-8823456", "0892 8823456"),
        ("办公室电话089163212345", "0891-63212345", "089163212345"),
        ("我的电话是一三八九九零一二三四五", "13899012345", "一三八九九零一二三四五"),
        ("号码 幺三九 零八九幺 五五六六", "13908915566", "幺三九 零八九幺 五五六六"),
        ("嗯 一八零 嗯 八九零一 那个 两两三三", "18089012233", "一八零 嗯 八九零一 那个 两两三三"),
        ("ཁ་པར་ ༡༣༨༩༩༩༩༡༢༣༤ ལ་གནང་རོགས།", "13899991234", "༡༣༨༩༩༩༩༡༢༣༤"),
        ("ཁ་པར་ ༡༣༨ ༩༩༩༩ ༡༢༣༤", "13899991234", "༡༣༨ ༩༩༩༩ ༡༢༣༤"),
        (
            "ངའི་ཁ་པར་གཅིག་གསུམ་བརྒྱད་དགུ་དགུ་དགུ་དགུ་གཅིག་གཉིས་གསུམ་བཞི་ཡིན།",
            "13899991234",
            "གཅིག་གསུམ་བརྒྱད་དགུ་དགུ་དགུ་དགུ་གཅིག་གཉིས་གསུམ་བཞི",
        ),
        ("ཁ་པར་ 13908912345", "13908912345", "13908912345"),
    ],
)
def test_phone_numbers_typed_or_dictated(text: str, value: str, surface: str) -> None:
    assert only(extract_phones(text), text) == (value, surface)


@pytest.mark.parametrize(
    "text",
    [
        "我住3号楼2单元",
        "一共两三个人",
        "12345678901",  # 11 digits but not a mobile prefix
        "1390891556",  # one digit short
        "139089155667",  # one digit too many
        "工单20261122-0001",
        "今年交了一千二百三十块",
    ],
)
def test_things_that_are_not_phone_numbers(text: str) -> None:
    assert extract_phones(text) == []


def test_two_phone_numbers_in_one_message() -> None:
    text = "我13908912345，我老伴18089012233"
    assert [e.value for e in extract_phones(text)] == ["13908912345", "18089012233"]


# --- ticket -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "surface"),
    [
        ("我的工单20261120-0003办到哪了", "20261120-0003", "20261120-0003"),
        ("受理号20261118005", "20261118-0005", "20261118005"),
        ("单号 202611210012", "20261121-0012", "202611210012"),
        ("编号20261119－0044", "20261119-0044", "20261119－0044"),
        ("ལས་ཀའི་ཨང་གྲངས་ ༢༠༢༦༡༡༢༢-༠༠༠༧", "20261122-0007", "༢༠༢༦༡༡༢༢-༠༠༠༧"),
    ],
)
def test_ticket_numbers_are_normalised(text: str, value: str, surface: str) -> None:
    assert only(extract_tickets(text), text) == (value, surface)


@pytest.mark.parametrize("text", ["0007号", "20261322-0001", "20261100-0001", "13908912345"])
def test_partial_or_impossible_ticket_numbers_are_ignored(text: str) -> None:
    assert extract_tickets(text) == []


def test_a_ticket_is_not_also_read_as_a_phone(now: datetime) -> None:
    entities = extract_entities("工单20261118005，电话13908912345", now)
    assert [(e.entity, e.value) for e in entities] == [
        ("ticket", "20261118-0005"),
        ("phone", "13908912345"),
    ]


# --- services and topics ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "surface"),
    [
        ("我想给我妈预约送餐", "meal", "送餐"),
        ("腿脚不方便，能不能上门送餐", "meal", "上门送餐"),
        ("想去老年食堂吃饭", "meal", "老年食堂"),
        ("约个家政来打扫", "housekeeping", "家政"),
        ("预约下周的保洁", "housekeeping", "保洁"),
        ("我老伴瘫在床上，想预约上门护理", "nursing", "上门护理"),
        ("能不能派人来给我妈助浴", "nursing", "助浴"),
        ("能不能来家里给我爸量血压", "health_check", "量血压"),
        ("老人去不了医院，能安排上门体检吗", "health_check", "上门体检"),
        ("ང་ཚོའི་ཨ་མ་ལགས་ལ་ཁ་ལག་སྐྱེལ་རོགས།", "meal", "ཁ་ལག་སྐྱེལ"),
        ("ཨ་མ་ལགས་ལ་ཁྲག་ཤེད་ཚད་འཇལ་དགོས།", "health_check", "ཁྲག་ཤེད་ཚད་འཇལ"),
        ("ཨ་ཕ་ལགས་ལ་ནད་གཡོག་དགོས།", "nursing", "ནད་གཡོག"),
    ],
)
def test_services_map_to_canonical_names(text: str, value: str, surface: str) -> None:
    assert only(extract_services(text), text) == (value, surface)


@pytest.mark.parametrize(
    ("text", "value", "surface"),
    [
        ("高龄津贴怎么申请", "elderly_allowance", "高龄津贴"),
        ("卧床老人怎么做高龄津贴资格认证", "elderly_allowance", "高龄津贴资格认证"),
        ("老年人健康补贴是什么", "elderly_health", "老年人健康补贴"),
        ("城乡居民医保今年交多少", "medical_insurance", "城乡居民医保"),
        ("在乡退伍军人每月补助多少", "veteran", "在乡退伍军人"),
        ("房产证丢了能补吗", "property_certificate", "房产证"),
        ("残疾证在哪里办", "disability", "残疾证"),
        ("家里没收入能吃低保吗", "subsistence", "低保"),
        ("སྨན་བཅོས་ཉེན་སྲུང་ཇི་ལྟར་ཉོ་དགོས།", "medical_insurance", "སྨན་བཅོས་ཉེན་སྲུང"),
    ],
)
def test_policy_topics_map_to_canonical_names(text: str, value: str, surface: str) -> None:
    assert only(extract_policy_topics(text), text) == (value, surface)


def test_tibetan_synonyms_match_whole_syllables_only() -> None:
    # ཟ་ཁང (canteen) must not be found inside another word's syllables
    assert extract_services("ཟ་ཁངས") == []
    assert [e.value for e in extract_services("རྒན་གསོའི་ཟ་ཁང་ལ་འགྲོ")] == ["meal"]


def test_all_entities_come_back_in_text_order_with_original_spans(now: datetime) -> None:
    text = "预约明天上午十点的上门体检，电话一三八九九零一二三四五"
    entities = extract_entities(text, now)
    assert [e.entity for e in entities] == ["datetime", "service", "phone"]
    assert [text[e.start : e.end] for e in entities] == [
        "明天上午十点",
        "上门体检",
        "一三八九九零一二三四五",
    ]
    assert entities[0].value == "2026-11-23T10:00:00+08:00/2026-11-23T11:00:00+08:00"
