"""SLA sweep: nudges at 50 %, 80 % and breach exactly once, escalation on breach, pauses."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.calendar import WorkCalendar
from governance.clock import LOCAL_TZ, ManualClock
from governance.outbox.models import OutboxChannel, OutboxMessage
from governance.petitions.dispatch import dispatch
from governance.petitions.lifecycle import transition
from governance.petitions.models import EscalationLevel, Petition, PetitionStatus, SlaNudge
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.petitions.sla_sweep import SweepReport, missing_calendar_years, sweep
from tests.governance.conftest import file_petition, lhasa, outbox

S = PetitionStatus


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=LOCAL_TZ)


async def run_sweep(sessions: async_sessionmaker[AsyncSession], now: datetime) -> SweepReport:
    """One scheduler run: its own session and transaction, as the job will do it."""
    async with sessions() as session, session.begin():
        return await sweep(session, now=now, calendar=await lhasa(session))


def sent(report: SweepReport) -> list[str]:
    return [f"{n.clock}_{n.level}" for n in report.nudges]


async def nudge_keys(sessions: async_sessionmaker[AsyncSession]) -> Counter[str]:
    async with sessions() as session:
        rows = await session.scalars(select(OutboxMessage))
        return Counter(
            r.payload["key"] for r in rows.all() if r.payload["key"].startswith("nudge_")
        )


async def test_the_response_clock_nudges_at_50_80_and_breach_once_each_and_breach_escalates(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now())  # streetlight: 2 h response
        await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        petition_id = petition.id

    assert sent(await run_sweep(sessions, local(11, 22, 10, 59))) == []
    first = await run_sweep(sessions, local(11, 22, 11, 0))
    assert sent(first) == ["response_50"]
    assert (first.nudges[0].channel, first.nudges[0].recipient) == (OutboxChannel.STAFF, "S-0102")
    assert sent(await run_sweep(sessions, local(11, 22, 11, 0))) == [], "swept twice"
    assert sent(await run_sweep(sessions, local(11, 22, 11, 35))) == []
    assert sent(await run_sweep(sessions, local(11, 22, 11, 36))) == ["response_80"]
    assert sent(await run_sweep(sessions, local(11, 22, 12, 0))) == [], "due is not yet breach"
    breach = await run_sweep(sessions, local(11, 22, 12, 0, 1))
    assert sent(breach) == ["response_breach"]
    assert breach.escalated == [petition.ticket_no]
    again = await run_sweep(sessions, local(11, 22, 12, 0, 1))
    assert (sent(again), again.escalated) == ([], [])
    assert sent(await run_sweep(sessions, local(11, 22, 15, 0))) == []

    assert await nudge_keys(sessions) == Counter(
        {"nudge_response_50": 1, "nudge_response_80": 1, "nudge_response_breach": 1}
    )
    async with sessions() as session:
        reloaded = await session.get(Petition, petition_id)
        assert reloaded is not None
        assert (reloaded.status, reloaded.escalation_level) == (
            S.ESCALATED,
            EscalationLevel.COMMUNITY,
        )
        (push,) = await outbox(session, "push_status_escalated")
        assert (push.recipient, push.payload["params"]["level"]) == ("o-dolkar", "community")
        (card,) = await outbox(session, "card_escalated")
        assert card.payload["params"]["reason"] == "response_breach"
        (nudge,) = await outbox(session, "nudge_response_breach")
        assert nudge.payload["params"]["ticket"] == reloaded.ticket_no
        assert nudge.idempotency_key == f"nudge:{petition_id}:response:breach"
        recorded = await session.scalars(
            select(SlaNudge).where(SlaNudge.petition_id == petition_id)
        )
        assert sorted((n.clock, n.level) for n in recorded.all()) == [
            ("response", "50"),
            ("response", "80"),
            ("response", "breach"),
        ]


async def test_the_resolution_clock_runs_on_working_days_until_resolved(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now())  # due 1 Dec 23:59:59
        await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        await transition(session, petition, S.ACCEPTED, actor="staff:S-0102", now=clock.now())
        start, due = petition.created_at, petition.resolution_due_at
    half = start + (due - start) * 0.5
    eighty = start + (due - start) * 0.8
    assert sent(await run_sweep(sessions, half - timedelta(seconds=1))) == []
    assert sent(await run_sweep(sessions, half)) == ["resolution_50"]
    assert sent(await run_sweep(sessions, eighty)) == ["resolution_80"]
    assert sent(await run_sweep(sessions, eighty)) == []
    breach = await run_sweep(sessions, local(12, 2, 0, 0, 0))
    assert sent(breach) == ["resolution_breach"]
    assert breach.escalated == [petition.ticket_no]
    assert await nudge_keys(sessions) == Counter(
        {"nudge_resolution_50": 1, "nudge_resolution_80": 1, "nudge_resolution_breach": 1}
    )


async def test_a_late_sweep_sends_only_the_highest_level_and_unassigned_cases_go_to_the_group(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now())  # never dispatched
    report = await run_sweep(sessions, local(11, 22, 13, 0))
    assert sent(report) == ["response_breach"]
    assert report.superseded == 2
    assert (report.nudges[0].channel, report.nudges[0].recipient) == (
        OutboxChannel.HANDLER_GROUP,
        "lhasa-gesanglinka",
    )
    assert report.escalated == [petition.ticket_no]
    async with sessions() as session:
        rows = (await session.scalars(select(SlaNudge).order_by(SlaNudge.level))).all()
        assert [(r.level, r.superseded) for r in rows] == [
            ("50", True),
            ("80", True),
            ("breach", False),
        ]
    assert await nudge_keys(sessions) == Counter({"nudge_response_breach": 1})


async def test_waiting_stops_the_resolution_clock_and_resolved_cases_are_left_alone(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        waiting = await file_petition(session, now=clock.now())
        done = await file_petition(session, now=clock.now(), openid="o-b", grid_point_id="GP-0102")
        for petition in (waiting, done):
            await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
            await transition(session, petition, S.ACCEPTED, actor="staff:S-0102", now=clock.now())
        await transition(session, waiting, S.WAITING, actor="staff:S-0102", now=clock.now())
        await transition(session, done, S.RESOLVED, actor="staff:S-0102", now=clock.now())
    report = await run_sweep(sessions, local(12, 10, 12, 0))
    assert (sent(report), report.escalated, report.checked) == ([], [], 1)


async def test_two_schedulers_sweeping_at_once_never_send_a_nudge_twice(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        for n in range(3):
            petition = await file_petition(
                session, now=clock.now(), openid=f"o-{n}", grid_point_id=None
            )
            await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
    reports = await asyncio.gather(*(run_sweep(sessions, local(11, 22, 11, 0)) for _ in range(2)))
    assert sorted(len(r.nudges) for r in reports) == [0, 3]
    assert await nudge_keys(sessions) == Counter({"nudge_response_50": 3})


def test_missing_calendar_years_covers_this_year_and_next() -> None:
    lhasa_2026 = WorkCalendar({date(2026, 2, 20): False, date(2027, 2, 8): False})
    assert missing_calendar_years(lhasa_2026, date(2026, 11, 22)) == [2027], (
        "2027: the national package stops at 2026 even though Losar 2027 is entered"
    )
    assert missing_calendar_years(lhasa_2026, date(2025, 6, 1)) == [2025], "2025: no Losar entered"
    assert missing_calendar_years(WorkCalendar(), date(2031, 1, 1)) == [2031, 2032]


async def test_the_seeded_lhasa_calendar_needs_2027(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        calendar = await lhasa(session)
    assert missing_calendar_years(calendar, date(2026, 11, 22)) == [2027]
    assert missing_calendar_years(calendar, date(2025, 11, 22)) == []
