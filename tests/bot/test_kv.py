"""The expiring key-value stores behave the same on SQL (both backends), Redis and memory."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.kv import KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore, SqlKeyValueStore
from bot.redis_batch import RedisBatcher
from governance.clock import ManualClock


async def _contract(store: KeyValueStore, clock: ManualClock | None) -> None:
    assert await store.add("nonce:a", "1", 60)
    assert not await store.add("nonce:a", "2", 60), "a live key cannot be added twice"
    assert await store.get("nonce:a") == "1"
    await store.set("token", "abc", 60)
    assert await store.get("token") == "abc"
    await store.delete("token")
    assert await store.get("token") is None
    if clock is not None:
        clock.advance(timedelta(seconds=61))
        assert await store.get("nonce:a") is None
        assert await store.add("nonce:a", "3", 60), "an expired key can be claimed again"


async def test_memory_store(clock: ManualClock) -> None:
    await _contract(MemoryKeyValueStore(clock), clock)


async def test_memory_store_drops_expired_entries(clock: ManualClock) -> None:
    """One nonce per message: expired ones must not pile up in a long-running process."""
    store = MemoryKeyValueStore(clock)
    for n in range(MemoryKeyValueStore.PURGE_EVERY - 1):
        await store.add(f"nonce:{n}", "1", 10)
    clock.advance(timedelta(seconds=11))
    await store.set("token", "live", 3600)
    assert len(store) == 1
    assert await store.get("token") == "live"


async def test_sql_store(sessions: async_sessionmaker[AsyncSession], clock: ManualClock) -> None:
    store = SqlKeyValueStore(sessions, clock)
    await _contract(store, clock)
    clock.advance(timedelta(hours=1))
    assert await store.purge_expired() >= 1


async def test_sql_add_is_atomic_under_concurrency(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    store = SqlKeyValueStore(sessions, clock)
    results = await asyncio.gather(*(store.add("dedup:msg:1", str(n), 60) for n in range(10)))
    assert results.count(True) == 1


async def test_redis_store(redis: Redis) -> None:
    store = RedisKeyValueStore(RedisBatcher(redis), prefix="test:")
    await _contract(store, None)
    results = await asyncio.gather(*(store.add("dedup:x", "1", 60) for _ in range(10)))
    assert results.count(True) == 1
