"""The Redis batcher against a real Redis: concurrent commands share a round trip, each caller
gets its own reply or error, and a lost connection fails every waiter instead of hanging it."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from bot.redis_batch import RedisBatcher


async def test_commands_of_one_tick_travel_in_one_round_trip(redis: Redis) -> None:
    batcher = RedisBatcher(redis)
    stored = await asyncio.gather(
        *(batcher.execute("SET", f"k{n}", str(n), "PX", 60_000, "NX") for n in range(10))
    )
    values = await asyncio.gather(*(batcher.execute("GET", f"k{n}") for n in range(10)))

    assert stored == [b"OK"] * 10  # raw replies, as the server sends them
    assert values == [str(n).encode() for n in range(10)]
    assert (batcher.round_trips, batcher.commands) == (2, 20)


async def test_a_lone_command_goes_alone(redis: Redis) -> None:
    batcher = RedisBatcher(redis)
    assert await batcher.execute("SET", "lone", "1", "PX", 60_000, "NX")
    assert await batcher.execute("SET", "lone", "2", "PX", 60_000, "NX") is None
    assert (batcher.round_trips, batcher.commands) == (2, 2)


async def test_one_command_failing_fails_only_its_caller(redis: Redis) -> None:
    batcher = RedisBatcher(redis)
    await redis.rpush("a-list", "x")
    results = await asyncio.gather(
        batcher.execute("SET", "fine", "1"),
        batcher.execute("GET", "a-list"),  # WRONGTYPE
        batcher.execute("GET", "fine"),
        return_exceptions=True,
    )
    assert results[0] == b"OK"
    assert isinstance(results[1], ResponseError)
    assert results[2] == b"1"
    assert batcher.round_trips == 1


async def test_a_cancelled_caller_leaves_the_others_their_replies(redis: Redis) -> None:
    batcher = RedisBatcher(redis)
    doomed = asyncio.ensure_future(batcher.execute("SET", "doomed", "1"))
    kept = asyncio.ensure_future(batcher.execute("SET", "kept", "1"))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await kept == b"OK"
    assert doomed.cancelled()
    assert await redis.get("doomed") == b"1"  # already sent: it ran like any sent command


async def test_a_lost_connection_fails_every_waiter() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    batcher = RedisBatcher(unreachable)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                *(batcher.execute("GET", f"k{n}") for n in range(3)), return_exceptions=True
            ),
            timeout=10,
        )
    finally:
        await unreachable.aclose()
    assert all(isinstance(result, RedisConnectionError) for result in results)


async def test_a_connection_dropped_between_batches_is_replaced(redis: Redis) -> None:
    """Redis restarted (or dropped idle clients): the next batch reconnects instead of failing."""
    batcher = RedisBatcher(redis)
    await batcher.execute("SET", "survivor", "1")
    await redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no")
    assert await batcher.execute("GET", "survivor") == b"1"


async def test_an_error_reply_leaves_the_connection_in_step(redis: Redis) -> None:
    """Every reply of a batch is read, errors included: the next caller gets its own reply."""
    batcher = RedisBatcher(redis)
    await redis.rpush("a-list", "x")
    for n in range(3):
        failed, answered = await asyncio.gather(
            batcher.execute("GET", "a-list"),
            batcher.execute("ECHO", f"n{n}"),
            return_exceptions=True,
        )
        assert isinstance(failed, ResponseError)
        assert answered == f"n{n}".encode()
