"""Duplicates and "me too": one case per problem, with everyone affected following it.

The petitioner is always a follower; others are rows in `petition_follower` (unique per case
and openid), so `interest_count` = 1 + rows, and every follower gets the status pushes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from governance.db import dialect_name
from governance.petitions.lifecycle import (
    OPEN_STATUSES,
    Refused,
    followers,
    push_to_followers,
    status_of,
    transition,
)
from governance.petitions.models import (
    Petition,
    PetitionEvent,
    PetitionFollower,
    PetitionStatus,
)

DEFAULT_WINDOW_HOURS = 72


@dataclass(frozen=True, slots=True)
class FollowResult:
    ticket_no: str
    added: bool
    """False when the resident already followed the case (or filed it)."""
    interest_count: int


@dataclass(frozen=True, slots=True)
class MergeResult:
    source_ticket: str
    target_ticket: str
    moved: tuple[str, ...]
    """Openids that now follow the target (the source's petitioner and followers, new ones)."""
    interest_count: int


async def find_duplicate(
    session: AsyncSession,
    *,
    grid_point_id: str | None,
    grid_id: str,
    category: str,
    now: datetime,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    exclude_id: int | None = None,
) -> Petition | None:
    """The oldest open petition of this category at the grid point (or, without one, the grid).

    Filed within `window_hours` before `now`; resolved cases are not offered (a new report of a
    "fixed" problem deserves its own case).
    """
    statement = (
        select(Petition)
        .where(
            Petition.category == category,
            Petition.status.in_([s.value for s in OPEN_STATUSES]),
            Petition.created_at >= now - timedelta(hours=window_hours),
            Petition.created_at <= now,
        )
        .order_by(Petition.created_at, Petition.id)
        .limit(1)
    )
    if grid_point_id is not None:
        statement = statement.where(Petition.grid_point_id == grid_point_id)
    else:
        statement = statement.where(Petition.grid_id == grid_id)
    if exclude_id is not None:
        statement = statement.where(Petition.id != exclude_id)
    return await session.scalar(statement)


async def _add_follower(
    session: AsyncSession, petition_id: int, openid: str, now: datetime, via: str
) -> bool:
    """Insert the follower row unless it exists; True when a row was added."""
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    statement = (
        insert(PetitionFollower)
        .values(petition_id=petition_id, openid=openid, since=now, via=via)
        .on_conflict_do_nothing(index_elements=["petition_id", "openid"])
        .returning(PetitionFollower.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def _bump_interest(session: AsyncSession, petition: Petition, by: int) -> int:
    """Atomic increment (concurrent "me too"s never lose a count)."""
    if by:
        await session.execute(
            update(Petition)
            .where(Petition.id == petition.id)
            .values(interest_count=Petition.interest_count + by)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(petition, ["interest_count"])
    return petition.interest_count


async def follow(
    session: AsyncSession, petition: Petition, openid: str, now: datetime
) -> FollowResult:
    """The resident says "me too": they follow the case and its interest count rises."""
    status = status_of(petition)
    if status not in OPEN_STATUSES:
        raise Refused("cannot_follow", f"{petition.ticket_no} is {status}")
    added = openid != petition.resident_openid and await _add_follower(
        session, petition.id, openid, now, "me_too"
    )
    if added:
        session.add(
            PetitionEvent(
                petition_id=petition.id,
                at=now,
                kind="followed",
                from_status=status,
                to_status=status,
                actor=f"resident:{openid}",
                note="",
                detail={},
            )
        )
    count = await _bump_interest(session, petition, 1 if added else 0)
    return FollowResult(petition.ticket_no, added, count)


async def merge(
    session: AsyncSession, source: Petition, target: Petition, actor: str, now: datetime
) -> MergeResult:
    """Mark `source` merged into `target` and move its petitioner and followers over."""
    if source.id == target.id or source.community_id != target.community_id:
        raise Refused("merge_target_invalid", f"{source.ticket_no} → {target.ticket_no}")
    if status_of(target) not in OPEN_STATUSES:
        raise Refused("merge_target_closed", f"{target.ticket_no} is {target.status}")
    source_followers = await followers(session, source)
    result = await transition(
        session,
        source,
        PetitionStatus.MERGED,
        actor=actor,
        now=now,
        note=target.ticket_no,
        detail={"target": target.ticket_no},
    )
    source.merged_into_id = target.id
    await session.execute(
        delete(PetitionFollower).where(PetitionFollower.petition_id == source.id)
    )
    moved = [
        f.openid
        for f in source_followers
        if f.openid != target.resident_openid
        and await _add_follower(session, target.id, f.openid, now, "merge")
    ]
    count = await _bump_interest(session, target, len(moved))
    session.add(
        PetitionEvent(
            petition_id=target.id,
            at=now,
            kind="merged_in",
            from_status=target.status,
            to_status=target.status,
            actor=actor,
            note=source.ticket_no,
            detail={"source": source.ticket_no, "moved": len(moved)},
        )
    )
    params = {"ticket": source.ticket_no, "target_ticket": target.ticket_no}
    await push_to_followers(
        session,
        source,
        key="push_merged",
        event_id=result.event_id,
        now=now,
        params_by_language={"zh": {**params, "category": target.category}},
        recipients=source_followers,
    )
    return MergeResult(source.ticket_no, target.ticket_no, tuple(moved), count)
