"""`python -m bench.redis_batching`: client CPU per message of a turn's Redis commands, sent one
by one (redis-py, as before) or through `RedisBatcher`, at several numbers of concurrent turns.

Each simulated turn issues what a callback costs on Redis: the replay nonce and the dedup claim,
the lock and the rate-limit slot, a 5 ms pause for the turn itself, the lock's release and the
claim's extension. Needs a Redis at MINQING_BENCH_REDIS_URL (default db 12, flushed at the end).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from bot.kv import DELETE_IF_SCRIPT
from bot.redis_batch import RedisBatcher

REDIS_URL = os.environ.get("MINQING_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
TURNS = 3000
WARM_UP = 200


async def _one_by_one(redis: Redis, key: str) -> None:
    await redis.set(f"bench:nonce:{key}", "digest", nx=True, px=600_000)
    await redis.set(f"bench:claim:{key}", "1", nx=True, px=8_000)
    await redis.set(f"bench:lock:{key}", "token", nx=True, px=30_000)
    await redis.set(f"bench:rate:{key}", "1", nx=True, px=120_000)
    await asyncio.sleep(0.005)
    await redis.eval(DELETE_IF_SCRIPT, 1, f"bench:lock:{key}", "token")
    await redis.set(f"bench:claim:{key}", "1", px=3_600_000)


async def _batched(batcher: RedisBatcher, key: str) -> None:
    # As the gateway does now: replay + claim together, lock + rate slot together.
    await asyncio.gather(
        batcher.execute("SET", f"bench:nonce:{key}", "digest", "PX", 600_000, "NX"),
        batcher.execute("SET", f"bench:claim:{key}", "1", "PX", 8_000, "NX"),
    )
    await asyncio.gather(
        batcher.execute("SET", f"bench:lock:{key}", "token", "PX", 30_000, "NX"),
        batcher.execute("SET", f"bench:rate:{key}", "1", "PX", 120_000, "NX"),
    )
    await asyncio.sleep(0.005)
    await batcher.execute("EVAL", DELETE_IF_SCRIPT, 1, f"bench:lock:{key}", "token")
    await batcher.execute("SET", f"bench:claim:{key}", "1", "PX", 3_600_000)


async def _measure(mode: str, concurrency: int) -> str:
    redis = Redis.from_url(REDIS_URL)
    batcher = RedisBatcher(redis)
    turn: Callable[[str], Awaitable[None]] = (
        (lambda key: _batched(batcher, key))
        if mode == "batched"
        else (lambda key: _one_by_one(redis, key))
    )
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots:
            await turn(uuid.uuid4().hex)

    await asyncio.gather(*(one() for _ in range(WARM_UP)))
    trips_before = batcher.round_trips
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(TURNS)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await redis.flushdb()
    await redis.aclose()
    trips = (batcher.round_trips - trips_before) / TURNS if mode == "batched" else 6.0
    return (
        f"| {mode} | {concurrency} | {1e6 * cpu / TURNS:.0f} | {trips:.2f} | {TURNS / wall:.0f} |"
    )


def main() -> None:
    import uvloop

    print("| commands | concurrent turns | client CPU µs/turn | round trips/turn | turns/s |")  # noqa: T201
    print("|---|---|---|---|---|")  # noqa: T201
    for concurrency in (1, 4, 16):
        for mode in ("one by one", "batched", "one by one", "batched"):
            print(uvloop.run(_measure(mode, concurrency)), flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
