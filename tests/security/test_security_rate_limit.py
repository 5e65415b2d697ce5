"""Per-resident rate limiting: exact across workers on every store, a polite slow-down reply
sent once per window, and petitions that still go through when the resident is over the limit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app_keys import PIPELINE
from bot.kv import KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore, SqlKeyValueStore
from bot.ratelimit import RateLimiter
from bot.redis_batch import RedisBatcher
from governance.clock import ManualClock, SystemClock
from tests.bot.conftest import Stack, StackFactory
from tests.security.conftest import petition_count

REDIS_URL = "redis://127.0.0.1:6379/8"
SLOW_DOWN_ZH = "请稍等一分钟"
SLOW_DOWN_BO = "སྐར་མ་གཅིག་ཙམ་སྒུག"


@pytest.fixture(params=["memory", "sql", "redis"])
async def store(
    request: pytest.FixtureRequest,
    clock: ManualClock,
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryKeyValueStore(clock)
    elif request.param == "sql":
        yield SqlKeyValueStore(sessions, clock)
    else:
        redis = Redis.from_url(REDIS_URL)
        try:
            await redis.ping()
        except OSError:
            pytest.skip("no Redis at 127.0.0.1:6379")
        yield RedisKeyValueStore(RedisBatcher(redis), prefix=f"security-test:{uuid.uuid4().hex}:")
        await redis.aclose()


async def test_the_limit_is_exact_and_the_notice_is_sent_once(
    store: KeyValueStore, clock: ManualClock
) -> None:
    limiter = RateLimiter(store, clock, limit=5, window_seconds=60)
    decisions = [await limiter.hit("o-spammer") for _ in range(8)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.notify for d in decisions] == [False] * 5 + [True, False, False]
    assert (await limiter.hit("o-neighbour")).allowed, "other residents are not affected"
    clock.advance(timedelta(seconds=60))
    again = [await limiter.hit("o-spammer") for _ in range(6)]
    assert [d.allowed for d in again] == [True] * 5 + [False]
    assert again[-1].notify, "told again in the next window"


async def test_workers_sharing_a_store_share_one_count(
    store: KeyValueStore, clock: ManualClock
) -> None:
    """Two gateway workers (two limiters, one store) racing: exactly `limit` get through."""
    workers = [RateLimiter(store, clock, limit=7, window_seconds=60) for _ in range(2)]
    decisions = await asyncio.gather(*(workers[i % 2].hit("o-both") for i in range(20)))
    assert sum(d.allowed for d in decisions) == 7
    assert sum(d.notify for d in decisions) == 1


def test_nonsense_limits_are_refused(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(MemoryKeyValueStore(clock), clock, limit=0)


async def _limited_stack(make_stack: StackFactory, limit: int) -> Stack:
    stack = await make_stack()
    limiter = RateLimiter(
        SqlKeyValueStore(stack.sessions, SystemClock()),
        ManualClock(SystemClock().now()),  # a frozen window: no boundary inside the test
        limit=limit,
    )
    stack.app[PIPELINE].rate_limiter = limiter
    return stack


async def test_a_spamming_resident_is_told_once_then_ignored(make_stack: StackFactory) -> None:
    stack = await _limited_stack(make_stack, limit=3)
    await stack.sim("POST", "/sim/api/residents", openid="o-spam", nickname="spam")
    replies = [await stack.say("o-spam", "你好") for _ in range(6)]
    assert all(reply and SLOW_DOWN_ZH not in reply for reply in replies[:3])
    assert SLOW_DOWN_ZH in replies[3]
    assert replies[4:] == ["", ""], "the slow-down reply is not spammed back"


async def test_a_tibetan_spammer_is_told_in_tibetan(make_stack: StackFactory) -> None:
    stack = await _limited_stack(make_stack, limit=2)
    await stack.sim("POST", "/sim/api/residents", openid="o-spam-bo", nickname="spam")
    replies = [await stack.say("o-spam-bo", "བཀྲ་ཤིས་བདེ་ལེགས།") for _ in range(3)]
    assert SLOW_DOWN_BO in replies[2]


async def test_a_petition_is_filed_even_over_the_limit(make_stack: StackFactory) -> None:
    stack = await _limited_stack(make_stack, limit=2)
    openid = "o-spam-petition"
    await stack.sim("POST", "/sim/api/residents", openid=openid, nickname="spam")
    for _ in range(4):
        await stack.say(openid, "你好")
    # Over the limit: a fresh report is still taken, and so is every answer of its form.
    first = await stack.say(openid, "院门口的路灯坏了好几天晚上很黑")
    assert first
    assert SLOW_DOWN_ZH not in first
    scan = await stack.sim("POST", f"/sim/api/residents/{openid}/scan", scene="report:GP-0101")
    assert scan["passive_reply"]["content"]
    asked = await stack.say(openid, "院门口的路灯坏了好几天晚上很黑")
    for answer in ("跳过", "1"):
        if "工单号" in asked:
            break
        asked = await stack.say(openid, answer)
    assert "工单号" in asked, asked
    assert await petition_count(stack) == 1
