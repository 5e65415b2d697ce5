"""Dispatch by the responsibility matrix: roles per category and grid, external units, fallback."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import ManualClock
from governance.directory.models import Staff
from governance.outbox.models import OutboxChannel
from governance.petitions.dispatch import change_place, dispatch
from governance.petitions.lifecycle import Refused, transition
from governance.petitions.models import PetitionStatus, ReturnReason
from governance.petitions.responsibility import ResponsibilityError, ResponsibilityMatrix
from nlu.parsed import CATEGORIES
from tests.governance.conftest import BASE_URL, DATA, POLICIES, file_petition, outbox, resident


@pytest.mark.parametrize(
    ("category", "grid_id", "point", "assignee"),
    [
        ("safety", "G01", "GP-0101", "S-0103"),  # grid police
        ("neighborhood", "G03", "GP-0301", "S-0301"),  # grid head mediates disputes
        ("sanitation", "G02", "GP-0201", "S-0202"),  # default: grid worker
        ("parking", "G02", "GP-0201", "S-0201"),  # G02's own exception: its grid head
        ("parking", "G01", "GP-0101", "S-0102"),  # elsewhere parking is the grid worker's
    ],
)
async def test_the_matrix_picks_the_role_in_the_petitions_grid(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
    category: str,
    grid_id: str,
    point: str,
    assignee: str,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(
            session, now=clock.now(), category=category, grid_id=grid_id, grid_point_id=point
        )
        result = await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        assert result.to_status == PetitionStatus.DISPATCHED
        assert petition.assignee_staff_id == assignee
        assert petition.external_unit is None


async def test_a_fallen_power_line_is_forwarded_to_the_power_company_and_tracked_by_the_office(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(
            session,
            now=clock.now(),
            openid="o-pasang",
            language="bo",
            category="power",
            hazard="fallen_wire",
            description="巷子里旧电线掉下来了",
        )
        await dispatch(
            session,
            petition,
            now=clock.now(),
            actor="system",
            matrix=matrix,
            public_base_url=BASE_URL,
        )
        assert petition.external_unit == "power_company"
        assert petition.assignee_staff_id == "S-C01"  # the community officer follows it up
        (push,) = await outbox(session, "push_status_dispatched")
        params: dict[str, Any] = push.payload["params"]
        assert push.payload["language"] == "bo"
        assert params["unit"] == matrix.unit("power_company").name_bo
        assert params["unit_phone"] == "95598"
        (card,) = await outbox(session, "card_dispatched")
        assert card.channel == OutboxChannel.HANDLER_GROUP
        assert card.recipient == "lhasa-gesanglinka"
        expected = {
            "ticket": petition.ticket_no,
            "assignee": "拉巴",
            "unit": "供电公司（国家电网）",
            "unit_phone": "95598",
            "phone": "138****5678",
            "hazard": "fallen_wire",
            "url": f"{BASE_URL}/console/cases/{petition.ticket_no}",
        }
        assert {k: card.payload["params"][k] for k in expected} == expected


async def test_a_grid_without_the_role_falls_back_to_the_community_officer(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        police = await session.get(Staff, "S-0303")
        assert police is not None
        police.active = False  # G03's officer is on leave
        petition = await file_petition(
            session, now=clock.now(), category="safety", grid_id="G03", grid_point_id="GP-0302"
        )
        await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        assert petition.assignee_staff_id == "S-C01"


async def test_a_reviewer_can_override_the_matrix_when_re_dispatching(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        await resident(session, "o-x", "zh", clock.now())
        petition = await file_petition(session, now=clock.now(), category="road")
        await dispatch(
            session,
            petition,
            now=clock.now(),
            actor="staff:S-C02",
            matrix=matrix,
            external_unit="water_company",
        )
        assert (petition.assignee_staff_id, petition.external_unit) == ("S-C01", "water_company")
        await dispatch(
            session,
            petition,
            now=clock.now(),
            actor="staff:S-C02",
            matrix=matrix,
            assignee_staff_id="S-0101",
        )
        assert (petition.assignee_staff_id, petition.external_unit) == ("S-0101", None)


def test_the_shipped_matrix_covers_the_nlu_categories() -> None:
    assert set(POLICIES.by_category) == set(CATEGORIES)
    matrix = ResponsibilityMatrix.load(
        DATA / "responsibility.yml", known_categories=POLICIES.by_category
    )
    assert set(matrix.categories) == set(CATEGORIES)
    assert matrix.rule_for("water", "G01").unit == "water_company"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"default": {"role": "grid_worker"}, "categories": {"lamp": {"role": "grid_worker"}}},
            "unknown category 'lamp'",
        ),
        ({"default": {"role": "janitor"}}, "unknown role 'janitor'"),
        ({"default": {"unit": "gas_company"}}, "unknown external unit 'gas_company'"),
        ({"default": {"role": "grid_worker", "unit": "x"}}, "exactly one of role or unit"),
        ({"categories": {}}, "a default rule is required"),
        (
            {
                "default": {"role": "grid_worker"},
                "grids": {"G01": {"lamp": {"role": "grid_head"}}},
            },
            "unknown category 'lamp'",
        ),
        (
            {"default": {"role": "grid_worker"}, "external_units": {"gas": {"name_zh": "燃气"}}},
            "needs name_zh, name_bo and phone",
        ),
    ],
)
def test_a_bad_matrix_is_refused_with_a_clear_error(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ResponsibilityError, match=message):
        ResponsibilityMatrix.from_dict(raw, known_categories=CATEGORIES)


def test_an_unknown_category_at_dispatch_time_is_refused(matrix: ResponsibilityMatrix) -> None:
    with pytest.raises(ResponsibilityError, match="unknown petition category 'lamp'"):
        matrix.rule_for("lamp", "G01")


async def test_a_wrong_area_return_is_re_dispatched_to_the_right_grid(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now(), category="sanitation")
        await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        await transition(
            session,
            petition,
            PetitionStatus.RETURNED,
            actor="staff:S-0102",
            now=clock.now(),
            reason=ReturnReason.WRONG_AREA,
        )
        with pytest.raises(Refused) as outside:
            await change_place(
                session,
                petition,
                grid_id="G02",
                grid_point_id="GP-0301",
                now=clock.now(),
                actor="staff:S-C01",
                matrix=matrix,
            )
        assert outside.value.code == "grid_point_not_in_grid"
        await change_place(
            session,
            petition,
            grid_id="G02",
            grid_point_id="GP-0202",
            now=clock.now(),
            actor="staff:S-C01",
            matrix=matrix,
        )
        assert (petition.status, petition.grid_id, petition.assignee_staff_id) == (
            PetitionStatus.DISPATCHED,
            "G02",
            "S-0202",
        )
        cards = await outbox(session, "card_dispatched")
        assert [c.payload["params"]["grid"] for c in cards] == [
            "第一网格（北京中路片区）",
            "第二网格（纳金路片区）",
        ]
