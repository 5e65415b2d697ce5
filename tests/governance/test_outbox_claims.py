"""Claiming outbox rows: the oldest due rows in queue order, leased, never taken twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.db import autocommit_sessions
from governance.outbox.models import OutboxChannel
from governance.outbox.service import claim_due, enqueue
from tests.conftest import recorded_statements

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
LEASE = 60.0


async def _queue(
    sessions: async_sessionmaker[AsyncSession], due_offsets_s: list[int]
) -> list[int]:
    """One row per offset, due that many seconds from NOW; their ids in queue order."""
    async with sessions() as session, session.begin():
        rows = [
            enqueue(
                session,
                channel=OutboxChannel.RESIDENT,
                recipient=f"o-{index}",
                payload={"text": "hello"},
                idempotency_key=f"claims:{index}",
                now=NOW + timedelta(seconds=offset),
            )
            for index, offset in enumerate(due_offsets_s)
        ]
        await session.flush()
        return [row.id for row in rows]


async def _claim(sessions: async_sessionmaker[AsyncSession], limit: int) -> list[int]:
    async with sessions() as session:
        rows = await claim_due(session, now=NOW, limit=limit, lease_seconds=LEASE)
    assert all(row.next_attempt_at == NOW + timedelta(seconds=LEASE) for row in rows)
    return [row.id for row in rows]


async def test_a_claim_takes_the_oldest_due_rows_and_leases_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _queue(sessions, [-30, -50, -10, -40, 30])  # the last one is not due yet
    quick = autocommit_sessions(sessions)
    first = await _claim(quick, limit=3)
    assert first == sorted([ids[1], ids[3], ids[0]])  # the three oldest, in queue order
    assert await _claim(quick, limit=3) == [ids[2]]  # leased rows are skipped
    assert await _claim(quick, limit=3) == []


async def test_concurrent_claims_never_take_the_same_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _queue(sessions, [-1] * 40)
    quick = autocommit_sessions(sessions)
    batches = await asyncio.gather(*(_claim(quick, limit=15) for _ in range(4)))
    claimed = [row_id for batch in batches for row_id in batch]
    assert len(claimed) == len(set(claimed))
    # SKIP LOCKED may pass over rows another claim held at that moment: they are still due.
    claimed += await _claim(quick, limit=40)
    assert sorted(claimed) == ids


async def test_a_claim_told_of_new_rows_is_one_statement_and_an_idle_probe_only_reads(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    quick = autocommit_sessions(sessions)
    with recorded_statements(sessions) as seen:
        assert await _claim(quick, limit=3) == []
        assert _kinds(seen) == ["SELECT"]  # idle: no write
        ids = await _queue(sessions, [-5, -1])
        seen.clear()
        async with quick() as session:
            rows = await claim_due(session, now=NOW, limit=3, lease_seconds=LEASE, probe=False)
        assert [row.id for row in rows] == ids
        assert _kinds(seen) == ["UPDATE"]


def _kinds(statements: list[str]) -> list[str]:
    """The statements' verbs, SQLite's connection PRAGMAs left out."""
    return [s.split()[0] for s in statements if not s.startswith("PRAGMA")]
