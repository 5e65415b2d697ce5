"""Staff commands in Chinese and Tibetan parse to the same typed commands."""

from __future__ import annotations

import pytest

from actions.staff_command_parser import ParseError, StaffCommand, StaffCommandParser
from bot.settings import PROJECT_ROOT

PARSER = StaffCommandParser.load(PROJECT_ROOT / "data" / "dialogue" / "staff_commands.yml")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("接单 0007", StaffCommand("accept", None, 7)),
        ("接单0007", StaffCommand("accept", None, 7)),
        ("到场 20261122-0007", StaffCommand("on_site", "20261122", 7)),
        ("进度 0007 已派人拆除旧电线", StaffCommand("progress", None, 7, "已派人拆除旧电线")),
        ("办结 7 已整改完毕", StaffCommand("resolve", None, 7, "已整改完毕")),
        (
            "退单 0007 属于供电公司",
            StaffCommand("return", None, 7, "属于供电公司", "belongs_to_external_unit"),
        ),
        ("退单 0007 家里有人吵架", StaffCommand("return", None, 7, "家里有人吵架", "other")),
        ("升级 0007", StaffCommand("escalate", None, 7)),
        ("回复 0007 明天上午师傅上门", StaffCommand("reply", None, 7, "明天上午师傅上门")),
        ("查询 0007", StaffCommand("show", None, 7)),
        ("我的", StaffCommand("mine")),
        ("ལས་འགན་ལེན ༠༠༠༧", StaffCommand("accept", None, 7)),
        ("སྒྲུབ་ཚར 7 ལམ་སྒྲོན་བཅོས་ཚར།", StaffCommand("resolve", None, 7, "ལམ་སྒྲོན་བཅོས་ཚར།")),
        ("ངའི་ལས་འགན", StaffCommand("mine")),
        ("改类别 0007 供水", StaffCommand("recategorise", None, 7, "供水", "water")),
        ("རིགས་བསྒྱུར 7 གློག", StaffCommand("recategorise", None, 7, "གློག", "power")),
    ],
)
def test_commands_parse(message: str, expected: StaffCommand) -> None:
    assert PARSER.parse(message) == expected


@pytest.mark.parametrize(
    ("message", "key"),
    [
        ("你好", "staff_usage_unknown"),
        ("接单", "staff_usage_ticket"),
        ("接单 abc", "staff_usage_ticket"),
        ("进度 0007", "staff_usage_text"),
        ("回复 0007", "staff_usage_text"),
        ("改类别 0007 飞机", "staff_usage_category"),
    ],
)
def test_malformed_commands_explain_themselves(message: str, key: str) -> None:
    result = PARSER.parse(message)
    assert isinstance(result, ParseError)
    assert result.key == key
