"""SLA sweep: nudge at 50 % and 80 % of each clock and at breach; escalate on breach.

Clocks: response (from submission until the first response) and resolution (until resolved,
paused while waiting). A level is reached at that share of the natural time from submission to
the (possibly extended) due time; breach is any moment after the due time. Every nudge is a
row unique per (petition, clock, level), inserted with ON CONFLICT DO NOTHING before anything
is sent, so a second sweep, a restart or a concurrent scheduler never repeats one. When a late
sweep finds several levels reached at once, only the highest is sent; the others are recorded
as superseded. A petition is escalated at most once per sweep even if both clocks breach.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from governance.calendar import WorkCalendar
from governance.db import dialect_name
from governance.directory.models import Grid
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue
from governance.petitions.lifecycle import (
    OPEN_STATUSES,
    assignee_of,
    can_transition,
    case_url,
    status_of,
    transition,
)
from governance.petitions.models import NudgeLevel, Petition, PetitionStatus, SlaClock, SlaNudge

THRESHOLDS: tuple[tuple[NudgeLevel, float], ...] = (
    (NudgeLevel.HALF, 0.5),
    (NudgeLevel.EIGHTY, 0.8),
    (NudgeLevel.BREACH, 1.0),
)


@dataclass(frozen=True, slots=True)
class NudgeSent:
    ticket_no: str
    clock: SlaClock
    level: NudgeLevel
    channel: OutboxChannel
    recipient: str


@dataclass(slots=True)
class SweepReport:
    checked: int = 0
    nudges: list[NudgeSent] = field(default_factory=list)
    superseded: int = 0
    escalated: list[str] = field(default_factory=list)
    """Tickets escalated because a clock was breached in this sweep."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def level_time(start: datetime, due: datetime, share: float) -> datetime:
    return start + (due - start) * share


def reached_levels(start: datetime, due: datetime, now: datetime) -> list[NudgeLevel]:
    """Levels whose moment has come: 50 % and 80 % at or after their share, breach after due."""
    reached: list[NudgeLevel] = []
    for level, share in THRESHOLDS:
        if level == NudgeLevel.BREACH:
            if now > due:
                reached.append(level)
        elif now >= level_time(start, due, share):
            reached.append(level)
    return reached


def running_clocks(petition: Petition) -> list[tuple[SlaClock, datetime]]:
    """The clocks still running for this petition, with their due times."""
    status = status_of(petition)
    if status not in OPEN_STATUSES:
        return []
    clocks = []
    if petition.responded_at is None:
        clocks.append((SlaClock.RESPONSE, petition.response_due_at))
    if petition.resolved_at is None and status != PetitionStatus.WAITING:
        clocks.append((SlaClock.RESOLUTION, petition.resolution_due_at))
    return clocks


async def _record(
    session: AsyncSession,
    petition: Petition,
    clock: SlaClock,
    level: NudgeLevel,
    *,
    now: datetime,
    recipient: str,
    superseded: bool,
) -> bool:
    """Insert the nudge row; False when it was already there (sent by an earlier sweep)."""
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    statement = (
        insert(SlaNudge)
        .values(
            petition_id=petition.id,
            clock=clock.value,
            level=level.value,
            at=now,
            recipient=recipient,
            superseded=superseded,
        )
        .on_conflict_do_nothing(index_elements=["petition_id", "clock", "level"])
        .returning(SlaNudge.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def _nudge(
    session: AsyncSession,
    petition: Petition,
    clock: SlaClock,
    level: NudgeLevel,
    due: datetime,
    *,
    now: datetime,
    public_base_url: str,
) -> tuple[OutboxChannel, str]:
    staff = await assignee_of(session, petition)
    grid = await session.get(Grid, petition.grid_id)
    channel, recipient = (
        (OutboxChannel.STAFF, staff.id)
        if staff is not None and staff.active
        else (OutboxChannel.HANDLER_GROUP, petition.community_id)
    )
    enqueue(
        session,
        channel=channel,
        recipient=recipient,
        payload={
            "key": f"nudge_{clock}_{level}",
            "language": "zh",
            "params": {
                "ticket": petition.ticket_no,
                "category": petition.category,
                "grid": grid.name_zh if grid else petition.grid_id,
                "status": str(petition.status),
                "assignee": staff.name_zh if staff else "",
                "description": petition.description[:120],
                "due": due.isoformat(),
                "level": str(petition.escalation_level),
                "url": case_url(public_base_url, petition.ticket_no),
            },
        },
        idempotency_key=f"nudge:{petition.id}:{clock}:{level}",
        now=now,
        petition_id=petition.id,
    )
    return channel, recipient


async def sweep(
    session: AsyncSession,
    *,
    now: datetime,
    calendar: WorkCalendar,
    public_base_url: str = "",
) -> SweepReport:
    """One pass over every open petition; safe to repeat at any time (it records what it did)."""
    report = SweepReport()
    petitions = await session.scalars(
        select(Petition)
        .where(Petition.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(Petition.id)
    )
    for petition in petitions.all():
        report.checked += 1
        escalated = False
        for clock, due in running_clocks(petition):
            reached = reached_levels(petition.created_at, due, now)
            if not reached:
                continue
            highest = reached[-1]
            recipient = petition.assignee_staff_id or petition.community_id
            for level in reached:
                superseded = level != highest
                if not await _record(
                    session,
                    petition,
                    clock,
                    level,
                    now=now,
                    recipient=recipient,
                    superseded=superseded,
                ):
                    continue
                if superseded:
                    report.superseded += 1
                    continue
                channel, to = await _nudge(
                    session, petition, clock, level, due, now=now, public_base_url=public_base_url
                )
                report.nudges.append(NudgeSent(petition.ticket_no, clock, level, channel, to))
                if level == NudgeLevel.BREACH:
                    _mark_missed(petition, clock)
                if (
                    level == NudgeLevel.BREACH
                    and not escalated
                    and can_transition(petition, PetitionStatus.ESCALATED)
                ):
                    escalated = True
                    await transition(
                        session,
                        petition,
                        PetitionStatus.ESCALATED,
                        actor="system",
                        now=now,
                        reason=f"{clock}_breach",
                        calendar=calendar,
                        public_base_url=public_base_url,
                    )
                    report.escalated.append(petition.ticket_no)
    return report


def _mark_missed(petition: Petition, clock: SlaClock) -> None:
    """A breached clock is missed from that moment (the dashboard need not wait for a reply)."""
    if clock == SlaClock.RESPONSE and petition.response_met is None:
        petition.response_met = False
    elif clock == SlaClock.RESOLUTION and petition.resolution_met is None:
        petition.resolution_met = False


def missing_calendar_years(calendar: WorkCalendar, today: date) -> list[int]:
    """This year and next, when either the national calendar or the local table lacks them.

    The national package stops at its last published year; the prefecture's table needs its
    Losar/Shoton days entered each year. Both gaps deserve an administrator alert.
    """
    return [
        year
        for year in (today.year, today.year + 1)
        if not calendar.knows_year(year) or not calendar.has_overrides_in(year)
    ]
