"""The dead-letter queries the console needs: list what gave up, and send it again once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.outbox import service as outbox
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


async def test_dead_letters_are_listed_and_can_be_requeued(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        for index in range(3):
            outbox.enqueue(
                session,
                channel=OutboxChannel.STAFF,
                recipient="S-0101",
                payload={"text": f"card {index}"},
                idempotency_key=f"dead-letter-test:{index}",
                now=NOW + timedelta(seconds=index),
            )
    async with sessions() as session:
        claimed = await outbox.claim_due(
            session, now=NOW + timedelta(seconds=5), limit=10, lease_seconds=60
        )
    assert len(claimed) == 3
    for row in claimed[:2]:
        async with sessions() as session:
            status = await outbox.mark_failed(
                session,
                row.id,
                now=NOW,
                error="-1: HTTP 500 from /cgi-bin/message/send",
                retryable=True,
                max_attempts=1,
                base_delay_seconds=1,
                max_delay_seconds=1,
            )
        assert status is OutboxStatus.DEAD

    async with sessions() as session:
        dead = await outbox.dead_letters(session)
        assert [row.payload["text"] for row in dead] == ["card 1", "card 0"], "newest first"
        assert all("HTTP 500" in row.last_error and row.attempts == 1 for row in dead)
        assert not await outbox.dead_letters(session, channel=OutboxChannel.RESIDENT)

    async with sessions() as session, session.begin():
        assert await outbox.requeue(session, dead[0].id, now=NOW)
        assert not await outbox.requeue(session, claimed[2].id, now=NOW), "only dead rows"
    async with sessions() as session:
        again = await session.get(OutboxMessage, dead[0].id)
        assert again is not None
        assert (again.status, again.attempts) == (OutboxStatus.PENDING, 0)
        assert [row.id for row in await outbox.dead_letters(session)] == [dead[1].id]
