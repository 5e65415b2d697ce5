"""Enqueue, claim and settle outbox rows. Rows are never deleted: they end SENT or DEAD."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus


def enqueue(
    session: AsyncSession,
    *,
    channel: OutboxChannel,
    recipient: str,
    payload: Mapping[str, Any],
    idempotency_key: str,
    now: datetime,
    petition_id: int | None = None,
) -> OutboxMessage:
    """Add a row to the caller's transaction; it is sent only if that transaction commits."""
    message = OutboxMessage(
        channel=channel,
        recipient=recipient,
        payload=dict(payload),
        idempotency_key=idempotency_key,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        petition_id=petition_id,
    )
    session.add(message)
    return message


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    probe: bool = True,
) -> Sequence[OutboxMessage]:
    """Take due rows and lease them (push next_attempt_at ahead) so other workers skip them.

    One UPDATE … RETURNING over the oldest due rows (on PostgreSQL locked with SKIP LOCKED, so
    two workers never take the same row), after a read that finds any (`probe`): in an
    autocommit session an idle poll is one read and a claim two statements. A caller that was
    just told of new rows skips the read. Rows come back in the order they were queued. A
    worker killed mid-send leaves the lease to expire, and the row is tried again.
    """
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .where(OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if probe and (await session.scalars(due.limit(1))).first() is None:
        return []  # an idle poll only reads: on SQLite a write would wait for the one writer
    lease_until = now + timedelta(seconds=lease_seconds)
    claimed = await session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.with_for_update(skip_locked=True)))
        .values(next_attempt_at=lease_until)
        .returning(OutboxMessage),
        execution_options={"synchronize_session": False},
    )
    rows = sorted(claimed.all(), key=lambda row: row.id)
    await session.commit()
    return rows


async def mark_sent(session: AsyncSession, message_id: int, *, now: datetime) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(status=OutboxStatus.SENT, sent_at=now, attempts=OutboxMessage.attempts + 1)
    )
    await session.commit()


async def release(session: AsyncSession, message_ids: Sequence[int], *, now: datetime) -> None:
    """End the lease of claimed rows that were not sent: any worker may take them now."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .values(next_attempt_at=now)
    )
    await session.commit()


def backoff_delay(attempt: int, *, base_seconds: float, max_seconds: float) -> float:
    """Exponential backoff: base, 2×base, 4×base … capped."""
    return float(min(max_seconds, base_seconds * (2 ** max(0, attempt - 1))))


async def mark_failed(
    session: AsyncSession,
    message_id: int,
    *,
    now: datetime,
    error: str,
    retryable: bool,
    max_attempts: int,
    base_delay_seconds: float,
    max_delay_seconds: float,
) -> OutboxStatus:
    """Record a failed attempt; schedule the next one or dead-letter the row with its error."""
    message = await session.get(OutboxMessage, message_id)
    if message is None:
        raise LookupError(f"outbox row {message_id} vanished")
    message.attempts += 1
    message.last_error = error[:2000]
    if not retryable or message.attempts >= max_attempts:
        message.status = OutboxStatus.DEAD
    else:
        delay = backoff_delay(
            message.attempts, base_seconds=base_delay_seconds, max_seconds=max_delay_seconds
        )
        message.next_attempt_at = now + timedelta(seconds=delay)
    status = message.status
    await session.commit()
    return status


async def pending_count(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count(OutboxMessage.id)).where(OutboxMessage.status == OutboxStatus.PENDING)
    )
    return int(count or 0)


async def dead_letters(
    session: AsyncSession, *, limit: int = 100, channel: OutboxChannel | None = None
) -> Sequence[OutboxMessage]:
    """Rows that gave up (newest first), with their attempts and last error: for the console."""
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    query = query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def requeue(session: AsyncSession, message_id: int, *, now: datetime) -> bool:
    """Give a dead letter a fresh set of attempts (staff fixed the cause); False if not dead.

    The caller commits; the row keeps its id and idempotency key, so it is still sent once.
    """
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.DEAD)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now)
    )
    return bool(getattr(result, "rowcount", 0))
