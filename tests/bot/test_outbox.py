"""The outbox never loses a row: sent once, retried with backoff, or dead-lettered with error."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app_keys import OUTBOX
from bot.outbox import DeliveryFailed, OutboxWorker
from bot.settings import OutboxSettings
from governance.clock import ManualClock
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from governance.outbox.service import backoff_delay, enqueue
from tests.bot.conftest import StackFactory
from tests.conftest import recorded_statements


@dataclass
class FlakySender:
    """Stands in for the WeChat servers: fails the first `failures` sends."""

    failures: int
    retryable: bool = True
    sent: list[int] = field(default_factory=list)

    async def send(self, message: OutboxMessage) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise DeliveryFailed("HTTP 502 from the platform", retryable=self.retryable)
        self.sent.append(message.id)


async def _enqueue_one(sessions: async_sessionmaker[AsyncSession], clock: ManualClock) -> None:
    async with sessions() as session, session.begin():
        enqueue(
            session,
            channel=OutboxChannel.RESIDENT,
            recipient="o-someone",
            payload={"text": "hello"},
            idempotency_key="test:1",
            now=clock.now(),
        )


async def _row(sessions: async_sessionmaker[AsyncSession]) -> OutboxMessage:
    async with sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None
    return row


def test_backoff_doubles_and_is_capped() -> None:
    delays = [backoff_delay(n, base_seconds=2, max_seconds=30) for n in range(1, 7)]
    assert delays == [2, 4, 8, 16, 30, 30]


async def test_a_failed_send_is_retried_after_backoff_and_sent_exactly_once(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    await _enqueue_one(sessions, clock)
    sender = FlakySender(failures=2)
    worker = OutboxWorker(sessions=sessions, sender=sender, clock=clock, settings=OutboxSettings())
    assert await worker.deliver_due() == 0
    assert await worker.deliver_due() == 0, "not due again before its backoff"
    clock.advance(timedelta(seconds=2))
    assert await worker.deliver_due() == 0  # second failure
    clock.advance(timedelta(seconds=4))
    assert await worker.deliver_due() == 1
    clock.advance(timedelta(hours=1))
    assert await worker.deliver_due() == 0, "a sent row is never sent again"
    row = await _row(sessions)
    assert (row.status, row.attempts, len(sender.sent)) == (OutboxStatus.SENT, 3, 1)
    assert "502" in row.last_error


@pytest.mark.parametrize(("retryable", "expected_attempts"), [(False, 1), (True, 3)])
async def test_rows_are_dead_lettered_with_their_error_not_deleted(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    retryable: bool,
    expected_attempts: int,
) -> None:
    await _enqueue_one(sessions, clock)
    sender = FlakySender(failures=100, retryable=retryable)
    settings = OutboxSettings(max_attempts=3, base_delay_seconds=1, max_delay_seconds=1)
    worker = OutboxWorker(sessions=sessions, sender=sender, clock=clock, settings=settings)
    for _ in range(5):
        await worker.deliver_due()
        clock.advance(timedelta(minutes=2))
    row = await _row(sessions)
    assert row.status == OutboxStatus.DEAD
    assert row.attempts == expected_attempts
    assert row.last_error == "HTTP 502 from the platform"


async def test_a_message_to_an_unknown_resident_is_dead_lettered_by_the_real_sender(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()
    async with stack.sessions() as session, session.begin():
        enqueue(
            session,
            channel=OutboxChannel.RESIDENT,
            recipient="o-never-followed",
            payload={"text": "hello"},
            idempotency_key="test:unknown",
            now=stack.app[OUTBOX]._clock.now(),
        )
    stack.app[OUTBOX].wake()

    async def dead() -> OutboxMessage | None:
        async with stack.sessions() as session:
            row = await session.scalar(select(OutboxMessage))
        return row if row is not None and row.status == OutboxStatus.DEAD else None

    row = await stack.wait_for(dead)
    assert row.last_error.startswith("40003")


async def test_a_worker_cancelled_as_it_is_woken_stops(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    """Shutdown cancels the worker; a wake-up in the same instant must not swallow that."""
    worker = OutboxWorker(
        sessions=sessions, sender=FlakySender(failures=0), clock=clock, settings=OutboxSettings()
    )
    task = asyncio.create_task(worker.run())
    for _ in range(50):  # until it waits for a wake-up after its first round
        await asyncio.sleep(0.01)
    worker.wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=3)
    assert done, "the worker kept running after it was cancelled"
    assert task.cancelled()


async def test_a_woken_worker_sends_a_push_with_two_statements_and_no_transaction(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    """Woken for rows just committed, the round is the claim itself (no read before it), and
    the push is recorded sent by one more statement: no BEGIN and COMMIT around either."""
    sender = FlakySender(failures=0)
    worker = OutboxWorker(sessions=sessions, sender=sender, clock=clock, settings=OutboxSettings())
    task = asyncio.create_task(worker.run())
    for _ in range(50):  # until it waits for a wake-up after its first (idle) round
        await asyncio.sleep(0.01)
    try:
        await _enqueue_one(sessions, clock)
        with recorded_statements(sessions) as statements:
            worker.wake()
            for _ in range(100):
                if (await _row(sessions)).status is OutboxStatus.SENT:
                    break
                await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await asyncio.wait({task}, timeout=3)
    assert len(sender.sent) == 1
    writes = [s for s in statements if "UPDATE" in s]
    assert writes == ["UPDATE outbox_message SET", "UPDATE outbox_message SET"]


@dataclass
class HeldSender:
    """A platform call that lasts until the test lets it go."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    go_on: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[int] = field(default_factory=list)

    async def send(self, message: OutboxMessage) -> None:
        self.started.set()
        await self.go_on.wait()
        self.sent.append(message.id)


async def test_a_stopped_worker_records_the_push_in_flight_and_gives_back_the_rest(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    """Shutdown in mid-send: the push is marked sent (not sent again after its lease), the
    batch's other rows are due at once for the next worker, and no database call is cut."""
    async with sessions() as session, session.begin():
        for n in range(3):
            enqueue(
                session,
                channel=OutboxChannel.RESIDENT,
                recipient="o-someone",
                payload={"text": f"push {n}"},
                idempotency_key=f"stop:{n}",
                now=clock.now(),
            )
    sender = HeldSender()
    worker = OutboxWorker(sessions=sessions, sender=sender, clock=clock, settings=OutboxSettings())
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(sender.started.wait(), timeout=3)
    worker.stop()
    sender.go_on.set()
    await asyncio.wait_for(task, timeout=3)
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert [row.status for row in rows] == [
        OutboxStatus.SENT,
        OutboxStatus.PENDING,
        OutboxStatus.PENDING,
    ]
    assert sender.sent == [rows[0].id]
    assert all(row.next_attempt_at <= clock.now() for row in rows[1:]), "not left leased"
