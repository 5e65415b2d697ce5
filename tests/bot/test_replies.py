"""The two reply catalogues stay in step, and every label the code can ask for exists."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
import yaml

from bot.dialogue.state import Lang
from bot.messages import Reply
from bot.replies import ReplyCatalog
from bot.settings import PROJECT_ROOT
from governance.petitions.models import PetitionStatus
from nlu.parsed import CATEGORIES

RESPONSES = PROJECT_ROOT / "data" / "responses"
CATALOG = ReplyCatalog.load(RESPONSES)


def _fields(template: str) -> set[str]:
    return {f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(template) if name}


def test_both_languages_have_exactly_the_same_keys() -> None:
    zh, bo = CATALOG.catalog(Lang.ZH).keys, CATALOG.catalog(Lang.BO).keys
    assert zh - bo == set(), "keys missing in bo.yml"
    assert bo - zh == set(), "keys missing in zh.yml"


def test_both_languages_use_the_same_placeholders() -> None:
    zh, bo = CATALOG.catalog(Lang.ZH), CATALOG.catalog(Lang.BO)
    for key in sorted(zh.keys):
        assert _fields(zh.raw(key)) == _fields(bo.raw(key)), key


def test_tibetan_catalogue_is_written_in_tibetan() -> None:
    bo = CATALOG.catalog(Lang.BO)
    for key in bo.keys:
        text = bo.raw(key)
        if key.startswith(("utter_", "category_", "status_", "intent_")):
            assert any("\u0f00" <= ch <= "\u0fff" for ch in text), key


@pytest.mark.parametrize("language", list(Lang))
def test_every_category_status_and_menu_intent_has_a_label(language: Lang) -> None:
    catalog = CATALOG.catalog(language)
    for category in CATEGORIES:
        assert f"category_{category}" in catalog.keys
    for status in PetitionStatus:
        assert f"status_{status.value}" in catalog.keys
    from bot.dialogue.engine import MENU

    for intent in MENU:
        assert f"intent_{intent}" in catalog.keys


def test_every_hazard_the_nlu_can_report_has_safety_advice() -> None:
    lexicon = yaml.safe_load(
        (PROJECT_ROOT / "data" / "nlu" / "lexicon" / "hazards.yml").read_text(encoding="utf-8")
    )
    for kind in lexicon["kinds"]:
        assert f"utter_safety_{kind}" in CATALOG.catalog(Lang.ZH).keys
        assert f"hazard_{kind}" in CATALOG.catalog(Lang.BO).keys


def test_dates_are_written_in_each_languages_own_style() -> None:
    due = datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC)  # 23:59 in Lhasa
    reply = Reply(
        "utter_status_line",
        {
            "ticket": "20261122-0001",
            "category": "water",
            "status": "received",
            "resolution_due": due,
        },
    )
    assert "最晚12月1日前办结" in CATALOG.render(reply, Lang.ZH)
    tibetan = CATALOG.render(reply, Lang.BO)
    assert "ཟླ་༡༢ ཚེས་༡" in tibetan
    assert "20261122-0001" in tibetan, "ticket numbers stay in ASCII digits so they can be typed"


def test_iso_strings_from_the_outbox_render_like_datetimes() -> None:
    text = CATALOG.render(
        Reply(
            "utter_petition_received",
            {
                "ticket": "T",
                "response_due": "2026-11-22T04:00:00+00:00",
                "resolution_due": "2026-12-01T15:59:59+00:00",
            },
        ),
        Lang.ZH,
    )
    assert "11月22日 12:00前响应" in text


def test_numbered_lists_render_labels_in_the_residents_language() -> None:
    reply = Reply("utter_ask_category", {"options": ["power", "streetlight"]})
    assert "2. 路灯" in CATALOG.render(reply, Lang.ZH)
    assert "2. ལམ་སྒྲོན།" in CATALOG.render(reply, Lang.BO)


def test_bilingual_rendering_puts_tibetan_first() -> None:
    text = CATALOG.render_all([Reply("utter_welcome")], Lang.ZH, bilingual=True)
    assert text.index("བཀྲ་ཤིས་བདེ་ལེགས") < text.index("您好")
