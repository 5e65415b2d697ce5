"""Satisfaction follow-up (回访): close when satisfied, reopen and escalate when not fixed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import ManualClock
from governance.petitions.dispatch import dispatch
from governance.petitions.followers import follow
from governance.petitions.followup import (
    FollowupOutcome,
    awaiting_followup,
    close_unanswered_followups,
    record_followup,
)
from governance.petitions.lifecycle import Refused, status_of, transition
from governance.petitions.models import (
    EscalationLevel,
    FollowupAnswer,
    Petition,
    PetitionStatus,
)
from governance.petitions.responsibility import ResponsibilityMatrix
from tests.governance.conftest import events, file_petition, outbox, resident

S = PetitionStatus


async def resolved_petition(
    session: AsyncSession,
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
    also: tuple[tuple[str, str], ...] = (),
) -> Petition:
    """Filed by o-dolkar (zh), followed by `also` (openid, language), dispatched and resolved."""
    petition = await file_petition(session, now=clock.now())
    for openid, language in also:
        await follow(
            session, petition, await resident(session, openid, language, clock.now()), clock.now()
        )
    await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
    await transition(session, petition, S.ACCEPTED, actor="staff:S-0102", now=clock.now())
    clock.advance(timedelta(hours=20))
    await transition(session, petition, S.RESOLVED, actor="staff:S-0102", now=clock.now())
    return petition


@pytest.mark.parametrize("answer", [FollowupAnswer.SATISFIED, FollowupAnswer.BASICALLY_SATISFIED])
async def test_a_satisfied_answer_closes_the_case_and_keeps_the_satisfaction(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
    answer: FollowupAnswer,
) -> None:
    async with sessions() as session, session.begin():
        petition = await resolved_petition(session, clock, matrix)
        assert [p.id for p in await awaiting_followup(session, "o-dolkar")] == [petition.id]
        (asked,) = await outbox(session, "push_followup")
        assert (asked.recipient, asked.payload["language"]) == ("o-dolkar", "zh")
        clock.advance(timedelta(hours=2))
        result = await record_followup(session, petition, "o-dolkar", answer, clock.now())
        assert result.outcome == FollowupOutcome.CLOSED
        assert (petition.status, petition.satisfaction) == (S.CLOSED, answer)
        assert petition.closed_at == clock.now()
        assert await awaiting_followup(session, "o-dolkar") == []
        answered = [e for e in await events(session, petition.id) if e.kind == "followup_answer"]
        assert answered[0].detail == {"answer": answer.value}


async def test_not_fixed_reopens_and_escalates_and_tells_every_follower(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await resolved_petition(session, clock, matrix, also=(("o-b", "bo"),))
        clock.advance(timedelta(hours=3))
        result = await record_followup(
            session, petition, "o-dolkar", FollowupAnswer.NOT_FIXED, clock.now()
        )
        assert result.outcome == FollowupOutcome.REOPENED
        assert result.escalated
        assert petition.status == S.ESCALATED
        assert petition.escalation_level == EscalationLevel.COMMUNITY
        assert petition.satisfaction == FollowupAnswer.NOT_FIXED
        assert (petition.resolved_at, petition.resolution_met) == (None, None)
        statuses = [e.to_status for e in await events(session, petition.id)][-2:]
        assert statuses == ["reopened", "escalated"]
        pushes = await outbox(session, "push_status_escalated")
        assert [(p.recipient, p.payload["language"]) for p in pushes] == [
            ("o-dolkar", "zh"),
            ("o-b", "bo"),
        ]
        (card,) = await outbox(session, "card_escalated")
        assert card.payload["params"]["reason"] == "not_fixed"

        # Back in work: the handler resolves it again and the resident is asked again.
        await transition(session, petition, S.IN_PROGRESS, actor="staff:S-0102", now=clock.now())
        await transition(session, petition, S.RESOLVED, actor="staff:S-0102", now=clock.now())
        assert len(await outbox(session, "push_followup")) == 2 + 2


async def test_a_late_not_fixed_reopens_a_case_another_follower_already_closed(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await resolved_petition(session, clock, matrix, also=(("o-b", "zh"),))
        await record_followup(session, petition, "o-dolkar", "satisfied", clock.now())
        assert petition.status == S.CLOSED
        result = await record_followup(session, petition, "o-b", "not_fixed", clock.now())
        assert result.outcome == FollowupOutcome.REOPENED
        assert status_of(petition) == S.ESCALATED
        assert petition.closed_at is None


async def test_answers_from_strangers_or_unknown_answers_are_refused(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await resolved_petition(session, clock, matrix)
        with pytest.raises(Refused) as stranger:
            await record_followup(session, petition, "o-stranger", "satisfied", clock.now())
        assert stranger.value.code == "not_a_follower"
        for bad in ("maybe", "no_response"):
            with pytest.raises(Refused) as unknown:
                await record_followup(session, petition, "o-dolkar", bad, clock.now())
            assert unknown.value.code == "followup_answer_unknown"
        assert petition.status == S.RESOLVED


async def test_no_answer_in_three_days_closes_as_no_response(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        petition = await resolved_petition(session, clock, matrix)
        resolved_at = clock.now()
        early = await close_unanswered_followups(
            session, resolved_at + timedelta(days=3, seconds=-1)
        )
        assert early == []
        assert petition.status == S.RESOLVED
        closed = await close_unanswered_followups(session, resolved_at + timedelta(days=3))
        assert closed == [petition.ticket_no]
        assert (petition.status, petition.satisfaction) == (S.CLOSED, FollowupAnswer.NO_RESPONSE)
        assert await close_unanswered_followups(session, resolved_at + timedelta(days=4)) == []

        # A late "satisfied" replaces no_response; a late "not fixed" would still reopen.
        late = await record_followup(session, petition, "o-dolkar", "satisfied", clock.now())
        assert late.outcome == FollowupOutcome.RECORDED
        assert petition.satisfaction == FollowupAnswer.SATISFIED
