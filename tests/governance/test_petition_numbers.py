"""Ticket numbers are per local day, gap-free and unique even when submitted concurrently."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.petitions.service import mask_phone, next_ticket_no


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


def test_phone_numbers_are_masked_for_cards() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0891-6321234") == "089****1234"
    assert mask_phone(None) == ""
