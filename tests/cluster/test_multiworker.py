"""Several workers, one truth: two gateway processes and two schedulers on PostgreSQL + Redis.

The simulator (its own process) plays WeChat and WeCom and posts residents' messages to worker
A; the tests also post signed callbacks straight to either worker, as a reverse proxy would.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import aiohttp
import pytest
from clusterharness import (
    MSG_IDS,
    STAFF_USER,
    TICKET_RE,
    Cluster,
    SimulatorClient,
    all_sent,
    enqueue_rows,
    eventually,
    file_petition,
    image_callback,
    petitions_of,
    post_callback,
    reply_content,
    start_draft,
    text_callback,
    wecom_entries,
)
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import SystemClock
from governance.outbox.models import OutboxMessage, OutboxStatus
from governance.petitions.models import Petition, SlaNudge

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


async def test_a_retry_on_another_worker_is_processed_once(
    cluster: Cluster,
    sim: SimulatorClient,
    http: aiohttp.ClientSession,
    db: async_sessionmaker[AsyncSession],
) -> None:
    openid = "o-cluster-retry"
    await start_draft(sim, openid, "GP-0102")
    await sim.say(openid, "服务中心门口的垃圾桶满了好几天没人清理")
    summary = await sim.say(openid, "跳过")
    assert "1" in str(summary["passive_reply"]), summary

    confirm = text_callback(openid, "1", msg_id=next(MSG_IDS))
    first, retry = await asyncio.gather(
        post_callback(http, cluster.a, confirm), post_callback(http, cluster.b, confirm)
    )

    assert (first.status, retry.status) == (200, 200)
    passive = [reply_content(answer) for answer in (first, retry)]
    receipts = [text for text in passive if TICKET_RE.search(text)]
    assert len(receipts) == 1, passive
    assert "" in passive, "the retry is answered `success`, not with a second turn"
    petitions = await petitions_of(db, openid)
    assert [p.ticket_no for p in petitions] == TICKET_RE.findall(receipts[0])
    # the worker that lost the claim queued nothing either: no ticket by customer message
    inbox = await sim.inbox(openid)
    assert not [m for m in inbox if TICKET_RE.search(str(m.get("content")))], inbox


async def test_one_residents_messages_on_two_workers_never_interleave(
    cluster: Cluster, sim: SimulatorClient, http: aiohttp.ClientSession
) -> None:
    """Each photo is added to the draft by a turn that saw every earlier photo (a lost update
    would show the same count twice and a smaller total)."""
    openid = "o-cluster-photos"
    await start_draft(sim, openid)
    counts: list[int] = []
    rounds = 4
    for _ in range(rounds):
        answers = await asyncio.gather(
            post_callback(http, cluster.a, image_callback(openid, msg_id=next(MSG_IDS))),
            post_callback(http, cluster.b, image_callback(openid, msg_id=next(MSG_IDS))),
        )
        for answer in answers:
            assert answer.status == 200
            found = re.search(r"共(\d+)张", reply_content(answer))
            assert found, answer
            counts.append(int(found.group(1)))
    assert sorted(counts) == list(range(1, 2 * rounds + 1))


async def test_one_token_fetch_while_every_process_delivers(
    cluster: Cluster,
    sim: SimulatorClient,
    db: async_sessionmaker[AsyncSession],
) -> None:
    """With the cached tokens gone, three processes deliver a burst: one fetch per platform."""
    openid = "o-cluster-tokens"
    await sim.resident(openid)
    await sim.say(openid, "菜单")  # opens the customer-service window
    redis = Redis.from_url(cluster.config.redis_url)
    try:
        await redis.delete("minqing:wechat:token:wx-dev-appid", "minqing:wecom:token:ww-dev-corp")
    finally:
        await redis.aclose()
    before = (await sim.stats())["token_requests"]

    keys = await enqueue_rows(db, "tokens", openid, count=30)
    await eventually(lambda: all_sent(db, keys), within=30, what="the burst to be delivered")

    after = (await sim.stats())["token_requests"]
    assert after["wechat_stable"] - before["wechat_stable"] == 1
    assert after["wecom"] - before["wecom"] == 1
    assert after["wechat"] == before["wechat"], "never the non-stable /cgi-bin/token"


async def test_outbox_rows_are_sent_once_by_competing_workers(
    cluster: Cluster, sim: SimulatorClient, db: async_sessionmaker[AsyncSession]
) -> None:
    openid = "o-cluster-outbox"
    await sim.resident(openid)
    await sim.say(openid, "菜单")
    count = 40
    keys = await enqueue_rows(db, "once", openid, count=count)
    await eventually(lambda: all_sent(db, keys), within=40, what="every row to be sent")

    inbox = [str(m.get("content")) for m in await sim.inbox(openid)]
    staff = [str(m.get("content")) for m in await sim.staff_messages(STAFF_USER)]
    for index in range(count):
        assert inbox.count(f"once-resident-{index:03d}") == 1
        assert staff.count(f"once-staff-{index:03d}") == 1
    async with db() as session:
        attempts = await session.scalar(
            select(func.sum(OutboxMessage.attempts)).where(OutboxMessage.idempotency_key.in_(keys))
        )
    assert attempts == len(keys), "no row was attempted twice"


async def test_each_sla_nudge_is_sent_once_with_two_schedulers(
    cluster: Cluster,
    sim: SimulatorClient,
    db: async_sessionmaker[AsyncSession],
) -> None:
    """Scheduler 1 and `edge` both run the scheduler; the sweep runs every second."""
    ticket = await file_petition(sim, "o-cluster-nudges")
    now = SystemClock().now()
    async with db() as session, session.begin():
        petition = await session.scalar(select(Petition).where(Petition.ticket_no == ticket))
        assert petition is not None
        petition_id = petition.id
        await session.execute(  # response clock breached, resolution clock half gone
            update(Petition)
            .where(Petition.id == petition_id)
            .values(
                created_at=now - timedelta(hours=10),
                response_due_at=now - timedelta(minutes=1),
                resolution_due_at=now + timedelta(hours=10),
            )
        )

    async def nudges_delivered() -> list[OutboxMessage] | None:
        async with db() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.idempotency_key.like(f"nudge:{petition_id}:%")
                    )
                )
            ).all()
        done = len(rows) >= 2 and all(r.status == OutboxStatus.SENT for r in rows)
        return list(rows) if done else None

    rows = await eventually(nudges_delivered, within=30, what="the nudges to be sent")
    assert sorted(r.idempotency_key for r in rows) == [
        f"nudge:{petition_id}:resolution:50",
        f"nudge:{petition_id}:response:breach",
    ]
    # Both schedulers keep sweeping every second: give them a few more rounds to repeat.
    await asyncio.sleep(3)
    titles = [str(m.get("title") or m.get("content")) for m in await wecom_entries(sim)]
    assert sum(t.startswith(f"⚠ 超时未响应 {ticket}") for t in titles) == 1, titles
    assert sum(t.startswith(f"办结提醒 {ticket}") for t in titles) == 1, titles
    async with db() as session:
        nudges = await session.scalar(
            select(func.count(SlaNudge.id)).where(SlaNudge.petition_id == petition_id)
        )
    assert nudges == 4, "response 50/80 (superseded) + breach, resolution 50"
    leaders = [p.log_count("now runs the scheduled jobs") for p in cluster.bots]
    assert sum(leaders) == 1, "one lease holder; the other scheduler stayed idle"
