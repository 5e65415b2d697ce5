"""One scheduler leader across processes; housekeeping jobs are safe to run twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.housekeeping import alert_missing_calendar_years
from bot.jobs.leader import LeaderLease
from bot.kv import SqlKeyValueStore
from governance.clock import ManualClock
from governance.outbox.models import OutboxMessage


async def test_only_one_process_leads_until_its_lease_lapses(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    store = SqlKeyValueStore(sessions, clock)
    first, second = LeaderLease(store, ttl_seconds=30), LeaderLease(store, ttl_seconds=30)
    assert await first.acquire_or_renew()
    assert not await second.acquire_or_renew()
    clock.advance(timedelta(seconds=20))
    assert await first.acquire_or_renew(), "the holder renews its lease"
    clock.advance(timedelta(seconds=20))
    assert not await second.acquire_or_renew(), "a renewed lease is still held"
    clock.advance(timedelta(seconds=31))  # the first process died and stopped renewing
    assert await second.acquire_or_renew()
    assert not await first.acquire_or_renew()
    await second.release()
    assert await first.acquire_or_renew()


async def test_a_missing_calendar_year_alerts_each_community_once(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    # 2026-11-22: chinesecalendar knows 2026 but not 2027, and Lhasa has no 2027 overrides.
    assert await alert_missing_calendar_years(sessions, clock, "lhasa") == [2027]
    assert await alert_missing_calendar_years(sessions, clock, "lhasa") == [2027]
    async with sessions() as session:
        alerts = await session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.idempotency_key.like("calendar-missing:%")
            )
        )
    assert alerts == 1, "one demo community, one alert, however often the job runs"
