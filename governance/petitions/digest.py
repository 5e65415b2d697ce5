"""The handler group's 09:00 digest: what is open, overdue, due today, and yesterday's flow."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.clock import LOCAL_TZ
from governance.outbox.models import OutboxChannel, OutboxMessage
from governance.outbox.service import enqueue
from governance.petitions.lifecycle import OPEN_STATUSES
from governance.petitions.models import Petition, PetitionStatus


@dataclass(frozen=True, slots=True)
class Digest:
    community_id: str
    day: date
    """The local date the digest is for (today in Lhasa)."""
    open: int
    overdue: int
    """Open cases past their resolution due time (not while waiting) or still unanswered past
    their response due time."""
    due_today: int
    """Open, not yet overdue cases whose resolution is due today."""
    received_yesterday: int
    resolved_yesterday: int
    overdue_tickets: tuple[str, ...]
    due_today_tickets: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["overdue_tickets"] = list(self.overdue_tickets)
        data["due_today_tickets"] = list(self.due_today_tickets)
        return data


def _local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=LOCAL_TZ)
    return start, start + timedelta(days=1)


def is_overdue(petition: Petition, now: datetime) -> bool:
    """An open case has missed a running clock (resolution does not run while waiting)."""
    if petition.responded_at is None and petition.response_due_at < now:
        return True
    return petition.status != PetitionStatus.WAITING and petition.resolution_due_at < now


async def digest(session: AsyncSession, community_id: str, now: datetime) -> Digest:
    today = now.astimezone(LOCAL_TZ).date()
    today_start, today_end = _local_day_bounds(today)
    yesterday_start, _ = _local_day_bounds(today - timedelta(days=1))
    open_cases = (
        await session.scalars(
            select(Petition)
            .where(
                Petition.community_id == community_id,
                Petition.status.in_([s.value for s in OPEN_STATUSES]),
            )
            .order_by(Petition.resolution_due_at, Petition.id)
        )
    ).all()
    overdue = [p.ticket_no for p in open_cases if is_overdue(p, now)]
    due_today = [
        p.ticket_no
        for p in open_cases
        if p.ticket_no not in overdue
        and p.status != PetitionStatus.WAITING
        and today_start <= p.resolution_due_at < today_end
    ]
    received = await session.scalar(
        select(func.count(Petition.id)).where(
            Petition.community_id == community_id,
            Petition.created_at >= yesterday_start,
            Petition.created_at < today_start,
        )
    )
    resolved = await session.scalar(
        select(func.count(Petition.id)).where(
            Petition.community_id == community_id,
            Petition.resolved_at >= yesterday_start,
            Petition.resolved_at < today_start,
        )
    )
    return Digest(
        community_id,
        today,
        len(open_cases),
        len(overdue),
        len(due_today),
        int(received or 0),
        int(resolved or 0),
        tuple(overdue),
        tuple(due_today),
    )


async def enqueue_digest(
    session: AsyncSession, community_id: str, now: datetime, *, public_base_url: str = ""
) -> Digest | None:
    """Put today's digest card in the outbox once per local day (None if already there)."""
    result = await digest(session, community_id, now)
    key = f"digest:{community_id}:{result.day.isoformat()}"
    if await session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)):
        return None
    params = result.as_dict()
    params["url"] = f"{public_base_url}/console/" if public_base_url else ""
    enqueue(
        session,
        channel=OutboxChannel.HANDLER_GROUP,
        recipient=community_id,
        payload={"key": "card_daily_digest", "language": "zh", "params": params},
        idempotency_key=key,
        now=now,
    )
    return result
