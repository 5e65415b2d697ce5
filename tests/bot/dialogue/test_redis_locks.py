"""The per-resident Redis lock: one turn at a time per resident, none across residents, and a
turn that outlived its lock never frees the lock a later turn holds."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import LockError

from bot.dialogue.locks import RedisUserLocks
from bot.redis_batch import RedisBatcher


async def test_turns_of_one_resident_never_overlap(redis: Redis) -> None:
    # Two lock objects stand for two gateway workers.
    workers = [RedisUserLocks(RedisBatcher(redis)) for _ in range(2)]
    inside: list[int] = []
    overlaps: list[int] = []

    async def turn(n: int) -> None:
        async with workers[n % 2].hold("resident-1"):
            if inside:
                overlaps.append(n)
            inside.append(n)
            await asyncio.sleep(0.02)
            inside.remove(n)

    await asyncio.gather(*(turn(n) for n in range(6)))
    assert overlaps == []
    assert await redis.exists("minqing:user-lock:resident-1") == 0


async def test_other_residents_do_not_wait(redis: Redis) -> None:
    locks = RedisUserLocks(RedisBatcher(redis))
    async with locks.hold("resident-1"):
        async with asyncio.timeout(1):
            async with locks.hold("resident-2"):
                pass


async def test_a_lock_held_too_long_gives_up_with_a_lock_error(redis: Redis) -> None:
    locks = RedisUserLocks(RedisBatcher(redis), timeout_seconds=5)
    async with locks.hold("resident-1"):
        with pytest.raises(LockError):
            async with RedisUserLocks(RedisBatcher(redis), timeout_seconds=0.2).hold("resident-1"):
                pass


async def test_a_turn_that_outlived_its_lock_does_not_free_the_next_turns(
    redis: Redis,
) -> None:
    locks = RedisUserLocks(RedisBatcher(redis), timeout_seconds=0.2)
    async with locks.hold("resident-1"):
        await asyncio.sleep(0.3)  # the lock expired under this turn
        async with asyncio.timeout(1):
            async with RedisUserLocks(RedisBatcher(redis), timeout_seconds=5).hold("resident-1"):
                pass
        await redis.set("minqing:user-lock:resident-1", "a later turn's token", px=5000)
    assert await redis.get("minqing:user-lock:resident-1") == b"a later turn's token"
