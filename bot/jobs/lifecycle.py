"""Scheduled petition work: SLA nudges and escalation, the 09:00 digest, unanswered follow-ups.

Each job opens its own session and relies on the domain's records (nudge table, digest and
follow-up idempotency keys), so a restart or a second run never repeats a push.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.calendar import load_calendar
from governance.clock import Clock
from governance.directory.models import Community
from governance.petitions.digest import enqueue_digest
from governance.petitions.followup import close_unanswered_followups
from governance.petitions.sla_sweep import SweepReport, sweep

FOLLOWUP_DAYS = 3


@dataclass(frozen=True, slots=True)
class JobDeps:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    prefecture: str
    public_base_url: str
    wake_outbox: Callable[[], None]


async def sla_sweep(deps: JobDeps) -> SweepReport:
    async with deps.sessions() as session, session.begin():
        calendar = await load_calendar(session, deps.prefecture)
        report = await sweep(
            session, now=deps.clock.now(), calendar=calendar, public_base_url=deps.public_base_url
        )
    deps.wake_outbox()
    return report


async def daily_digest(deps: JobDeps) -> int:
    """One digest card per community per local day."""
    posted = 0
    async with deps.sessions() as session, session.begin():
        for community_id in (await session.scalars(select(Community.id))).all():
            digest = await enqueue_digest(
                session, community_id, deps.clock.now(), public_base_url=deps.public_base_url
            )
            posted += digest is not None
    deps.wake_outbox()
    return posted


async def close_silent_followups(deps: JobDeps) -> list[str]:
    """Cases whose residents did not answer the follow-up in 3 days close as "no response"."""
    async with deps.sessions() as session, session.begin():
        closed = await close_unanswered_followups(session, deps.clock.now(), days=FOLLOWUP_DAYS)
    deps.wake_outbox()
    return closed
