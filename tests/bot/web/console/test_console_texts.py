"""Console wording: both languages have the same keys and placeholders, every key the code and
templates name exists, and every template renders in both languages."""

from __future__ import annotations

import re
import string
from datetime import timedelta
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from bot.web.console.cases import ACTION_ORDER
from bot.web.console.export import COLUMNS
from bot.web.console.i18n import LANGUAGES, MissingText, Texts, load_texts
from governance.console.models import ConsoleRole
from governance.console.queue import STATUS_GROUPS
from governance.directory.models import StaffRole
from governance.petitions.models import (
    EscalationLevel,
    FollowupAnswer,
    PetitionSource,
    PetitionStatus,
    ReturnReason,
    WaitingFor,
)
from nlu.parsed import CATEGORIES

CONSOLE_DATA = PROJECT_ROOT / "data" / "console"
CODE = PROJECT_ROOT / "bot" / "web" / "console"
TIBETAN = re.compile(r"[\u0f00-\u0fff]")
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def texts() -> dict[str, Texts]:
    return load_texts(CONSOLE_DATA)


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_languages_have_the_same_keys_and_placeholders(texts: dict[str, Texts]) -> None:
    zh, bo = texts["zh"].entries, texts["bo"].entries
    assert set(zh) == set(bo)
    for key in zh:
        assert fields(zh[key]) == fields(bo[key]), key


def test_tibetan_file_is_in_tibetan_and_chinese_file_in_chinese(texts: dict[str, Texts]) -> None:
    """Every Tibetan entry with letters has Tibetan script (no untranslated Chinese left)."""
    for key, value in texts["bo"].entries.items():
        if HAN.search(value) and key != "switch_language":
            pytest.fail(f"bo:{key} still contains Chinese: {value}")
    untranslated = [k for k, v in texts["bo"].entries.items() if v == texts["zh"].entries[k]]
    assert untranslated == []
    tibetan = [k for k, v in texts["bo"].entries.items() if TIBETAN.search(v)]
    assert len(tibetan) > 0.9 * len(texts["bo"].entries)


def _literal_keys() -> set[str]:
    """Keys named literally in the console's templates and Python (t('key'), t("key", …))."""
    keys: set[str] = set()
    pattern = re.compile(r"""\bt\(\s*['"]([a-z0-9_]+)['"]\s*[,)]""")
    for path in [*CODE.glob("*.py"), *(CODE / "templates").glob("*.html")]:
        keys |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return keys


def test_every_literal_key_exists(texts: dict[str, Texts]) -> None:
    missing = _literal_keys() - set(texts["zh"].entries)
    assert not missing


def test_every_key_family_the_code_builds_is_complete(texts: dict[str, Texts]) -> None:
    """Keys built from domain values (status_<s>, category_<c>, action_<verb> …) all exist."""
    families = {
        "status_": [s.value for s in PetitionStatus],
        "category_": list(CATEGORIES),
        "action_": list(ACTION_ORDER),
        "done_": list(ACTION_ORDER),
        "audit_case_": list(ACTION_ORDER),
        "reason_": [r.value for r in ReturnReason],
        "waiting_": [w.value for w in WaitingFor],
        "level_": [level.value for level in EscalationLevel],
        "satisfaction_": [a.value for a in FollowupAnswer],
        "source_": [s.value for s in PetitionSource],
        "role_": [r.value for r in StaffRole],
        "console_role_": [r.value for r in ConsoleRole],
        "status_group_": [*STATUS_GROUPS, "all"],
        "dash_": [
            "received",
            "resolved",
            "escalated",
            "overdue",
            "on_time_closure_rate",
            "response_rate",
            "solution_rate",
            "satisfaction_rate",
        ],
        "export_col_": list(COLUMNS),
        "error_": [
            "not_allowed",
            "case_finished",
            "case_closed",
            "return_reason_required",
            "waiting_reason_unknown",
            "already_at_top_level",
            "merge_target_invalid",
            "merge_target_closed",
            "text_required",
            "text_too_long",
            "unknown_action",
            "category_unchanged",
            "category_unknown",
            "no_handler",
            "staff_required",
            "already_assigned",
            "staff_cannot_take",
        ],
        "weekday_": [str(d) for d in range(1, 8)],
    }
    entries = texts["zh"].entries
    missing = [p + v for p, values in families.items() for v in values if p + v not in entries]
    assert not missing


def test_every_entry_renders_with_its_placeholders(texts: dict[str, Texts]) -> None:
    for language in LANGUAGES:
        t = texts[language]
        for key, value in t.entries.items():
            rendered = t(key, **dict.fromkeys(fields(value), "7")) if fields(value) else t(key)
            assert "{" not in rendered, (language, key)


def test_missing_key_is_an_error_and_get_falls_back(texts: dict[str, Texts]) -> None:
    with pytest.raises(MissingText):
        texts["zh"]("no_such_key")
    assert texts["bo"].get("status_something_new", "x") == "x"


@pytest.mark.parametrize(
    ("language", "delta", "expected"),
    [
        ("zh", timedelta(days=2, hours=3, minutes=5), "2天3小时"),
        ("zh", timedelta(minutes=40), "40分钟"),
        ("zh", timedelta(seconds=20), "0分钟"),
        ("bo", timedelta(hours=5, minutes=1), "ཆུ་ཚོད་ 5 སྐར་མ་ 1"),
    ],
)
def test_spans(texts: dict[str, Texts], language: str, delta: timedelta, expected: str) -> None:
    assert texts[language].span(delta) == expected


def test_templates_reference_only_existing_templates() -> None:
    names = {p.name for p in (CODE / "templates").glob("*.html")}
    used: set[str] = set()
    for path in [*CODE.glob("*.py"), *(CODE / "templates").glob("*.html")]:
        used |= set(re.findall(r"""['"]([a-z_]+\.html)['"]""", path.read_text(encoding="utf-8")))
    assert used <= names, used - names
    assert Path(CODE / "templates" / "_voice.html").is_file()
