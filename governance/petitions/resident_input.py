"""What a resident can do to their own case outside chat (the H5 status page): add information
for the handlers, and answer the follow-up while one is owed.

Added information is a timeline event plus a card to the community's handler group, written in
the caller's transaction (the card leaves through the outbox). Follow-up answers go through
`followup.record_followup`, exactly as the chat's "1 / 2 / 3" does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.directory.models import Grid
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue
from governance.petitions.lifecycle import Refused, case_url, followers, status_of
from governance.petitions.models import (
    Petition,
    PetitionEvent,
    PetitionFollowupAnswer,
    PetitionStatus,
)

MAX_INFO_CHARS = 1000
CARD_TEXT_CHARS = 200
INFO_CARD_KEY = "h5_card_info_added"
FINISHED = frozenset({PetitionStatus.MERGED, PetitionStatus.CANCELLED, PetitionStatus.CLOSED})
"""No more information is taken: a closed case is reopened by answering "not fixed"."""
FOLLOWUP_OPEN = frozenset({PetitionStatus.RESOLVED, PetitionStatus.CLOSED})


async def is_follower(session: AsyncSession, petition: Petition, openid: str) -> bool:
    return openid in {f.openid for f in await followers(session, petition)}


async def add_resident_info(
    session: AsyncSession,
    petition: Petition,
    openid: str,
    text: str,
    now: datetime,
    *,
    public_base_url: str = "",
) -> PetitionEvent:
    """Record a follower's added information and tell the handler group.

    Refused codes: info_empty, info_too_long, not_a_follower, case_finished.
    """
    text = text.strip()
    if not text:
        raise Refused("info_empty")
    if len(text) > MAX_INFO_CHARS:
        raise Refused("info_too_long", f"{len(text)} > {MAX_INFO_CHARS} characters")
    if not await is_follower(session, petition, openid):
        raise Refused("not_a_follower", f"{openid} does not follow {petition.ticket_no}")
    status = status_of(petition)
    if status in FINISHED:
        raise Refused("case_finished", f"{petition.ticket_no} is {status}")
    event = PetitionEvent(
        petition_id=petition.id,
        at=now,
        kind="resident_info",
        from_status=status,
        to_status=status,
        actor=f"resident:{openid}",
        note=text,
        detail={},
    )
    session.add(event)
    await session.flush()
    grid = await session.get(Grid, petition.grid_id)
    enqueue(
        session,
        channel=OutboxChannel.HANDLER_GROUP,
        recipient=petition.community_id,
        payload={
            "key": INFO_CARD_KEY,
            "language": "zh",
            "params": {
                "ticket": petition.ticket_no,
                "category": petition.category,
                "status": str(status),
                "grid": grid.name_zh if grid else petition.grid_id,
                "note": text[:CARD_TEXT_CHARS],
                "url": case_url(public_base_url, petition.ticket_no),
            },
        },
        idempotency_key=f"card:{event.id}:resident_info",
        now=now,
        petition_id=petition.id,
    )
    return event


async def owes_followup(session: AsyncSession, petition: Petition, openid: str) -> bool:
    """True while the case is resolved or closed and this follower has not answered since the
    latest resolution (a late "not fixed" still reopens a closed case)."""
    if status_of(petition) not in FOLLOWUP_OPEN or petition.resolved_at is None:
        return False
    if not await is_follower(session, petition, openid):
        return False
    answered = await session.scalar(
        select(PetitionFollowupAnswer.id)
        .where(
            PetitionFollowupAnswer.petition_id == petition.id,
            PetitionFollowupAnswer.openid == openid,
            PetitionFollowupAnswer.at >= petition.resolved_at,
        )
        .limit(1)
    )
    return answered is None
