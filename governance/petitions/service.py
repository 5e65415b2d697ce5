"""Petition intake: number, clocks, first timeline event and the handler-group card, atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.calendar import WorkCalendar
from governance.clock import LOCAL_TZ
from governance.db import autocommit_sessions, dialect_name
from governance.directory.models import Grid, Staff, StaffRole
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue
from governance.petitions.models import (
    DailyTicketCounter,
    Petition,
    PetitionEvent,
    PetitionSource,
    PetitionStatus,
)
from governance.petitions.sla import SlaPolicies, due_times


@dataclass(frozen=True, slots=True)
class PetitionDraft:
    """Everything intake collected from the resident."""

    resident_openid: str
    language: str
    category: str
    description: str
    community_id: str
    grid_id: str
    source: PetitionSource
    grid_point_id: str | None = None
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None
    photos: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    hazard: str | None = None


@dataclass(frozen=True, slots=True)
class PetitionSubmitted:
    petition_id: int
    ticket_no: str
    response_due_at: datetime
    resolution_due_at: datetime
    petition: Petition
    """The stored row, in the caller's session (dispatch goes on with it)."""


async def next_ticket_no(session: AsyncSession, now: datetime) -> str:
    """``YYYYMMDD-NNNN`` in local time; the daily counter is bumped with one atomic upsert."""
    day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    first = insert(DailyTicketCounter).values(day=day, last=1)
    bump = first.on_conflict_do_update(
        index_elements=[DailyTicketCounter.day],
        set_={"last": DailyTicketCounter.last + 1},
    ).returning(DailyTicketCounter.last)
    sequence = (await session.execute(bump)).scalar_one()
    return f"{day}-{sequence:04d}"


async def allocate_ticket_no(sessions: async_sessionmaker[AsyncSession], now: datetime) -> str:
    """The next ticket number, committed on its own before the petition's transaction starts.

    Bumped inside the intake transaction, the counter row stayed locked until that commit, so
    every petition of the day queued behind the one being stored (at ~15 petitions/s on
    PostgreSQL the queue never drained). Like a database sequence, a number whose petition then
    fails to commit is left unused.
    """
    async with autocommit_sessions(sessions)() as session:
        return await next_ticket_no(session, now)


def mask_phone(phone: str | None) -> str:
    """138****5678: enough for staff to recognise, not enough to leak."""
    if not phone:
        return ""
    digits = phone.replace("-", "")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


async def submit_petition(
    session: AsyncSession,
    draft: PetitionDraft,
    *,
    now: datetime,
    calendar: WorkCalendar,
    policies: SlaPolicies,
    public_base_url: str,
    post_card: bool = True,
    ticket_no: str | None = None,
) -> PetitionSubmitted:
    """Store the petition, its first event and the card for the handler group.

    Runs inside the caller's transaction: the resident is acknowledged only after it commits.
    `post_card=False` when the caller dispatches at once (the dispatch card replaces it).
    `ticket_no` comes from `allocate_ticket_no` on the busy path (chat intake); without it the
    counter is bumped in this transaction and stays locked until it ends.
    """
    ticket_no = ticket_no or await next_ticket_no(session, now)
    due = due_times(policies, calendar, draft.category, now, hazard=draft.hazard is not None)
    petition = Petition(
        ticket_no=ticket_no,
        resident_openid=draft.resident_openid,
        community_id=draft.community_id,
        grid_id=draft.grid_id,
        grid_point_id=draft.grid_point_id,
        category=draft.category,
        description=draft.description,
        language=draft.language,
        address=draft.address,
        latitude=draft.latitude,
        longitude=draft.longitude,
        phone=draft.phone,
        photos=list(draft.photos),
        source=draft.source,
        hazard=draft.hazard,
        status=PetitionStatus.RECEIVED,
        interest_count=1,
        created_at=now,
        response_due_at=due.response_due_at,
        resolution_due_at=due.resolution_due_at,
    )
    session.add(petition)
    await session.flush()
    session.add(
        PetitionEvent(
            petition_id=petition.id,
            at=now,
            kind="submitted",
            to_status=PetitionStatus.RECEIVED,
            actor=f"resident:{draft.resident_openid}",
            note="",
        )
    )
    if post_card:
        await enqueue_new_petition_card(
            session, petition, now=now, public_base_url=public_base_url
        )
    return PetitionSubmitted(
        petition.id, ticket_no, due.response_due_at, due.resolution_due_at, petition
    )


async def enqueue_new_petition_card(
    session: AsyncSession, petition: Petition, *, now: datetime, public_base_url: str
) -> None:
    """The "new case" card for the community's handler group (used when no one is dispatched)."""
    grid = await session.get(Grid, petition.grid_id)
    worker = await session.scalar(
        select(Staff).where(
            Staff.grid_id == petition.grid_id,
            Staff.role == StaffRole.GRID_WORKER,
            Staff.active.is_(True),
        )
    )
    enqueue(
        session,
        channel=OutboxChannel.HANDLER_GROUP,
        recipient=petition.community_id,
        payload={
            "key": "card_new_petition",
            "language": "zh",
            "params": {
                "ticket": petition.ticket_no,
                "category": petition.category,
                "grid": grid.name_zh if grid else petition.grid_id,
                "grid_worker": worker.name_zh if worker else "",
                "phone": mask_phone(petition.phone),
                "description": petition.description[:120],
                "resident_language": petition.language,
                "photos": len(petition.photos),
                "hazard": petition.hazard or "",
                "response_due": petition.response_due_at.isoformat(),
                "resolution_due": petition.resolution_due_at.isoformat(),
                "url": f"{public_base_url}/console/cases/{petition.ticket_no}",
            },
        },
        idempotency_key=f"petition:{petition.ticket_no}:card",
        now=now,
        petition_id=petition.id,
    )


async def petitions_of_resident(
    session: AsyncSession, openid: str, *, limit: int = 5
) -> list[Petition]:
    rows = await session.scalars(
        select(Petition)
        .where(Petition.resident_openid == openid)
        .order_by(Petition.created_at.desc(), Petition.id.desc())
        .limit(limit)
    )
    return list(rows.all())


async def petition_by_ticket(session: AsyncSession, ticket_no: str) -> Petition | None:
    return await session.scalar(select(Petition).where(Petition.ticket_no == ticket_no))
