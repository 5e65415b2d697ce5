"""The scheduled lifecycle jobs nudge, escalate and digest exactly once, however often they run."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import load_matrix
from bot.jobs import lifecycle as jobs
from bot.settings import Settings
from governance.calendar import load_calendar
from governance.clock import ManualClock
from governance.directory.service import get_or_create_resident
from governance.outbox.models import OutboxMessage
from governance.petitions.dispatch import dispatch
from governance.petitions.models import Petition, PetitionSource, PetitionStatus
from governance.petitions.service import PetitionDraft, submit_petition
from governance.petitions.sla import SlaPolicies


async def _file_streetlight(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, settings: Settings
) -> int:
    async with sessions() as session, session.begin():
        await get_or_create_resident(session, "o-jobs", language="zh", now=clock.now())
        submitted = await submit_petition(
            session,
            PetitionDraft(
                resident_openid="o-jobs",
                language="zh",
                category="streetlight",
                description="路灯不亮",
                community_id="lhasa-gesanglinka",
                grid_id="G01",
                source=PetitionSource.CHAT,
            ),
            now=clock.now(),
            calendar=await load_calendar(session, "lhasa"),
            policies=SlaPolicies.load(settings.data_dir / "governance" / "sla.yml"),
            public_base_url="",
            post_card=False,
        )
        petition = await session.get(Petition, submitted.petition_id)
        assert petition is not None
        await dispatch(
            session, petition, now=clock.now(), actor="system", matrix=load_matrix(settings)
        )
        return submitted.petition_id


async def _keys(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [str(row.payload.get("key")) for row in rows]


async def test_the_sweep_nudges_once_per_level_and_escalates_at_breach(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, settings: Settings
) -> None:
    petition_id = await _file_streetlight(sessions, clock, settings)
    deps = jobs.JobDeps(sessions, clock, "lhasa", "", lambda: None)
    clock.advance(timedelta(minutes=65))  # past 50 % of the 2-hour response clock
    await jobs.sla_sweep(deps)
    await jobs.sla_sweep(deps)  # a restart or a second scheduler tick
    assert (await _keys(sessions)).count("nudge_response_50") == 1
    clock.advance(timedelta(hours=1))  # breach
    await jobs.sla_sweep(deps)
    await jobs.sla_sweep(deps)
    keys = await _keys(sessions)
    assert keys.count("nudge_response_breach") == 1
    assert keys.count("card_escalated") == 1
    assert keys.count("push_status_escalated") == 1, "the resident is told it went up a level"
    async with sessions() as session:
        petition = await session.get(Petition, petition_id)
    assert petition is not None
    assert petition.status == PetitionStatus.ESCALATED
    assert petition.response_met is False


async def test_the_daily_digest_is_posted_once_a_day(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, settings: Settings
) -> None:
    await _file_streetlight(sessions, clock, settings)
    deps = jobs.JobDeps(sessions, clock, "lhasa", "", lambda: None)
    assert await jobs.daily_digest(deps) == 1
    assert await jobs.daily_digest(deps) == 0
    clock.advance(timedelta(days=1))
    assert await jobs.daily_digest(deps) == 1
