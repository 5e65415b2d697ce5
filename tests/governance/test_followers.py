"""Duplicates, "me too" and merging (并单)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import ManualClock
from governance.petitions.dispatch import dispatch
from governance.petitions.followers import find_duplicate, follow, merge
from governance.petitions.lifecycle import Refused, followers, transition
from governance.petitions.models import PetitionFollower, PetitionStatus
from governance.petitions.responsibility import ResponsibilityMatrix
from tests.governance.conftest import events, file_petition, outbox, resident


async def test_a_duplicate_is_the_open_case_at_the_same_point_and_category_within_72_hours(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        original = await file_petition(session, now=clock.now(), grid_point_id="GP-0101")
        typed = await file_petition(
            session, now=clock.now(), openid="o-b", grid_id="G02", grid_point_id=None
        )
        clock.advance(timedelta(hours=5))

        async def duplicate(
            point: str | None,
            *,
            grid: str = "G01",
            category: str = "streetlight",
            hours_later: float = 0,
            window_hours: float = 72,
        ) -> int | None:
            found = await find_duplicate(
                session,
                grid_point_id=point,
                grid_id=grid,
                category=category,
                now=clock.now() + timedelta(hours=hours_later),
                window_hours=window_hours,
            )
            return found.id if found else None

        assert await duplicate("GP-0101") == original.id
        assert await duplicate("GP-0102") is None, "another poster is another place"
        assert await duplicate("GP-0101", category="road") is None
        assert await duplicate(None, grid="G02") == typed.id, "no grid point: match the grid"
        assert await duplicate("GP-0101", hours_later=68) is None, "older than the 72 h window"
        assert await duplicate("GP-0101", hours_later=68, window_hours=96) == original.id
        await transition(session, original, PetitionStatus.CANCELLED, actor="x", now=clock.now())
        assert await duplicate("GP-0101") is None, "only open cases are offered"


async def test_me_too_adds_a_follower_once_and_raises_the_interest_count(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now(), openid="o-dolkar")
        neighbour = await resident(session, "o-norbu", "bo", clock.now())
        first = await follow(session, petition, neighbour, clock.now())
        again = await follow(session, petition, neighbour, clock.now())
        own = await follow(session, petition, "o-dolkar", clock.now())
        assert (first.added, first.interest_count) == (True, 2)
        assert (again.added, again.interest_count) == (False, 2)
        assert (own.added, own.interest_count) == (False, 2)
        assert petition.interest_count == 2
        assert [(f.openid, f.language) for f in await followers(session, petition)] == [
            ("o-dolkar", "zh"),
            ("o-norbu", "bo"),
        ]
        followed = [e for e in await events(session, petition.id) if e.kind == "followed"]
        assert [e.actor for e in followed] == ["resident:o-norbu"]


async def test_following_a_closed_case_is_refused(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now())
        await transition(session, petition, PetitionStatus.CANCELLED, actor="x", now=clock.now())
        with pytest.raises(Refused) as refused:
            await follow(session, petition, "o-other", clock.now())
        assert refused.value.code == "cannot_follow"


async def test_merging_moves_the_duplicates_people_to_the_main_case(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        target = await file_petition(session, now=clock.now(), openid="o-dolkar")
        await follow(
            session, target, await resident(session, "o-a", "zh", clock.now()), clock.now()
        )
        clock.advance(timedelta(hours=1))
        source = await file_petition(session, now=clock.now(), openid="o-pema", language="bo")
        await follow(
            session, source, await resident(session, "o-b", "bo", clock.now()), clock.now()
        )
        await follow(session, source, "o-a", clock.now())  # already follows the target too

        result = await merge(session, source, target, "staff:S-0102", clock.now())
        assert result.moved == ("o-pema", "o-b")
        assert result.interest_count == target.interest_count == 4
        assert source.status == PetitionStatus.MERGED
        assert source.merged_into_id == target.id
        assert [f.openid for f in await followers(session, target)] == [
            "o-dolkar",
            "o-a",
            "o-pema",
            "o-b",
        ]
        left = await session.scalars(
            select(PetitionFollower).where(PetitionFollower.petition_id == source.id)
        )
        assert left.all() == []
        merged = await outbox(session, "push_merged")
        assert [(m.recipient, m.payload["language"]) for m in merged] == [
            ("o-pema", "bo"),
            ("o-b", "bo"),
            ("o-a", "zh"),
        ]
        assert merged[0].payload["params"]["target_ticket"] == target.ticket_no
        assert [e.kind for e in await events(session, target.id)][-1] == "merged_in"

        await dispatch(session, target, now=clock.now(), actor="system", matrix=matrix)
        pushes = await outbox(session, "push_status_dispatched")
        assert {p.recipient for p in pushes} == {"o-dolkar", "o-a", "o-pema", "o-b"}

        with pytest.raises(Refused) as twice:
            await merge(session, target, target, "staff:S-0102", clock.now())
        assert twice.value.code == "merge_target_invalid"
