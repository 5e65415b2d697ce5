"""The petition state machine: happy path with pushes, refusals, returns, waiting, replies."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.calendar import WorkCalendar
from governance.clock import LOCAL_TZ, ManualClock
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue
from governance.petitions.dispatch import change_category, dispatch
from governance.petitions.followers import follow
from governance.petitions.lifecycle import (
    ALLOWED,
    IllegalTransition,
    paused_working_days,
    reply_to_resident,
    status_of,
    transition,
)
from governance.petitions.models import (
    EscalationLevel,
    Petition,
    PetitionStatus,
    ReturnReason,
)
from governance.petitions.responsibility import ResponsibilityMatrix
from tests.governance.conftest import events, file_petition, lhasa, outbox, resident

S = PetitionStatus


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ)


async def test_a_petition_walks_to_resolved_and_every_follower_hears_each_step_in_their_language(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now(), openid="o-dolkar", language="zh")
        tenzin = await resident(session, "o-tenzin", "bo", clock.now())
        await follow(session, petition, tenzin, clock.now())

        clock.advance(timedelta(minutes=5))
        result = await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        assert petition.assignee_staff_id == "S-0102"  # streetlight → the grid worker
        assert result.notified == ("o-dolkar", "o-tenzin")

        clock.advance(timedelta(minutes=25))
        accepted = await transition(
            session, petition, S.ACCEPTED, actor="staff:S-0102", now=clock.now()
        )
        assert accepted.responded
        assert petition.responded_at == clock.now()
        assert petition.response_met is True  # 30 min < 2 h streetlight clock

        clock.advance(timedelta(minutes=30))
        await transition(session, petition, S.ON_SITE, actor="staff:S-0102", now=clock.now())
        assert petition.contacted_at == clock.now()
        await transition(
            session,
            petition,
            S.IN_PROGRESS,
            actor="staff:S-0102",
            now=clock.now(),
            note="已更换灯泡",
        )
        clock.advance(timedelta(days=1))
        resolved = await transition(
            session, petition, S.RESOLVED, actor="staff:S-0102", now=clock.now(), note="已修好"
        )
        assert not resolved.responded, "only the first response counts"
        assert petition.resolved_at == clock.now()
        assert petition.resolution_met is True

        for key in (
            "push_status_dispatched",
            "push_status_on_site",
            "push_status_in_progress",
            "push_status_resolved",
            "push_followup",
        ):
            rows = await outbox(session, key)
            assert [(r.recipient, r.payload["language"]) for r in rows] == [
                ("o-dolkar", "zh"),
                ("o-tenzin", "bo"),
            ], key
            assert all(r.channel == OutboxChannel.RESIDENT for r in rows)
            assert {r.payload["params"]["ticket"] for r in rows} == {petition.ticket_no}
        assert await outbox(session, "push_status_accepted") == [], "accepting is internal"

        dispatched = await outbox(session, "push_status_dispatched")
        assert [r.payload["params"]["staff"] for r in dispatched] == ["卓玛", "སྒྲོལ་མ།"]
        assert dispatched[0].payload["params"]["staff_phone"] == "13908910102"
        progress = await outbox(session, "push_status_in_progress")
        assert progress[1].payload["params"]["note"] == "已更换灯泡"
        assert progress[0].payload["params"]["category"] == "streetlight"
        assert progress[0].payload["params"]["resolution_due"] == (
            petition.resolution_due_at.isoformat()
        )

        trail = await events(session, petition.id)
        assert [(e.kind, e.to_status) for e in trail] == [
            ("submitted", "received"),
            ("followed", "received"),
            ("transition", "dispatched"),
            ("transition", "accepted"),
            ("transition", "on_site"),
            ("transition", "in_progress"),
            ("transition", "resolved"),
        ]
        assert trail[3].actor == "staff:S-0102"
        assert trail[5].note == "已更换灯泡"


async def test_push_idempotency_keys_come_from_the_event_so_a_retry_cannot_push_twice(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now())
        result = await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        (row,) = await outbox(session, "push_status_dispatched")
        assert str(result.event_id) in row.idempotency_key
        key = row.idempotency_key
    async with sessions() as session:
        enqueue(
            session,
            channel=OutboxChannel.RESIDENT,
            recipient="o-dolkar",
            payload={"key": "push_status_dispatched", "params": {}, "language": "zh"},
            idempotency_key=key,
            now=clock.now(),
        )
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_illegal_transitions_are_refused_with_a_code_and_leave_no_trace(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now())
        before = len(await events(session, petition.id))
        with pytest.raises(IllegalTransition) as refused:
            await transition(session, petition, S.RESOLVED, actor="staff:S-0102", now=clock.now())
        assert (refused.value.code, refused.value.from_status, refused.value.to_status) == (
            "not_allowed",
            "received",
            "resolved",
        )
        assert petition.status == S.RECEIVED
        assert len(await events(session, petition.id)) == before

        await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        with pytest.raises(IllegalTransition) as no_reason:
            await transition(session, petition, S.RETURNED, actor="staff:S-0102", now=clock.now())
        assert no_reason.value.code == "return_reason_required"

        await transition(session, petition, S.RESOLVED, actor="staff:S-0102", now=clock.now())
        await transition(session, petition, S.CLOSED, actor="system", now=clock.now())
        with pytest.raises(IllegalTransition) as closed:
            await transition(
                session, petition, S.IN_PROGRESS, actor="staff:S-0102", now=clock.now()
            )
        assert closed.value.code == "case_closed"
        assert status_of(petition) == S.CLOSED


def test_the_transition_table_covers_every_status_and_ends_in_final_states() -> None:
    assert set(ALLOWED) == set(PetitionStatus)
    assert ALLOWED[S.MERGED] == ALLOWED[S.CANCELLED] == frozenset()
    assert ALLOWED[S.RESOLVED] == {S.CLOSED, S.REOPENED}
    assert S.REOPENED in ALLOWED[S.CLOSED], "a late 'not fixed' must be able to reopen"
    for source, targets in ALLOWED.items():
        assert S.RECEIVED not in targets, f"{source} must not go back to received"


async def test_a_return_with_a_reason_is_reviewed_and_re_dispatched_by_the_new_category(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(
            session, now=clock.now(), category="other", description="楼下有人天天打架"
        )
        await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        assert petition.assignee_staff_id == "S-0102"
        clock.advance(timedelta(minutes=20))
        await transition(
            session,
            petition,
            S.RETURNED,
            actor="staff:S-0102",
            now=clock.now(),
            note="是治安问题",
            reason=ReturnReason.WRONG_CATEGORY,
        )
        assert petition.status == S.RETURNED
        assert petition.return_reason == ReturnReason.WRONG_CATEGORY
        assert petition.responded_at is None, "a return is not a response to the resident"

        clock.advance(timedelta(minutes=10))
        await change_category(
            session, petition, "safety", now=clock.now(), actor="staff:S-C01", matrix=matrix
        )
        assert (petition.status, petition.category) == (S.DISPATCHED, "safety")
        assert petition.assignee_staff_id == "S-0103"  # the grid's police officer
        assert petition.return_reason is None

        trail = await events(session, petition.id)
        returned = next(e for e in trail if e.to_status == "returned")
        assert returned.detail == {"reason": "wrong_category"}
        assert returned.note == "是治安问题"
        changed = next(e for e in trail if e.kind == "category_changed")
        assert changed.detail == {"from": "other", "to": "safety"}
        cards = await outbox(session, "card_dispatched")
        assert [c.payload["params"]["assignee"] for c in cards] == ["卓玛", "扎西"]
        assert len(await outbox(session, "push_status_dispatched")) == 2


async def test_waiting_pauses_the_resolution_clock_by_whole_working_days(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        calendar = await lhasa(session)
        petition = await file_petition(session, now=clock.now(), category="road")
        due = petition.resolution_due_at.astimezone(LOCAL_TZ)
        assert (due.date(), due.hour, due.minute) == (date(2026, 12, 1), 23, 59)
        await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        await transition(session, petition, S.ACCEPTED, actor="staff:S-0102", now=clock.now())

        clock.set(local(2026, 11, 23, 10))  # Monday
        await transition(
            session,
            petition,
            S.WAITING,
            actor="staff:S-0102",
            now=clock.now(),
            reason="parts",
        )
        assert petition.waiting_since == clock.now()
        clock.set(local(2026, 11, 25, 9))  # Wednesday morning: Mon, Tue, part of Wed
        with pytest.raises(ValueError, match="calendar"):
            await transition(session, petition, S.IN_PROGRESS, actor="s", now=clock.now())
        result = await transition(
            session,
            petition,
            S.IN_PROGRESS,
            actor="staff:S-0102",
            now=clock.now(),
            calendar=calendar,
        )
        assert result.paused_working_days == 3
        new_due = petition.resolution_due_at.astimezone(LOCAL_TZ)
        assert (new_due.date(), new_due.hour, new_due.minute) == (date(2026, 12, 4), 23, 59)
        assert petition.waiting_since is None
        assert petition.paused_working_days == 3

        clock.set(local(2026, 11, 28, 10))  # a weekend pause costs no working day
        await transition(session, petition, S.WAITING, actor="staff:S-0102", now=clock.now())
        clock.set(local(2026, 11, 29, 20))
        weekend = await transition(
            session, petition, S.IN_PROGRESS, actor="s", now=clock.now(), calendar=calendar
        )
        assert weekend.paused_working_days == 0
        assert petition.resolution_due_at.astimezone(LOCAL_TZ).date() == date(2026, 12, 4)


def test_paused_working_days_round_up_and_skip_holidays() -> None:
    calendar = WorkCalendar()
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=LOCAL_TZ)
    assert paused_working_days(calendar, monday, monday) == 0
    assert paused_working_days(calendar, monday, monday + timedelta(minutes=5)) == 1
    assert paused_working_days(calendar, monday, monday + timedelta(days=7)) == 6
    # National Day week 2026: 1–7 October are rest days, so the pause costs only 30 Sept.
    start = datetime(2026, 9, 30, 15, 0, tzinfo=LOCAL_TZ)
    assert paused_working_days(calendar, start, datetime(2026, 10, 7, 18, 0, tzinfo=LOCAL_TZ)) == 1
    # Ending exactly at local midnight does not touch the next day.
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=LOCAL_TZ)
    assert (
        paused_working_days(calendar, friday, datetime(2026, 11, 28, 0, 0, tzinfo=LOCAL_TZ)) == 1
    )


async def test_a_staff_reply_reaches_every_follower_and_counts_as_response_and_contact(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now(), openid="o-pasang", language="bo")
        await follow(
            session, petition, await resident(session, "o-li", "zh", clock.now()), clock.now()
        )
        await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
        clock.advance(timedelta(hours=3))
        result = await reply_to_resident(
            session, petition, actor="staff:S-0101", text="明天上午派人来看", now=clock.now()
        )
        assert result.responded
        assert petition.response_met is False  # 3 h > the 2 h streetlight clock
        assert petition.contacted_at == clock.now()
        assert petition.status == S.DISPATCHED
        rows = await outbox(session, "push_staff_reply")
        assert [
            (r.recipient, r.payload["language"], r.payload["params"]["staff"]) for r in rows
        ] == [
            ("o-pasang", "bo", "ཚེ་རིང་།"),
            ("o-li", "zh", "次仁"),
        ]
        assert rows[0].payload["params"]["note"] == "明天上午派人来看"


async def test_escalation_climbs_one_level_at_a_time_and_stops_at_12345(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        petition = await file_petition(session, now=clock.now())
        levels = []
        for _ in range(3):
            result = await transition(
                session, petition, S.ESCALATED, actor="staff:S-C01", now=clock.now()
            )
            levels.append(result.escalation_level)
        assert levels == [
            EscalationLevel.COMMUNITY,
            EscalationLevel.STREET,
            EscalationLevel.COUNTY_12345,
        ]
        with pytest.raises(IllegalTransition) as top:
            await transition(session, petition, S.ESCALATED, actor="staff:S-C01", now=clock.now())
        assert top.value.code == "already_at_top_level"
        cards = await outbox(session, "card_escalated")
        assert [c.payload["params"]["level"] for c in cards] == [
            "community",
            "street",
            "county_12345",
        ]
        pushes = await outbox(session, "push_status_escalated")
        assert [p.payload["params"]["level"] for p in pushes] == [
            "community",
            "street",
            "county_12345",
        ]


async def test_cancelled_and_merged_cases_accept_nothing_more(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        petition: Petition = await file_petition(session, now=clock.now())
        await transition(
            session, petition, S.CANCELLED, actor="resident:o-dolkar", now=clock.now()
        )
        with pytest.raises(IllegalTransition) as finished:
            await transition(session, petition, S.DISPATCHED, actor="system", now=clock.now())
        assert finished.value.code == "case_finished"
        with pytest.raises(IllegalTransition):
            await reply_to_resident(
                session, petition, actor="staff:S-0102", text="?", now=clock.now()
            )
