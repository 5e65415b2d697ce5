"""Policy revisions: edits validated as the YAML files are, verification, history, and the
effective catalog (YAML seed + newest revision) every worker rebuilds when the version moves."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import ManualClock
from governance.policies.catalog import (
    LANGUAGES,
    PolicyCatalog,
    PolicyField,
    policy_from_mapping,
    policy_to_mapping,
)
from governance.policies.models import PolicyRevision
from governance.policies.revisions import (
    NO_REVISIONS,
    EditRejected,
    LiveCatalog,
    RevisionSaved,
    Unchanged,
    catalog_version,
    current_policy,
    effective_catalog,
    history,
    mark_verified,
    save_edit,
)
from governance.policies.service import PolicyAnswer, PolicyAnswerer
from nlu.retrieval import LanguageIndexes

SEED = PolicyCatalog.load()
NEW_STEPS = {
    "zh": ["带身份证到社区服务站填表", "社区审核后按月发放", "每年认证一次"],
    "bo": ["ངོ་སྤྲོད་ལག་ཁྱེར་ཁྱེར་ནས་ཞུ་ཡིག་འགེངས།", "ཟླ་རེར་སྤྲོད།", "ལོ་རེར་ངོས་འཛིན་བྱེད།"],
}


def search_over(catalog: PolicyCatalog) -> Any:
    indexes = LanguageIndexes(
        {language: catalog.documents(language) for language in LANGUAGES},
        stopwords=catalog.stopwords,
    )
    return indexes.search


async def edit(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    changes: dict[str, Any],
    policy_id: str = "elderly_allowance",
    note: str = "",
) -> RevisionSaved | Unchanged | EditRejected:
    async with sessions() as session, session.begin():
        return await save_edit(
            session, SEED, policy_id, changes, edited_by="lhakpa", now=clock.now(), note=note
        )


async def verify(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, policy_id: str
) -> RevisionSaved | EditRejected:
    async with sessions() as session, session.begin():
        return await mark_verified(
            session,
            SEED,
            policy_id,
            verified_by="lhakpa",
            verified_on=date(2026, 11, 22),
            now=clock.now(),
        )


async def revision_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count(PolicyRevision.id))) or 0)


def test_a_policy_survives_the_round_trip_through_its_mapping() -> None:
    for policy in SEED:
        again, problems = policy_from_mapping(policy_to_mapping(policy), expected_id=policy.id)
        assert problems == []
        assert again is not None
        assert again == policy.__class__(**{**_fields(policy), "path": None})


def _fields(policy: Any) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in policy.__slots__}


def test_mapping_problems_are_structured_with_the_yaml_loader_wording() -> None:
    content = policy_to_mapping(SEED["elderly_allowance"])
    content["summary"] = {"zh": "1\n2\n3\n4", "bo": "ཀ"}
    content["steps"] = {"zh": ["a", "b"], "bo": ["ཀ"]}
    content["title"] = {"zh": "高龄津贴", "bo": " "}
    content["effective_date"] = "soon"
    policy, problems = policy_from_mapping(content, expected_id="elderly_allowance")
    assert policy is None
    found = {(p.field, p.code): p for p in problems}
    assert found["summary.zh", "too_many_lines"].params == {"lines": "4", "most": "3"}
    assert str(found["summary.zh", "too_many_lines"]) == (
        "summary.zh: 4 lines; at most 3 (the reply is short)"
    )
    assert found["steps", "lists_differ"].params == {"zh": "2", "bo": "1"}
    assert ("title.bo", "empty_text") in found
    assert ("effective_date", "not_a_date") in found
    _, problems = policy_from_mapping(content | {"id": "veteran"}, expected_id="elderly_allowance")
    assert "id_mismatch" in {p.code for p in problems}


async def test_an_edit_is_saved_validated_and_clears_the_verification(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    verified = await verify(sessions, clock, "elderly_allowance")
    assert isinstance(verified, RevisionSaved)
    assert verified.policy.verified
    assert verified.policy.sample is False
    clock.advance(timedelta(minutes=5))

    saved = await edit(
        sessions,
        clock,
        {"steps": NEW_STEPS, "amounts": {"zh": "每月100元", "bo": "ཟླ་རེར་སྒོར་ ༡༠༠"}},
        note="新文件",
    )
    assert isinstance(saved, RevisionSaved)
    assert saved.changed == ("amounts", "steps")
    assert saved.policy.verified_by is None
    assert saved.policy.verified_on is None
    assert not saved.policy.verified
    assert saved.policy.sample is False, "an edit keeps sample as it was; only verifying sets it"
    assert saved.revision.edited_by == "lhakpa"
    assert saved.revision.note == "新文件"
    assert saved.revision.content["steps"] == NEW_STEPS

    async with sessions() as session:
        policy = await current_policy(session, SEED, "elderly_allowance")
        catalog = await effective_catalog(session, SEED)
        revisions = await history(session, "elderly_allowance")
    assert policy is not None
    assert policy.items(PolicyField.STEPS, "zh") == tuple(NEW_STEPS["zh"])
    assert catalog["elderly_allowance"].text("amounts", "bo") == "ཟླ་རེར་སྒོར་ ༡༠༠"
    assert catalog["veteran"] == SEED["veteran"], "other policies stay on their YAML file"
    assert catalog.cues is SEED.cues
    assert [(r.verified_by, r.note) for r in revisions] == [(None, "新文件"), ("lhakpa", "")]


async def test_a_fresh_sample_stays_a_sample_after_an_edit_until_verified(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    saved = await edit(
        sessions,
        clock,
        {"title": {"zh": "城乡低保金", "bo": "འཚོ་བའི་ཁ་སྐོང་།"}},
        policy_id="subsistence",
    )
    assert isinstance(saved, RevisionSaved)
    assert saved.policy.sample is True
    assert not saved.policy.verified
    verified = await verify(sessions, clock, "subsistence")
    assert isinstance(verified, RevisionSaved)
    assert verified.policy.sample is False
    assert verified.policy.verified_by == "lhakpa"
    assert verified.policy.verified_on == date(2026, 11, 22)
    assert verified.policy.title.zh == "城乡低保金", "verifying copies the content"
    assert verified.revision.verified_on == date(2026, 11, 22)


async def test_an_invalid_edit_is_refused_with_every_problem_and_nothing_stored(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    rejected = await edit(
        sessions,
        clock,
        {
            "summary": {"zh": "一\n二\n三\n四", "bo": "ཀ"},
            "materials": {"zh": ["身份证", "户口本"], "bo": ["ངོ་སྤྲོད་ལག་ཁྱེར།"]},
            "contact": {"zh": "", "bo": "12345"},
            "effective_date": "2026-13-01",
            "keywords": {"zh": [], "bo": ["ཀ"]},
        },
    )
    assert isinstance(rejected, EditRejected)
    assert {(p.field, p.code) for p in rejected.problems} == {
        ("summary.zh", "too_many_lines"),
        ("materials", "lists_differ"),
        ("contact.zh", "empty_text"),
        ("effective_date", "not_a_date"),
        ("keywords.zh", "empty_list"),
    }
    assert await revision_count(sessions) == 0


async def test_verification_fields_cannot_be_set_by_an_edit_and_ids_cannot_change(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    saved = await edit(
        sessions,
        clock,
        {
            "verified_by": "someone",
            "verified_on": "2026-01-01",
            "sample": False,
            "where": {"zh": "社区服务站二楼", "bo": "སྡོད་ཁུལ་ཞབས་ཞུ་ས་ཚིགས།"},
        },
    )
    assert isinstance(saved, RevisionSaved)
    assert not saved.policy.verified
    assert saved.policy.sample is True
    rejected = await edit(sessions, clock, {"id": "other"})
    assert isinstance(rejected, EditRejected)
    assert [p.code for p in rejected.problems] == ["id_mismatch"]
    unknown = await edit(sessions, clock, {}, policy_id="no_such_policy")
    assert isinstance(unknown, EditRejected)
    assert unknown.problems[0].code == "unknown_policy"


async def test_a_second_primary_for_a_topic_is_refused(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    rejected = await edit(sessions, clock, {"primary": True}, policy_id="medical_insurance_card")
    assert isinstance(rejected, EditRejected)
    assert rejected.problems[0].code == "primary_taken"
    assert rejected.problems[0].params == {"policy": "medical_insurance_reimbursement"}


async def test_an_edit_that_changes_nothing_stores_nothing_and_keeps_the_verification(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    await verify(sessions, clock, "veteran")
    same = policy_to_mapping(SEED["veteran"])
    outcome = await edit(sessions, clock, same, policy_id="veteran")
    assert isinstance(outcome, Unchanged)
    assert outcome.policy.verified
    assert await revision_count(sessions) == 1


async def test_every_worker_rebuilds_its_catalog_only_when_the_version_moves(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    worker_a, worker_b = LiveCatalog(SEED), LiveCatalog(SEED)
    async with sessions() as session:
        assert await catalog_version(session) == NO_REVISIONS
        assert await worker_a.current(session) is SEED
        assert await worker_b.current(session) is SEED
    await edit(sessions, clock, {"steps": NEW_STEPS})
    async with sessions() as session:
        version = await catalog_version(session)
        assert version[0] == 1
        assert version[1] >= 1
        first = await worker_a.current(session)
        assert first is not SEED
        assert await worker_a.current(session) is first, "unchanged version: same catalog"
        seen_by_b = await worker_b.current(session)
    assert seen_by_b["elderly_allowance"].items("steps", "zh") == tuple(NEW_STEPS["zh"])


async def test_an_invalid_stored_revision_falls_back_to_the_yaml_file(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    broken = policy_to_mapping(SEED["disability"]) | {"topic": "retired_topic"}
    async with sessions() as session, session.begin():
        session.add(
            PolicyRevision(
                policy_id="disability",
                content=broken,
                edited_by="import",
                created_at=clock.now(),
                note="",
            )
        )
    async with sessions() as session:
        catalog = await effective_catalog(session, SEED)
    assert catalog["disability"] == SEED["disability"]


async def test_the_live_answerer_answers_from_the_edit_with_rebuilt_indexes(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    answerer = PolicyAnswerer.live_over(LiveCatalog(SEED), search_over)
    fixed = PolicyAnswerer(SEED, search_over(SEED))
    question = "糌粑补贴怎么领"
    async with sessions() as session:
        await answerer.refresh(session)
    before = answerer.answer(question, "zh")
    assert not (isinstance(before, PolicyAnswer) and before.policy_id == "elderly_health")
    keywords = policy_to_mapping(SEED["elderly_health"])["keywords"]
    keywords["zh"].append("糌粑补贴")
    await edit(sessions, clock, {"keywords": keywords}, policy_id="elderly_health")
    async with sessions() as session:
        catalog = await answerer.refresh(session)
        assert await fixed.refresh(session) is SEED, "a fixed answerer never changes"
    assert catalog is answerer.catalog
    after = answerer.answer(question, "zh")
    assert isinstance(after, PolicyAnswer)
    assert after.policy_id == "elderly_health"
