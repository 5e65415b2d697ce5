"""Compare-and-set on the shared stores, and the scheduler lease that relies on it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.leader import LEASE_KEY, LeaderLease
from bot.kv import KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore, SqlKeyValueStore
from bot.redis_batch import RedisBatcher
from governance.clock import ManualClock

REDIS_URL = os.environ.get("MINQING_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/9")


async def _compare_and_set(store: KeyValueStore) -> None:
    await store.set("lock", "owner-1", 60)
    assert not await store.replace("lock", "owner-2", "owner-2", 60), "not the holder"
    assert await store.get("lock") == "owner-1"
    assert await store.replace("lock", "owner-1", "owner-1b", 60)
    assert await store.get("lock") == "owner-1b"
    assert not await store.delete_if("lock", "owner-1"), "a stale owner cannot release"
    assert await store.delete_if("lock", "owner-1b")
    assert await store.get("lock") is None
    assert not await store.replace("lock", "owner-1b", "x", 60), "gone keys are not recreated"


async def test_memory_compare_and_set(clock: ManualClock) -> None:
    await _compare_and_set(MemoryKeyValueStore(clock))


async def test_sql_compare_and_set(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    store = SqlKeyValueStore(sessions, clock)
    await _compare_and_set(store)
    await store.set("lease", "a", 30)
    clock.advance(timedelta(seconds=31))
    assert not await store.replace("lease", "a", "a", 30), "an expired lease is not renewed"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError as error:
        await client.aclose()
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {error}")
    yield client
    await client.aclose()


async def test_redis_compare_and_set(redis: Redis) -> None:
    await _compare_and_set(RedisKeyValueStore(RedisBatcher(redis), prefix="minqing-cas-test:"))


async def test_a_lease_lost_to_expiry_is_not_renewed_over_the_new_holder(
    clock: ManualClock,
) -> None:
    store = MemoryKeyValueStore(clock)
    first, second = LeaderLease(store, ttl_seconds=30), LeaderLease(store, ttl_seconds=30)
    assert await first.acquire_or_renew()
    assert not await second.acquire_or_renew()
    clock.advance(timedelta(seconds=31))  # the first holder stalled past its lease
    assert await second.acquire_or_renew()
    assert not await first.acquire_or_renew(), "the stalled holder must not take it back"
    await first.release()
    assert await store.get(LEASE_KEY) == second.holder, "release by a non-holder is a no-op"
    await second.release()
    assert await store.get(LEASE_KEY) is None
