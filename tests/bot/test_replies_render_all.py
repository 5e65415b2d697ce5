"""Every reply in both catalogues renders with realistic parameters, and the label families the
petition lifecycle asks for are complete."""

from __future__ import annotations

import string
from typing import Any

import pytest

from bot.dialogue.state import Lang
from bot.replies import Catalog, ReplyCatalog
from bot.settings import PROJECT_ROOT
from governance.directory.models import StaffRole
from governance.petitions.models import EscalationLevel, ReturnReason

CATALOG = ReplyCatalog.load(PROJECT_ROOT / "data" / "responses")

SAMPLE: dict[str, Any] = {
    # residents and intake
    "ticket": "20261122-0007",
    "target_ticket": "20261121-0003",
    "category": "power",
    "status": "on_site",
    "description": "北京中路12号院门口电线掉下来了，离地面很近",
    "place": "北京中路12号院",
    "address": "城关区北京中路12号",
    "phone": "138****5678",
    "photos": 2,
    "count": 2,
    "options": ["power", "streetlight"],
    "service": "nursing",
    "resident": "x7Qa",
    "resident_language": "bo",
    "text": "请帮我联系网格员",
    "grid_worker": "卓玛",
    "hotline": "0891-6320000",
    "title": "高龄津贴",
    "lines": ["八十岁以上老人每月可领取。", "带身份证和户口本。"],
    "name_zh": "卓玛",
    "name_bo": "སྒྲོལ་མ།",
    "hours": "09:00-21:00",
    "role": "grid_worker",
    "name": "卓玛",
    "year": 2027,
    "prefecture": "拉萨市",
    "interest": 3,
    "url": "https://minqing.example.cn/s/abc",
    # pushes
    "note": "已联系供电公司，明天上午维修。",
    "staff": "卓玛",
    "staff_phone": "13800001111",
    "unit": "国网拉萨供电公司",
    "unit_phone": "95598",
    "level": "community",
    "response_due": "2026-11-23T04:00:00+00:00",
    "resolution_due": "2026-12-01T15:59:59+00:00",
    "due": "2026-11-23T04:00:00+00:00",
    # staff and cards
    "notified": 2,
    "reason": "not_fixed",
    "code": "not_allowed",
    "candidates": ["20261120-0007", "20261122-0007"],
    "grid": "八廓第三网格",
    "assignee": "卓玛",
    "assignee_role": "grid_worker",
    "hazard": "fallen_wire",
    "community_id": "lhasa-chengguan-bakuo",
    "day": "2026-11-23",
    "open": 12,
    "overdue": 2,
    "due_today": 1,
    "received_yesterday": 4,
    "resolved_yesterday": 3,
    "overdue_tickets": ["20261118-0002", "20261119-0005"],
    "due_today_tickets": ["20261120-0001"],
    # eldercare bookings (times are ISO strings from the outbox, Lhasa time)
    "number": "YB20261122-0001",
    "start": "2026-11-23T10:00:00+08:00",
    "end": "2026-11-23T11:00:00+08:00",
    "old_start": "2026-11-22T15:00:00+08:00",
    "old_end": "2026-11-22T16:00:00+08:00",
    "alternatives": ["2026-11-23T14:00:00+08:00", "2026-11-24T09:00:00+08:00"],
    "service_zh": "护理/助浴",
    "service_bo": "ནད་གཡོག་དང་ཁྲུས་རོགས།",
    "provider": "格桑林卡社区护理站",
    "provider_zh": "格桑林卡社区护理站",
    "provider_bo": "སྐལ་བཟང་གླིང་ཁ་སྡོད་ཁུལ་ནད་གཡོག་ས་ཚིགས།",
    "provider_phone": "0891-6320103",
    "elder_name": "次仁卓嘎",
    "for_someone_else": True,
    "rating": 5,
    # voice petitions and transcription
    "duration": 12,
    "problem": "download_failed",
    "place_status": "unknown",
}

# `reason` means a return reason in staff_ok_return and an escalation reason on the card.
OVERRIDES: dict[str, dict[str, Any]] = {
    "return_reason": {"reason": "wrong_area"},
    "numbered_intent": {"options": ["report_issue", "check_status"]},
    "numbered_service": {"options": ["meal", "housekeeping", "nursing", "health_check"]},
    "numbered_plain": {"options": ["第一网格", "第二网格"]},
    "lines": {"lines": ["八十岁以上老人每月可领取。", "带身份证和户口本。"]},
    "booking_refusal": {"code": "no_provider"},
}

REFUSAL_CODES = (
    "not_allowed",
    "case_closed",
    "case_finished",
    "return_reason_required",
    "waiting_reason_unknown",
    "already_at_top_level",
    "cannot_follow",
    "merge_target_invalid",
    "merge_target_closed",
    "followup_answer_unknown",
    "not_a_follower",
    "grid_not_in_community",
    "grid_point_not_in_grid",
)

PUSH_KEYS = (
    "push_status_dispatched",
    "push_status_on_site",
    "push_status_in_progress",
    "push_status_resolved",
    "push_status_escalated",
    "push_staff_reply",
    "push_followup",
    "push_merged",
)


def _specs(template: str) -> set[str]:
    return {spec for _, name, spec, _ in string.Formatter().parse(template) if name and spec}


def _params_for(catalog: Catalog, key: str) -> dict[str, Any]:
    params = dict(SAMPLE)
    for spec in _specs(catalog.raw(key)):
        params.update(OVERRIDES.get(spec, {}))
    return params


@pytest.mark.parametrize("language", list(Lang))
def test_every_reply_renders_without_leftover_braces(language: Lang) -> None:
    catalog = CATALOG.catalog(language)
    for key in sorted(catalog.keys):
        text = catalog.text(key, _params_for(catalog, key))
        assert "{" not in text, f"{language}:{key}: {text}"
        assert "}" not in text, f"{language}:{key}: {text}"


@pytest.mark.parametrize("language", list(Lang))
def test_pushes_read_well_with_empty_optional_fields(language: Lang) -> None:
    catalog = CATALOG.catalog(language)
    empty = {**SAMPLE, "note": "", "staff": "", "staff_phone": "", "unit": "", "unit_phone": ""}
    for key in PUSH_KEYS:
        text = catalog.text(key, empty)
        assert "{" not in text, f"{language}:{key}"
        assert "}" not in text, f"{language}:{key}"
        assert "20261122-0007" in text, f"{language}:{key} names the ticket"


@pytest.mark.parametrize("language", list(Lang))
def test_template_fields_fit_the_platform_limit(language: Lang) -> None:
    catalog = CATALOG.catalog(language)
    templates = [key for key in catalog.keys if key.startswith("template_")]
    for key in PUSH_KEYS:
        assert f"template_{key}" in templates
    for key in templates:
        raw = catalog.raw(key)
        assert "{" not in raw, f"{key} is rendered without params"
        text = catalog.text(key)
        assert len(text) <= 20, f"{language}:{key} has {len(text)} characters: {text}"
        assert "\n" not in text, f"{language}:{key}"
        assert "\r" not in text, f"{language}:{key}"


@pytest.mark.parametrize("language", list(Lang))
def test_followup_offers_the_three_numbered_answers(language: Lang) -> None:
    text = CATALOG.catalog(language).text("push_followup", SAMPLE)
    for number in ("1", "2", "3"):
        assert number in text
    starts = {line.split(".")[0] for line in text.splitlines() if "." in line}
    assert {"1", "2", "3"} <= starts, "answers are numbered lines 1. 2. 3. in both languages"
    if language == Lang.ZH:
        for answer in ("1. 满意", "2. 基本满意", "3. 没修好"):
            assert answer in text


@pytest.mark.parametrize("language", list(Lang))
def test_every_label_the_lifecycle_can_ask_for_exists(language: Lang) -> None:
    keys = CATALOG.catalog(language).keys
    for level in EscalationLevel:
        assert f"level_{level.value}" in keys
    for role in StaffRole:
        assert f"role_{role.value}" in keys
    for reason in ReturnReason:
        assert f"return_reason_{reason.value}" in keys
    for cause in ("", "response_breach", "resolution_breach", "not_fixed"):
        assert f"escalation_reason_{cause}" in keys
    for code in REFUSAL_CODES:
        assert f"refusal_{code}" in keys


@pytest.mark.parametrize("language", list(Lang))
def test_every_label_value_renders_in_the_messages_that_use_it(language: Lang) -> None:
    catalog = CATALOG.catalog(language)
    uses = {
        "staff_ok_escalate": ("level", [v.value for v in EscalationLevel]),
        "staff_ok_return": ("reason", [v.value for v in ReturnReason]),
        "card_escalated": ("reason", ["", "response_breach", "resolution_breach", "not_fixed"]),
        "card_dispatched": ("assignee_role", [v.value for v in StaffRole]),
        "staff_refused": ("code", list(REFUSAL_CODES)),
    }
    for key, (param, values) in uses.items():
        for value in values:
            text = catalog.text(key, {**_params_for(catalog, key), param: value})
            assert "{" not in text, f"{language}:{key} with {param}={value!r}"


def test_digest_keeps_the_day_as_given() -> None:
    text = CATALOG.catalog(Lang.ZH).text("card_daily_digest_title", SAMPLE)
    assert "2026-11-23" in text
    body = CATALOG.catalog(Lang.ZH).text("card_daily_digest", SAMPLE)
    assert "1. 20261118-0002" in body
    assert "2. 20261119-0005" in body
