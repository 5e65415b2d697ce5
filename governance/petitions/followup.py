"""Satisfaction follow-up: "is it fixed, are you satisfied?" after every resolution.

Satisfied or basically satisfied closes the case; "not fixed" reopens it and escalates it one
level, whenever it arrives (even after another follower closed it): it is never ignored.
Silence for `days` closes the case as no_response, which never counts as satisfied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.petitions.lifecycle import (
    Refused,
    can_transition,
    followers,
    status_of,
    transition,
)
from governance.petitions.models import (
    FollowupAnswer,
    Petition,
    PetitionEvent,
    PetitionFollower,
    PetitionFollowupAnswer,
    PetitionStatus,
)

FOLLOWUP_DAYS = 3
VALID_ANSWERS = frozenset(
    {FollowupAnswer.SATISFIED, FollowupAnswer.BASICALLY_SATISFIED, FollowupAnswer.NOT_FIXED}
)


class FollowupOutcome(StrEnum):
    CLOSED = "closed"
    REOPENED = "reopened"
    """Not fixed: back in work (escalated one level unless already at the top)."""
    RECORDED = "recorded"
    """Kept for the record; the case was not waiting for this answer."""


@dataclass(frozen=True, slots=True)
class FollowupResult:
    ticket_no: str
    outcome: FollowupOutcome
    status: PetitionStatus
    escalated: bool


async def record_followup(
    session: AsyncSession,
    petition: Petition,
    openid: str,
    answer: FollowupAnswer | str,
    now: datetime,
    *,
    public_base_url: str = "",
) -> FollowupResult:
    """Store a follower's answer and act on it (close, or reopen and escalate)."""
    try:
        answer = FollowupAnswer(answer)
    except ValueError as error:
        raise Refused("followup_answer_unknown", str(answer)) from error
    if answer not in VALID_ANSWERS:
        raise Refused("followup_answer_unknown", answer)
    if openid not in {f.openid for f in await followers(session, petition)}:
        raise Refused("not_a_follower", f"{openid} does not follow {petition.ticket_no}")
    actor = f"resident:{openid}"
    status = status_of(petition)
    session.add(
        PetitionFollowupAnswer(petition_id=petition.id, openid=openid, answer=answer, at=now)
    )
    session.add(
        PetitionEvent(
            petition_id=petition.id,
            at=now,
            kind="followup_answer",
            from_status=status,
            to_status=status,
            actor=actor,
            note="",
            detail={"answer": str(answer)},
        )
    )
    if answer == FollowupAnswer.NOT_FIXED and status in {
        PetitionStatus.RESOLVED,
        PetitionStatus.CLOSED,
    }:
        petition.satisfaction = answer
        await transition(session, petition, PetitionStatus.REOPENED, actor=actor, now=now)
        escalated = can_transition(petition, PetitionStatus.ESCALATED)
        if escalated:
            await transition(
                session,
                petition,
                PetitionStatus.ESCALATED,
                actor="system",
                now=now,
                reason="not_fixed",
                public_base_url=public_base_url,
            )
        return FollowupResult(
            petition.ticket_no, FollowupOutcome.REOPENED, status_of(petition), escalated
        )
    if answer != FollowupAnswer.NOT_FIXED and status == PetitionStatus.RESOLVED:
        petition.satisfaction = answer
        await transition(
            session, petition, PetitionStatus.CLOSED, actor=actor, now=now, note=str(answer)
        )
        return FollowupResult(
            petition.ticket_no, FollowupOutcome.CLOSED, status_of(petition), False
        )
    if status == PetitionStatus.CLOSED and petition.satisfaction == FollowupAnswer.NO_RESPONSE:
        petition.satisfaction = answer  # a late answer replaces "no response"
    return FollowupResult(petition.ticket_no, FollowupOutcome.RECORDED, status, False)


async def close_unanswered_followups(
    session: AsyncSession, now: datetime, days: int = FOLLOWUP_DAYS
) -> list[str]:
    """Close cases resolved more than `days` × 24 h ago that nobody answered (no_response)."""
    rows = await session.scalars(
        select(Petition)
        .where(
            Petition.status == PetitionStatus.RESOLVED.value,
            Petition.resolved_at <= now - timedelta(days=days),
        )
        .order_by(Petition.id)
    )
    closed = []
    for petition in rows.all():
        petition.satisfaction = FollowupAnswer.NO_RESPONSE
        await transition(
            session,
            petition,
            PetitionStatus.CLOSED,
            actor="system",
            now=now,
            note=FollowupAnswer.NO_RESPONSE.value,
        )
        closed.append(petition.ticket_no)
    return closed


async def awaiting_followup(session: AsyncSession, openid: str) -> list[Petition]:
    """Resolved cases this resident files or follows: their next "1/2/3" answers one of these."""
    followed = select(PetitionFollower.petition_id).where(PetitionFollower.openid == openid)
    rows = await session.scalars(
        select(Petition)
        .where(
            Petition.status == PetitionStatus.RESOLVED.value,
            or_(Petition.resident_openid == openid, Petition.id.in_(followed)),
        )
        .order_by(Petition.resolved_at.desc(), Petition.id.desc())
    )
    return list(rows.all())
