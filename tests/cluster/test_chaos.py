"""Reliability under faults, on the same processes as the multi-worker suite: a gateway killed
with SIGKILL, the WeChat/WeCom APIs down, PostgreSQL unreachable, the Rasa server down."""

from __future__ import annotations

import signal

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
    passive_text,
    petitions_of,
    post_callback,
    reply_content,
    start_draft,
    text_callback,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.outbox.models import OutboxMessage, OutboxStatus

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


async def outbox_rows(
    db: async_sessionmaker[AsyncSession], keys: list[str]
) -> list[OutboxMessage]:
    async with db() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.in_(keys))
        )
        return list(rows.all())


async def test_a_gateway_killed_mid_conversation_continues_the_draft(
    cluster: Cluster, sim: SimulatorClient, db: async_sessionmaker[AsyncSession]
) -> None:
    openid = "o-chaos-killed"
    await start_draft(sim, openid)
    asked = await sim.say(openid, "院门口的路灯坏了三天了晚上很黑")
    assert "手机号" in passive_text(asked), asked

    cluster.a.kill9()
    cluster.a.start()
    await cluster.a.wait_ready()

    summary = passive_text(await sim.say(openid, "跳过"))
    assert "路灯" in summary, "the draft survived the crash"
    done = await sim.say(openid, "1")
    tickets = TICKET_RE.findall(passive_text(done))
    assert len(tickets) == 1, done
    assert [p.ticket_no for p in await petitions_of(db, openid)] == tickets
    again = await sim.say(openid, "1")  # a confirmation typed twice files nothing more
    assert not TICKET_RE.search(passive_text(again))
    assert len(await petitions_of(db, openid)) == 1


async def test_pushes_queued_during_an_api_outage_are_delivered_once(
    cluster: Cluster, sim: SimulatorClient, db: async_sessionmaker[AsyncSession]
) -> None:
    openid = "o-chaos-outage"
    await sim.resident(openid)
    await sim.say(openid, "菜单")  # opens the customer-service window
    await sim.faults(wechat_api="error_500", wecom_api="error_500")
    try:
        keys = await enqueue_rows(db, "outage", openid, count=6)

        async def all_failed_twice() -> bool:
            return all(row.attempts >= 2 for row in await outbox_rows(db, keys))

        await eventually(all_failed_twice, within=20, what="every push to fail twice")
        # The next WeChat call hangs past the bot's 5 s timeout; then the platforms are back.
        await sim.post(
            "/sim/api/faults",
            {"wechat_api": "timeout", "wecom_api": "ok", "times": {"wechat_api": 1}},
        )
        await eventually(lambda: all_sent(db, keys), within=45, what="delivery after recovery")
    finally:
        await sim.faults(wechat_api="ok", wecom_api="ok")

    inbox = [str(m.get("content")) for m in await sim.inbox(openid)]
    staff = [str(m.get("content")) for m in await sim.staff_messages(STAFF_USER)]
    for index in range(6):
        assert inbox.count(f"outage-resident-{index:03d}") == 1
        assert staff.count(f"outage-staff-{index:03d}") == 1
    counters = (await sim.stats())["counters"]
    assert counters["fault_wechat_api"] >= 12 + 1
    assert counters["fault_wecom_api"] >= 12


async def test_a_push_that_keeps_failing_becomes_a_visible_dead_letter(
    cluster: Cluster, sim: SimulatorClient, db: async_sessionmaker[AsyncSession]
) -> None:
    openid = "o-chaos-dead"
    await sim.resident(openid)
    await sim.say(openid, "菜单")
    await sim.faults(wecom_api="error_500")
    try:
        keys = await enqueue_rows(db, "dead", openid, count=1)
        staff_key = next(key for key in keys if ":staff:" in key)

        async def dead() -> OutboxMessage | None:
            rows = await outbox_rows(db, [staff_key])
            return rows[0] if rows and rows[0].status == OutboxStatus.DEAD else None

        row = await eventually(dead, within=30, what="the staff push to be dead-lettered")
    finally:
        await sim.faults(wecom_api="ok")
    assert row.attempts == 8, "OUTBOX__MAX_ATTEMPTS in the cluster's settings"
    assert "HTTP 500" in row.last_error
    assert row.sent_at is None
    await eventually(lambda: all_sent(db, [k for k in keys if k != staff_key]), within=20)
    staff = [str(m.get("content")) for m in await sim.staff_messages(STAFF_USER)]
    assert "dead-staff-000" not in staff, "a dead letter is never sent behind staff's back"


async def test_rasa_down_falls_back_to_the_embedded_engine(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    """`edge` runs NLU__ENGINE=rasa against a port nobody listens on."""
    answer = await post_callback(
        http, cluster.edge, text_callback("o-chaos-rasa", "高龄津贴怎么申请", msg_id=next(MSG_IDS))
    )
    assert answer.status == 200
    assert "高龄" in reply_content(answer), answer
    assert cluster.edge.log_count("using the fallback engine") >= 1


async def test_database_outage_answers_fast_and_recovers_without_restart(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    """`edge` reaches PostgreSQL through a TCP proxy that the test cuts and restores."""
    openid = "o-chaos-database"
    warm = await post_callback(
        http, cluster.edge, text_callback(openid, "菜单", msg_id=next(MSG_IDS))
    )
    assert reply_content(warm), warm
    starts = cluster.edge.starts

    cluster.proxy.signal(signal.SIGUSR1)
    try:
        for text in ("菜单", "院门口的路灯坏了三天了晚上很黑"):
            request = text_callback(openid, text, msg_id=next(MSG_IDS))
            first = await post_callback(http, cluster.edge, request)
            retry = await post_callback(http, cluster.edge, request)  # WeChat retries
            for answer in (first, retry):
                assert answer.status == 200, answer
                assert answer.elapsed < 5.0, "answered inside WeChat's 5 s window"
            # asked politely to resend, in both languages (the retry is a duplicate: success)
            assert "系统正忙" in reply_content(first), first
            assert "ཡང་བསྐྱར་གཏོང་རོགས" in reply_content(first), first
    finally:
        cluster.proxy.signal(signal.SIGUSR2)

    async def recovered() -> str | None:
        answer = await post_callback(
            http, cluster.edge, text_callback(openid, "菜单", msg_id=next(MSG_IDS))
        )
        return reply_content(answer) or None

    assert await eventually(recovered, within=30, what="replies after the database is back")
    assert cluster.edge.starts == starts, "recovered without a restart"


async def test_a_hanging_database_still_answers_wechat_in_time(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    """Packets to PostgreSQL vanish (no reset): the callback still gets its answer in 5 s."""
    cluster.proxy.signal(signal.SIGHUP)
    try:
        answer = await post_callback(
            http, cluster.edge, text_callback("o-chaos-db-hang", "菜单", msg_id=next(MSG_IDS))
        )
        assert answer.status == 200, answer
        assert answer.elapsed < 5.0, "answered inside WeChat's 5 s window"
    finally:
        cluster.proxy.signal(signal.SIGUSR2)

    async def recovered() -> str | None:
        answer = await post_callback(
            http, cluster.edge, text_callback("o-chaos-db-back", "菜单", msg_id=next(MSG_IDS))
        )
        return reply_content(answer) or None

    assert await eventually(recovered, within=30, what="replies after the network is back")
