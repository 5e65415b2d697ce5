"""The callback route spends one reply budget from arrival: a slow replay check or dedup claim
leaves less time for the turn, and a replay store slower than the whole budget asks WeChat to
retry (503) instead of answering after WeChat has given up."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from bot.kv import KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore
from bot.messages import InboundMessage
from bot.redis_batch import RedisBatcher
from bot.wechat.inbound import parse_inbound
from bot.wechat.routes import SUCCESS, CallbackHandler, TurnText
from bot.wechat.security import CallbackSecurity
from governance.clock import SystemClock
from simulator.crypto import signature
from tests.security.conftest import TOKEN, message_xml

BUDGET = 1.0


class SlowStore(MemoryKeyValueStore):
    """A replay store whose writes take `delay` seconds (an overloaded database)."""

    def __init__(self, delay: float) -> None:
        super().__init__(SystemClock())
        self.delay = delay

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        await asyncio.sleep(self.delay)
        return await super().add(key, value, ttl_seconds)


class Recorder:
    def __init__(self, claim_delay: float = 0.0, turn_seconds: float = 0.0) -> None:
        self.claim_delay = claim_delay
        self.turn_seconds = turn_seconds
        self.turns: list[str] = []
        self.delivered: list[list[str]] = []
        self.claimed: list[str] = []
        self.released: list[str] = []

    async def claim(self, key: str) -> bool:
        await asyncio.sleep(self.claim_delay)
        self.claimed.append(key)
        return True

    async def release(self, key: str) -> None:
        self.released.append(key)

    async def turn(self, message: InboundMessage) -> TurnText | None:
        self.turns.append(message.text)
        await asyncio.sleep(self.turn_seconds)
        return TurnText(f"got {message.text}", [])

    async def deliver(
        self, _m: InboundMessage, texts: list[str], _v: list[dict[str, Any]]
    ) -> None:
        self.delivered.append(texts)


async def _serve(
    aiohttp_client: Any,
    store: KeyValueStore,
    recorder: Recorder,
    *,
    budget: float = BUDGET,
    max_concurrent_turns: int = 16,
    max_concurrent_checks: int = 64,
) -> tuple[CallbackHandler, Any]:
    """The callback route alone, with the recorder's turn, claim and late delivery."""
    handler = CallbackHandler(
        security=CallbackSecurity(
            token=TOKEN,
            receive_id="wx-dev-appid",
            aes_keys=[],
            replay_store=store,
            clock=SystemClock(),
        ),
        parse=parse_inbound,
        turn=recorder.turn,
        deliver_later=recorder.deliver,
        claim=recorder.claim,
        release=recorder.release,
        budget_seconds=budget,
        max_concurrent_turns=max_concurrent_turns,
        max_concurrent_checks=max_concurrent_checks,
    )
    app = web.Application()
    app.router.add_post("/wechat", handler.receive)
    return handler, await aiohttp_client(app)


def _now() -> str:
    return str(int(SystemClock().now().timestamp()))


async def _send(
    client: Any, nonce: str, openid: str = "o-x", text: str = "hi", timestamp: str | None = None
) -> tuple[int, str]:
    timestamp = timestamp or _now()
    query = {
        "signature": signature(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    body = message_xml(openid, Content=text)
    async with client.post("/wechat", params=query, data=body) as response:
        return response.status, await response.text()


async def _post(
    aiohttp_client: Any, store: MemoryKeyValueStore, recorder: Recorder
) -> tuple[int, str]:
    handler, client = await _serve(aiohttp_client, store, recorder)
    answer = await _send(client, "budget")
    await handler.drain()
    return answer


async def test_a_replay_store_slower_than_the_budget_asks_wechat_to_retry(
    aiohttp_client: Any,
) -> None:
    recorder = Recorder()
    status, _ = await _post(aiohttp_client, SlowStore(delay=BUDGET * 3), recorder)
    assert status == 503
    assert recorder.turns == [], "nothing may run for a delivery WeChat will send again"
    # The claim was taken beside the replay check: given back, so the retry is not a duplicate.
    assert recorder.released == recorder.claimed != []


async def test_a_nonce_reused_with_another_body_is_refused_and_gives_its_claim_back(
    aiohttp_client: Any,
) -> None:
    recorder = Recorder()
    handler, client = await _serve(aiohttp_client, MemoryKeyValueStore(SystemClock()), recorder)
    # One timestamp for both: the replay key is (timestamp, nonce), and a second boundary
    # between two sends would make the forged one a fresh delivery.
    timestamp = _now()
    first = await _send(client, "same-nonce", text="first", timestamp=timestamp)
    forged = await _send(client, "same-nonce", text="forged", timestamp=timestamp)
    await handler.drain()
    assert first[0] == 200
    assert forged[0] == 403
    assert recorder.turns == ["first"]
    assert len(recorder.claimed) == 2
    assert recorder.released == recorder.claimed[1:]


async def test_the_replay_check_and_the_claim_share_one_redis_round_trip(
    aiohttp_client: Any, redis: Redis
) -> None:
    batcher = RedisBatcher(redis)
    store = RedisKeyValueStore(batcher, prefix="routes-test:")

    class RedisClaims(Recorder):
        async def claim(self, key: str) -> bool:
            return await store.add(f"dedup:{key}", "1", 8)

    recorder = RedisClaims()
    handler, client = await _serve(aiohttp_client, store, recorder)
    status, text = await _send(client, "one-trip")
    await handler.drain()
    assert (status, "got hi" in text) == (200, True)
    assert (batcher.commands, batcher.round_trips) == (2, 1)


class BrokenStore(MemoryKeyValueStore):
    """A replay store that is down (e.g. Redis refusing connections under a storm)."""

    def __init__(self) -> None:
        super().__init__(SystemClock())

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        raise ConnectionError("Too many connections")


async def test_a_failing_replay_store_asks_wechat_to_retry_without_a_traceback(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="bot.wechat.routes"):
        status, _ = await _post(aiohttp_client, BrokenStore(), recorder)
    assert status == 503
    assert recorder.turns == []
    records = [r for r in caplog.records if r.name == "bot.wechat.routes"]
    assert len(records) == 1
    assert "Too many connections" in records[0].getMessage()
    assert records[0].exc_info is None


async def test_a_failing_claim_asks_wechat_to_retry(aiohttp_client: Any) -> None:
    class BrokenClaim(Recorder):
        async def claim(self, _key: str) -> bool:
            raise ConnectionError("Redis down")

    recorder = BrokenClaim()
    status, _ = await _post(aiohttp_client, MemoryKeyValueStore(SystemClock()), recorder)
    assert status == 503
    assert recorder.turns == []


async def test_the_claim_spends_the_same_budget_as_the_turn(aiohttp_client: Any) -> None:
    # claim 0.6 + turn 0.6 > budget 1.0: the turn would have fitted a budget of its own.
    recorder = Recorder(claim_delay=0.6, turn_seconds=0.6)
    status, text = await _post(aiohttp_client, MemoryKeyValueStore(SystemClock()), recorder)
    assert (status, text) == (200, SUCCESS)
    assert recorder.delivered == [["got hi"]], "the late reply goes out through the outbox"


async def test_a_fast_turn_is_still_answered_passively(aiohttp_client: Any) -> None:
    recorder = Recorder(claim_delay=0.1, turn_seconds=0.1)
    status, text = await _post(aiohttp_client, MemoryKeyValueStore(SystemClock()), recorder)
    assert status == 200
    assert "got hi" in text
    assert recorder.delivered == []


async def test_a_burst_runs_at_most_the_allowed_turns_at_once_and_loses_none(
    aiohttp_client: Any,
) -> None:
    class Counting(Recorder):
        running = 0
        peak = 0

        async def turn(self, message: InboundMessage) -> TurnText | None:
            self.running += 1
            self.peak = max(self.peak, self.running)
            result = await super().turn(message)
            self.running -= 1
            return result

    recorder = Counting(turn_seconds=0.6)
    handler, client = await _serve(
        aiohttp_client,
        MemoryKeyValueStore(SystemClock()),
        recorder,
        budget=1.0,
        max_concurrent_turns=2,
    )
    answers = await asyncio.gather(
        *(_send(client, f"burst-{n}", f"o-{n}", f"m{n}") for n in range(6))
    )
    await handler.drain()
    assert recorder.peak == 2
    assert sorted(recorder.turns) == [f"m{n}" for n in range(6)]
    assert all(status == 200 for status, _ in answers)
    passive = [text for _, text in answers if "got m" in text]
    # Two slots x 0.6 s in a 1 s budget: at most the first pair answers passively; the others
    # waited for a slot, were answered "success" and their replies went out later. Each reply
    # leaves exactly once, one way or the other.
    assert len(passive) <= 2
    assert [text for _, text in answers].count(SUCCESS) == 6 - len(passive)
    assert len(passive) + len(recorder.delivered) == 6


class CountingStore(SlowStore):
    """A slow replay store that records how many writes it ever had in flight at once."""

    running = 0
    peak = 0

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            return await super().add(key, value, ttl_seconds)
        finally:
            self.running -= 1


async def test_a_burst_waits_for_check_slots_instead_of_exhausting_the_store(
    aiohttp_client: Any,
) -> None:
    store = CountingStore(delay=0.1)
    recorder = Recorder()
    handler, client = await _serve(
        aiohttp_client, store, recorder, budget=2.0, max_concurrent_checks=2
    )
    answers = await asyncio.gather(
        *(_send(client, f"check-{n}", f"o-{n}", f"m{n}") for n in range(6))
    )
    await handler.drain()
    assert store.peak == 2
    assert all(status == 200 for status, _ in answers)
    assert sorted(recorder.turns) == [f"m{n}" for n in range(6)]


async def test_no_check_slot_within_the_budget_asks_wechat_to_retry(
    aiohttp_client: Any,
) -> None:
    # One slot, replay writes of 0.6 s, budget 1 s: the second callback waits 0.6 s for the
    # slot, then its own write would end at 1.2 s.
    recorder = Recorder()
    handler, client = await _serve(
        aiohttp_client, SlowStore(delay=0.6), recorder, budget=1.0, max_concurrent_checks=1
    )
    first, second = await asyncio.gather(
        _send(client, "slot-1", "o-1", "first"), _send(client, "slot-2", "o-2", "second")
    )
    await handler.drain()
    assert sorted([first[0], second[0]]) == [200, 503]
    assert len(recorder.turns) == 1
