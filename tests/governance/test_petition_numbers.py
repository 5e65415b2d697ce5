"""Ticket numbers are per local day and unique even when submitted concurrently; the intake
takes its number before its own transaction, so petitions do not queue behind each other."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.petitions.models import Petition
from governance.petitions.service import allocate_ticket_no, mask_phone, next_ticket_no
from tests.governance.conftest import file_petition

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


async def test_numbers_restart_each_local_day(sessions: async_sessionmaker[AsyncSession]) -> None:
    late_evening = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)  # 23:30 in Lhasa
    after_midnight = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # 00:30 next day in Lhasa
    async with sessions() as session, session.begin():
        first = await next_ticket_no(session, late_evening)
        second = await next_ticket_no(session, late_evening)
        next_day = await next_ticket_no(session, after_midnight)
    assert (first, second, next_day) == ("20261122-0001", "20261122-0002", "20261123-0001")


async def test_concurrent_submissions_never_share_a_number(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)

    async def one() -> str:
        async with sessions() as session, session.begin():
            return await next_ticket_no(session, now)

    numbers = await asyncio.gather(*(one() for _ in range(20)))
    assert sorted(numbers) == [f"20261122-{n:04d}" for n in range(1, 21)]


async def test_an_intake_still_open_does_not_hold_up_the_next_number(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    if sessions.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: any open write transaction holds up the others")
    first = await allocate_ticket_no(sessions, NOW)
    async with sessions() as intake, intake.begin():
        await file_petition(intake, now=NOW, ticket_no=first)
        # A second resident confirms meanwhile: the counter row is not locked by the intake.
        second = await asyncio.wait_for(allocate_ticket_no(sessions, NOW), timeout=5)
    assert (first, second) == ("20261122-0001", "20261122-0002")


async def test_a_petition_that_fails_to_commit_leaves_its_number_unused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def failing_intake() -> None:
        ticket_no = await allocate_ticket_no(sessions, NOW)
        async with sessions() as intake, intake.begin():
            await file_petition(intake, now=NOW, ticket_no=ticket_no)
            raise RuntimeError("the intake fails after storing the petition")

    with pytest.raises(RuntimeError):
        await failing_intake()
    async with sessions() as session, session.begin():
        await file_petition(session, now=NOW, ticket_no=await allocate_ticket_no(sessions, NOW))
    async with sessions() as session:
        stored = (await session.scalars(select(Petition.ticket_no))).all()
    assert stored == ["20261122-0002"]


def test_phone_numbers_are_masked_for_cards() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0891-6321234") == "089****1234"
    assert mask_phone(None) == ""
