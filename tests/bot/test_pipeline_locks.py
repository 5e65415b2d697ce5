"""Two messages from one resident at once are handled one after the other, never interleaved;
on Redis a turn takes its lock and its rate-limit slot in one round trip."""

from __future__ import annotations

import asyncio
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_pipeline
from bot.dialogue.locks import LocalUserLocks, RedisUserLocks, UserLocks
from bot.kv import RedisKeyValueStore
from bot.messages import InboundMessage, MessageKind
from bot.pipeline import Pipeline
from bot.ratelimit import RateLimiter
from bot.redis_batch import RedisBatcher
from bot.settings import Settings
from governance.clock import ManualClock
from nlu.embedded import EmbeddedEngine
from nlu.parsed import NluEngine, ParsedMessage


class GatedNlu:
    """The real engine, but the first parse waits until the test lets it go."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self.engine = engine
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    async def parse(self, text: str) -> ParsedMessage:
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            await self.release.wait()
        return await self.engine.parse(text)


def _text(n: int, text: str, when: datetime, user_id: str = "o-double") -> InboundMessage:
    return InboundMessage(
        user_id=user_id,
        account_id="gh",
        dedup_key=f"msg:{n}",
        received_at=when,
        kind=MessageKind.TEXT,
        text=text,
    )


def _pipeline(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    embedded_nlu: EmbeddedEngine,
    *,
    locks: UserLocks,
    nlu: NluEngine | None = None,
) -> Pipeline:
    return build_pipeline(
        settings,
        sessions=sessions,
        clock=clock,
        nlu=nlu or embedded_nlu,
        categoriser=embedded_nlu,
        locks=locks,
        notify_outbox=lambda: None,
    )


async def test_a_second_message_waits_for_the_first_turn_to_finish(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    embedded_nlu: EmbeddedEngine,
    clock: ManualClock,
) -> None:
    nlu = GatedNlu(embedded_nlu)
    pipeline = _pipeline(settings, sessions, clock, embedded_nlu, nlu=nlu, locks=LocalUserLocks())
    first = asyncio.create_task(pipeline.handle(_text(1, "路灯坏了好几天了晚上很黑", clock.now())))
    await nlu.started.wait()
    second = asyncio.create_task(pipeline.handle(_text(2, "北京中路12号院", clock.now())))
    await asyncio.sleep(0.05)
    assert nlu.calls == 1, "the second turn must not start while the first holds the lock"
    nlu.release.set()
    first_result, second_result = await asyncio.gather(first, second)
    assert [r.key for r in first_result.replies] == ["utter_ask_location"]
    assert [r.key for r in second_result.replies] == ["utter_ask_phone"], (
        "the second message answered the first turn's question"
    )


async def test_the_lock_and_the_rate_slot_share_a_redis_round_trip(
    redis: Redis,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    embedded_nlu: EmbeddedEngine,
    clock: ManualClock,
) -> None:
    batcher = RedisBatcher(redis)
    pipeline = _pipeline(settings, sessions, clock, embedded_nlu, locks=RedisUserLocks(batcher))
    pipeline.rate_limiter = RateLimiter(RedisKeyValueStore(batcher), clock)

    result = await pipeline.handle(_text(1, "谢谢", clock.now(), user_id="o-redis"))

    assert result.replies
    # Lock + rate slot together, then the lock's release.
    assert (batcher.commands, batcher.round_trips) == (3, 2)
    assert await redis.exists("minqing:user-lock:o-redis") == 0
