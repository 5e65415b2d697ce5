"""The scheduler runs at-start jobs even when start-up is slow, and only in the lease holder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.leader import LeaderLease
from bot.jobs.scheduler import Schedule, Scheduler
from bot.kv import SqlKeyValueStore
from governance.clock import SystemClock


async def test_a_slow_start_delays_the_at_start_jobs_but_does_not_drop_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = SqlKeyValueStore(sessions, SystemClock())
    ran: dict[str, asyncio.Event] = {"daily": asyncio.Event(), "sweep": asyncio.Event()}

    def job(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ran[name].set()

        return run

    leader = Scheduler(LeaderLease(store, ttl_seconds=30), timezone="Asia/Shanghai")
    leader.add("daily", job("daily"), Schedule(hour=3, at_start=True))
    leader.add("sweep", job("sweep"), Schedule(seconds=3600, at_start=True))
    # start-up blocked (model loading) longer than APScheduler's default 1 s grace
    time.sleep(1.5)  # noqa: ASYNC251
    await leader.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ran.values())), 5)
    finally:
        await leader.stop()


async def test_a_process_without_the_lease_runs_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = SqlKeyValueStore(sessions, SystemClock())
    holder = LeaderLease(store, ttl_seconds=30)
    assert await holder.acquire_or_renew()
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    follower = Scheduler(LeaderLease(store, ttl_seconds=30), timezone="Asia/Shanghai")
    follower.add("sweep", job, Schedule(seconds=3600, at_start=True))
    await follower.start()
    try:
        await asyncio.sleep(0.5)
        assert not follower.is_leader
        assert not ran.is_set()
    finally:
        await follower.stop()
    await holder.release()
