"""System administrators see pushes that gave up (dead letters) and send them again."""

from __future__ import annotations

from sqlalchemy import select

from governance.console.models import AuditEntry
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from governance.outbox.service import enqueue
from tests.bot.web.console.conftest import Console


async def dead_push(console: Console) -> int:
    async with console.sessions() as session, session.begin():
        message = enqueue(
            session,
            channel=OutboxChannel.RESIDENT,
            recipient="o-dolkar-openid",
            payload={"key": "push_status", "params": {}},
            idempotency_key="dead-one",
            now=console.clock.now(),
        )
        message.status = OutboxStatus.DEAD
        message.attempts = 8
        message.last_error = "HTTP 500 from the WeChat API"
        await session.flush()
        return message.id


async def test_an_administrator_sees_a_dead_letter_masked_and_retries_it(console: Console) -> None:
    message_id = await dead_push(console)
    await console.login("admin")
    status, html = await console.get("/console/outbox")
    assert status == 200
    assert "HTTP 500 from the WeChat API" in html
    assert "o-do…" in html
    assert "o-dolkar-openid" not in html, "openids are masked"
    status, html = await console.post(f"/console/outbox/{message_id}/retry", {})
    assert status == 200
    assert "已重新排队" in html
    assert "没有发送失败的消息" in html
    async with console.sessions() as session:
        row = await session.get(OutboxMessage, message_id)
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert row is not None
    assert row.status == OutboxStatus.PENDING
    assert row.attempts == 0
    assert console.woken, "the outbox worker was woken"
    assert "outbox_retry" in actions
    _, html = await console.post(f"/console/outbox/{message_id}/retry", {})
    assert "已经不在失败列表里" in html


async def test_only_system_administrators_open_the_dead_letters(console: Console) -> None:
    message_id = await dead_push(console)
    await console.login("street")
    status, _ = await console.get("/console/outbox")
    assert status == 404
    status, _ = await console.post(f"/console/outbox/{message_id}/retry", {})
    assert status == 404
    async with console.sessions() as session:
        row = await session.get(OutboxMessage, message_id)
    assert row is not None
    assert row.status == OutboxStatus.DEAD
