"""Benefit policies: the bilingual catalog, its validation, answering, unanswered questions."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import ManualClock
from governance.policies.catalog import (
    ANSWER_FIELDS,
    DEFAULT_POLICY_DIR,
    LANGUAGES,
    LIST_FIELDS,
    TEXT_FIELDS,
    TOPICS,
    PolicyCatalog,
    PolicyError,
    PolicyField,
)
from governance.policies.models import UnansweredQuestion
from governance.policies.service import (
    AnswerSource,
    NoAnswer,
    PolicyAnswer,
    PolicyAnswerer,
    log_unanswered,
    mark_answered,
    open_unanswered,
)
from nlu.language import detect_language, is_han, is_tibetan_letter
from nlu.retrieval import LanguageIndexes

CATALOG = PolicyCatalog.load()
EXPECTED_IDS = {
    "elderly_allowance",
    "elderly_allowance_certification",
    "elderly_health",
    "medical_insurance_reimbursement",
    "medical_insurance_card",
    "veteran",
    "property_certificate",
    "disability",
    "subsistence",
}
NLU_TOPICS = Path(DEFAULT_POLICY_DIR).parent / "nlu" / "lexicon" / "policy_topics.yml"


@pytest.fixture(scope="module")
def answerer() -> PolicyAnswerer:
    """The answerer wired as the bot wires it: the nlu index's search injected."""
    index = LanguageIndexes(
        {language: CATALOG.documents(language) for language in LANGUAGES},
        stopwords=CATALOG.stopwords,
    )
    return PolicyAnswerer(CATALOG, index.search)


def ask(
    answerer: PolicyAnswerer,
    question: str,
    topic: str | None = None,
    previous: str | None = None,
) -> PolicyAnswer | NoAnswer:
    return answerer.answer(question, detect_language(question).value, topic, previous)


# --- the catalog ----------------------------------------------------------------------------


def test_the_catalog_loads_every_sample_policy() -> None:
    assert set(CATALOG.ids) == EXPECTED_IDS
    assert CATALOG.topics == set(TOPICS)
    assert [p.id for p in CATALOG.by_topic("medical_insurance")] == [
        "medical_insurance_reimbursement",
        "medical_insurance_card",
    ]
    assert CATALOG.primary("elderly_allowance").id == "elderly_allowance"  # type: ignore[union-attr]


def test_the_topics_are_the_ones_the_nlu_produces() -> None:
    nlu_topics = yaml.safe_load(NLU_TOPICS.read_text(encoding="utf-8"))
    assert set(TOPICS) == set(nlu_topics)


@pytest.mark.parametrize("policy_id", sorted(EXPECTED_IDS))
def test_every_field_is_there_in_both_languages_and_scripts(policy_id: str) -> None:
    policy = CATALOG[policy_id]
    for field in (*TEXT_FIELDS, *LIST_FIELDS):
        zh = policy.text(field, "zh")
        bo = policy.text(field, "bo")
        assert zh.strip(), f"{policy_id}.{field}.zh"
        assert bo.strip(), f"{policy_id}.{field}.bo"
        assert any(is_han(ch) for ch in zh), f"{policy_id}.{field}.zh has no Chinese"
        assert any(is_tibetan_letter(ch) for ch in bo), f"{policy_id}.{field}.bo has no Tibetan"
    for field in LIST_FIELDS:
        assert len(policy.items(field, "zh")) == len(policy.items(field, "bo"))
    for language in LANGUAGES:
        assert len(policy.text(PolicyField.SUMMARY, language).splitlines()) <= 3
        assert policy.keywords.get(language)


@pytest.mark.parametrize("policy_id", sorted(EXPECTED_IDS))
def test_sample_entries_are_marked_and_wait_for_verification(policy_id: str) -> None:
    policy = CATALOG[policy_id]
    assert policy.sample is True
    assert policy.verified_by is None
    assert policy.verified_on is None
    assert not policy.verified
    assert policy.path is not None
    assert policy.path.read_text(encoding="utf-8").startswith("# SAMPLE CONTENT")


def test_certification_can_be_done_at_home_by_booking() -> None:
    summary = CATALOG["elderly_allowance_certification"].text(PolicyField.SUMMARY, "zh")
    assert "上门" in summary
    assert "预约" in summary


def test_text_falls_back_to_chinese_for_mixed_and_unknown() -> None:
    policy = CATALOG["subsistence"]
    assert policy.text("title", "mixed") == policy.text("title", "zh")
    assert policy.text("title", "bo") != policy.text("title", "zh")
    assert policy.text("steps", "zh").count("\n") == len(policy.items("steps", "zh")) - 1


# --- validation -----------------------------------------------------------------------------


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    return target


def _edit(folder: Path, policy_id: str, change: dict[str, object]) -> Path:
    path = folder / f"{policy_id}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in change.items():
        if value is _DELETE:
            del data[key]
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


_DELETE = object()
_BILINGUAL = {"zh": "x", "bo": "ཀ"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"title": {"zh": "高龄津贴"}}, "title: the bo text is missing"),
        ({"summary": {"zh": "a", "bo": "  "}}, "summary.bo: must be a non-empty text"),
        ({"title": {"zh": "x", "bo": "ཀ", "en": "x"}}, "unknown language 'en'"),
        ({"topic": "pensions"}, "topic: 'pensions' is not one of"),
        ({"id": "other_name"}, "differs from the file name"),
        ({"materails": _BILINGUAL}, "materails: unknown field (typo?)"),
        ({"contact": _DELETE}, "contact: missing"),
        ({"steps": {"zh": ["a", "b"], "bo": ["ཀ"]}}, "zh has 2 entries and bo 1"),
        ({"summary": {"zh": "1\n2\n3\n4", "bo": "ཀ"}}, "summary.zh: 4 lines; at most 3"),
        ({"effective_date": "soon"}, "effective_date: 'soon' is not a date"),
        ({"verified_by": "Dolkar"}, "filled in together"),
        ({"sample": "yes"}, "sample: must be true or false"),
        ({"keywords": {"zh": [], "bo": ["ཀ"]}}, "keywords.zh: must be a non-empty list"),
    ],
)
def test_a_broken_file_is_rejected_with_the_file_and_field_named(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    folder = _copy(tmp_path)
    path = _edit(folder, "elderly_allowance", change)
    with pytest.raises(PolicyError) as caught:
        PolicyCatalog.load(folder)
    assert expected in str(caught.value)
    assert all(str(path) in problem for problem in caught.value.problems)


def test_problems_of_all_files_are_reported_together(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(folder, "veteran", {"topic": "army"})
    _edit(folder, "disability", {"where": _DELETE})
    (folder / "broken.yml").write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        PolicyCatalog.load(folder)
    text = str(caught.value)
    assert "veteran.yml: topic" in text
    assert "disability.yml: where: missing" in text
    assert "broken.yml: not valid YAML" in text


def test_duplicate_ids_and_two_primaries_per_topic_are_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    shutil.copy(folder / "subsistence.yml", folder / "subsistence.yaml")
    _edit(folder, "medical_insurance_card", {"primary": True})
    with pytest.raises(PolicyError) as caught:
        PolicyCatalog.load(folder)
    text = str(caught.value)
    assert "id 'subsistence' is also used by" in text
    assert "topic 'medical_insurance' already has a primary policy" in text


def test_the_follow_up_cues_are_checked_too(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    cues = folder / "_fields.yml"
    data = yaml.safe_load(cues.read_text(encoding="utf-8"))
    data["fields"]["title"] = {"zh": ["名字"], "bo": ["མིང"]}
    cues.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"fields\.title: not a field one can ask for"):
        PolicyCatalog.load(folder)
    cues.unlink()
    with pytest.raises(PolicyError, match=r"_fields\.yml: missing"):
        PolicyCatalog.load(folder)


def test_every_answerable_field_has_cues_in_both_languages() -> None:
    for field in ANSWER_FIELDS:
        for language in LANGUAGES:
            assert CATALOG.cues.cues[field][language], f"{field} {language}"


# --- follow-up field detection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "fields"),
    [
        ("要带什么材料?", ["materials"]),
        ("在哪里办?", ["where"]),
        ("几点上班", ["where"]),
        ("怎么申请", ["steps"]),
        ("一个月多少钱", ["amounts"]),
        ("谁可以领", ["eligibility"]),
        ("电话多少", ["contact"]),
        ("在哪里办，要带什么", ["where", "materials"]),
        ("高龄津贴资格认证", []),
        ("ག་པར་འགྲོ་དགོས", ["where"]),
        ("ཡིག་ཆ་ག་རེ་ག་རེ་དགོས་རེད།", ["materials"]),
        ("སྒོར་མོ་ག་ཚོད་ཐོབ་ཀྱི་རེད།", ["amounts"]),
        ("ཆུ་ཚོད་ག་ཚོད་ལ་སྒོ་ཕྱེ་གི་རེད།", ["where"]),
        ("ཁ་པར་ཨང་གྲངས་ག་རེ་རེད།", ["contact"]),
        ("ཞུ་ཐབས་ག་རེ་རེད།", ["steps"]),
        ("སུ་ལ་ཐོབ་ཀྱི་རེད།", ["eligibility"]),
        ("ཐོབ་ཐང་ངོས་འཛིན་ཁ་པར་ཐོག་ནས་བྱེད་ཆོག་གམ", []),
        ("医保卡 ག་པར་ བརྗེ་དགོས་རེད", ["where"]),
    ],
)
def test_the_field_a_question_asks_for_is_found_in_both_languages(
    answerer: PolicyAnswerer, question: str, fields: list[str]
) -> None:
    assert [str(f) for f in answerer.asked_fields(question).fields] == fields


def test_cue_words_are_cut_out_of_the_text_left_for_retrieval(answerer: PolicyAnswerer) -> None:
    asked = answerer.asked_fields("房产证要带什么材料")
    assert "房产证" in asked.rest
    assert "材料" not in asked.rest


# --- answering ------------------------------------------------------------------------------


def test_a_new_question_is_answered_by_retrieval(answerer: PolicyAnswerer) -> None:
    answer = ask(answerer, "八十岁老人补贴怎么领")
    assert isinstance(answer, PolicyAnswer)
    assert answer.policy_id == "elderly_allowance"
    assert answer.fields == (PolicyField.STEPS,)
    assert answer.source is AnswerSource.RETRIEVAL
    assert not answer.follow_up


def test_a_question_without_a_field_cue_gets_the_summary(answerer: PolicyAnswerer) -> None:
    answer = ask(answerer, "那低保呢", previous="disability")
    assert isinstance(answer, PolicyAnswer)
    assert (answer.policy_id, answer.fields, answer.follow_up) == (
        "subsistence",
        (PolicyField.SUMMARY,),
        False,
    )


@pytest.mark.parametrize(
    ("question", "previous", "field"),
    [
        ("要带什么材料?", "elderly_allowance", PolicyField.MATERIALS),
        ("在哪里办?", "veteran", PolicyField.WHERE),
        ("一个月多少钱", "elderly_health", PolicyField.AMOUNTS),
        ("要带户口本吗", "subsistence", PolicyField.MATERIALS),
        ("ག་པར་འགྲོ་དགོས", "disability", PolicyField.WHERE),
        ("ཡིག་ཆ་ག་རེ་ག་རེ་དགོས་རེད།", "veteran", PolicyField.MATERIALS),
        ("ཁ་པར་ཨང་གྲངས་ག་རེ་རེད།", "subsistence", PolicyField.CONTACT),
    ],
)
def test_a_follow_up_answers_the_field_of_the_previous_policy(
    answerer: PolicyAnswerer, question: str, previous: str, field: PolicyField
) -> None:
    answer = ask(answerer, question, previous=previous)
    assert isinstance(answer, PolicyAnswer)
    assert answer.policy_id == previous
    assert answer.fields == (field,)
    assert answer.follow_up


def test_a_follow_up_naming_a_sibling_policy_moves_to_it(answerer: PolicyAnswerer) -> None:
    answer = ask(answerer, "认证要带什么材料", "elderly_allowance", "elderly_allowance")
    assert isinstance(answer, PolicyAnswer)
    assert answer.policy_id == "elderly_allowance_certification"
    assert answer.fields == (PolicyField.MATERIALS,)
    assert not answer.follow_up


@pytest.mark.parametrize("topic", [None, "elderly_allowance"])
@pytest.mark.parametrize("question", ["高龄津贴", "高龄津贴怎么申请", "高龄津贴要带什么材料"])
def test_naming_only_the_allowance_gets_its_primary_policy_not_the_certification(
    answerer: PolicyAnswerer, question: str, topic: str | None
) -> None:
    """Both policies mention 高龄津贴 alike; nothing in the question asks about certification."""
    answer = ask(answerer, question, topic)
    assert isinstance(answer, PolicyAnswer)
    assert answer.policy_id == "elderly_allowance"


def test_asking_about_certification_still_gets_the_certification(
    answerer: PolicyAnswerer,
) -> None:
    answer = ask(answerer, "高龄津贴每年认证怎么做", "elderly_allowance")
    assert isinstance(answer, PolicyAnswer)
    assert answer.policy_id == "elderly_allowance_certification"


def test_the_nlu_topic_narrows_the_candidates(answerer: PolicyAnswerer) -> None:
    card = ask(answerer, "医保卡丢了怎么办", "medical_insurance", "elderly_allowance")
    assert isinstance(card, PolicyAnswer)
    assert card.policy_id == "medical_insurance_card"
    assert not card.follow_up
    refund = ask(answerer, "在拉萨住院能报销多少", "medical_insurance")
    assert isinstance(refund, PolicyAnswer)
    assert refund.policy_id == "medical_insurance_reimbursement"
    assert refund.fields == (PolicyField.AMOUNTS,)
    # Retrieval suggests disability (残疾证), but the NLU said property: only property counts.
    narrowed = ask(answerer, "残疾证", "property_certificate")
    assert isinstance(narrowed, PolicyAnswer)
    assert narrowed.policy_id == "property_certificate"


def test_a_topic_retrieval_cannot_split_goes_to_its_primary_or_previous_policy(
    answerer: PolicyAnswerer,
) -> None:
    primary = ask(answerer, "有个事想问问", "medical_insurance")
    assert isinstance(primary, PolicyAnswer)
    assert (primary.policy_id, primary.source) == (
        "medical_insurance_reimbursement",
        AnswerSource.TOPIC,
    )
    in_context = ask(answerer, "有个事想问问", "medical_insurance", "medical_insurance_card")
    assert isinstance(in_context, PolicyAnswer)
    assert (in_context.policy_id, in_context.follow_up) == ("medical_insurance_card", True)


@pytest.mark.parametrize("question", ["明天天气怎么样", "怎么买火车票", "སང་ཉིན་གནམ་གཤིས་ག་འདྲ་འདུག"])
def test_nothing_matching_is_no_answer(answerer: PolicyAnswerer, question: str) -> None:
    answer = ask(answerer, question)
    assert isinstance(answer, NoAnswer)
    assert answer.topic is None


def test_a_field_question_without_context_is_no_answer_but_keeps_the_field(
    answerer: PolicyAnswerer,
) -> None:
    answer = ask(answerer, "要带什么材料")
    assert isinstance(answer, NoAnswer)
    assert answer.fields == (PolicyField.MATERIALS,)


def test_answer_lines_are_the_fields_content_cut_to_five(answerer: PolicyAnswerer) -> None:
    answer = PolicyAnswer(
        "elderly_allowance",
        (PolicyField.MATERIALS, PolicyField.WHERE),
        False,
        AnswerSource.TOPIC,
    )
    lines = answerer.lines(answer, "bo")
    assert len(lines) == 5
    assert lines == list(CATALOG["elderly_allowance"].items(PolicyField.MATERIALS, "bo"))
    assert answerer.lines(answer, "zh", max_lines=7)[-1].startswith(
        CATALOG["elderly_allowance"].text(PolicyField.WHERE, "zh")[:6]
    )


# --- unanswered questions -------------------------------------------------------------------


async def test_unanswered_questions_are_stored_listed_and_closed(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        first = await log_unanswered(
            session, "o-dolkar", "zh", "公租房怎么申请", None, clock.now()
        )
        clock.advance(timedelta(minutes=5))
        second = await log_unanswered(
            session, "o-tenzin", "bo", "ཁང་པ་གླ་གཏོང་ཞུ་ཐབས", "property_certificate", clock.now()
        )
    assert first.id is not None
    assert second.id is not None

    async with sessions() as session, session.begin():
        waiting = await open_unanswered(session)
        assert [(q.openid, q.language, q.topic) for q in waiting] == [
            ("o-dolkar", "zh", None),
            ("o-tenzin", "bo", "property_certificate"),
        ]
        assert waiting[1].text == "ཁང་པ་གླ་གཏོང་ཞུ་ཐབས"
        assert waiting[0].created_at == clock.now() - timedelta(minutes=5)
        assert waiting[0].created_at.tzinfo is not None
        assert waiting[0].answered_at is None

        clock.advance(timedelta(days=1))
        closed = await mark_answered(session, first.id, clock.now(), "wrote public_housing.yml")
        assert closed is not None
        assert await mark_answered(session, 10_000, clock.now()) is None

    async with sessions() as session:
        stored = await session.get(UnansweredQuestion, first.id)
        assert stored is not None
        assert stored.answered_at == clock.now()
        assert stored.note == "wrote public_housing.yml"
        assert [q.id for q in await open_unanswered(session)] == [second.id]
