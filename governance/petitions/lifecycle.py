"""The petition state machine: one table of allowed transitions, their stamps and their pushes.

Every change of status goes through `transition`, which refuses what the table does not allow,
writes a timeline event, stamps the SLA outcomes and, in the same transaction, puts the pushes
for every follower (in that follower's language) and the handler-group cards into the outbox.

Waiting rule: time in `waiting` pauses the resolution clock. On leaving it, the paused span is
measured in working days of the calendar, rounded up (any part of a working day counts as one
day; rest days cost nothing), and resolution_due_at moves that many working days later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.calendar import WorkCalendar
from governance.clock import LOCAL_TZ
from governance.directory.models import Grid, Resident, Staff
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue
from governance.petitions.models import (
    ESCALATION_ORDER,
    EscalationLevel,
    Petition,
    PetitionEvent,
    PetitionFollower,
    PetitionStatus,
    ReturnReason,
    WaitingFor,
)
from governance.petitions.responsibility import ExternalUnit

S = PetitionStatus

ALLOWED: dict[PetitionStatus, frozenset[PetitionStatus]] = {
    S.RECEIVED: frozenset({S.DISPATCHED, S.ESCALATED, S.MERGED, S.CANCELLED}),
    S.DISPATCHED: frozenset(
        {
            S.DISPATCHED,  # re-dispatch (category changed, reviewer's choice)
            S.ACCEPTED,
            S.ON_SITE,
            S.IN_PROGRESS,
            S.RESOLVED,
            S.RETURNED,
            S.ESCALATED,
            S.MERGED,
            S.CANCELLED,
        }
    ),
    S.ACCEPTED: frozenset(
        {
            S.DISPATCHED,
            S.ON_SITE,
            S.IN_PROGRESS,
            S.WAITING,
            S.RESOLVED,
            S.RETURNED,
            S.ESCALATED,
            S.MERGED,
            S.CANCELLED,
        }
    ),
    S.ON_SITE: frozenset(
        {S.IN_PROGRESS, S.WAITING, S.RESOLVED, S.RETURNED, S.ESCALATED, S.MERGED, S.CANCELLED}
    ),
    S.IN_PROGRESS: frozenset(
        {
            S.IN_PROGRESS,  # another progress note for the resident
            S.ON_SITE,
            S.WAITING,
            S.RESOLVED,
            S.RETURNED,
            S.ESCALATED,
            S.MERGED,
            S.CANCELLED,
        }
    ),
    S.WAITING: frozenset({S.ON_SITE, S.IN_PROGRESS, S.RESOLVED, S.ESCALATED, S.CANCELLED}),
    S.RETURNED: frozenset({S.DISPATCHED, S.ESCALATED, S.MERGED, S.CANCELLED}),
    S.ESCALATED: frozenset(
        {
            S.ESCALATED,  # one more level up
            S.DISPATCHED,
            S.ACCEPTED,
            S.ON_SITE,
            S.IN_PROGRESS,
            S.WAITING,
            S.RESOLVED,
            S.RETURNED,
            S.MERGED,
            S.CANCELLED,
        }
    ),
    S.REOPENED: frozenset(
        {
            S.DISPATCHED,
            S.ACCEPTED,
            S.ON_SITE,
            S.IN_PROGRESS,
            S.WAITING,
            S.RESOLVED,
            S.ESCALATED,
            S.CANCELLED,
        }
    ),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.MERGED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""Allowed transitions: from-status → the statuses it may go to."""

OPEN_STATUSES: frozenset[PetitionStatus] = frozenset(
    {
        S.RECEIVED,
        S.DISPATCHED,
        S.ACCEPTED,
        S.ON_SITE,
        S.IN_PROGRESS,
        S.RETURNED,
        S.ESCALATED,
        S.WAITING,
        S.REOPENED,
    }
)
"""Someone still has to act (resolved cases wait for the resident's follow-up instead)."""

RESPONSE_STATUSES = frozenset({S.ACCEPTED, S.ON_SITE, S.IN_PROGRESS, S.RESOLVED})
"""Reaching one of these (or a staff reply) for the first time is the response."""

RESIDENT_VISIBLE: frozenset[PetitionStatus] = frozenset(
    {S.DISPATCHED, S.ON_SITE, S.IN_PROGRESS, S.RESOLVED, S.ESCALATED}
)
"""Transitions pushed to every follower as `push_status_<status>`."""


class Refused(Exception):
    """A domain refusal with a stable `code` the bot maps to a polite message."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class IllegalTransition(Refused):
    """A transition the table (or a rule around it) refuses."""

    def __init__(self, code: str, from_status: str, to_status: str) -> None:
        super().__init__(code, f"{code}: {from_status} → {to_status}")
        self.from_status = from_status
        self.to_status = to_status


@dataclass(frozen=True, slots=True)
class TransitionResult:
    petition_id: int
    ticket_no: str
    from_status: PetitionStatus
    to_status: PetitionStatus
    event_id: int
    notified: tuple[str, ...]
    """Openids that got a push (in their language)."""
    responded: bool = False
    """This transition was the first response (responded_at stamped now)."""
    escalation_level: EscalationLevel = EscalationLevel.GRID
    paused_working_days: int = 0
    """Working days added to the resolution clock on leaving `waiting`."""


@dataclass(frozen=True, slots=True)
class Follower:
    openid: str
    language: str


def status_of(petition: Petition) -> PetitionStatus:
    return PetitionStatus(petition.status)


def next_level(level: str) -> EscalationLevel | None:
    """The level above `level`, or None at the top (county 12345)."""
    index = ESCALATION_ORDER.index(EscalationLevel(level))
    return ESCALATION_ORDER[index + 1] if index + 1 < len(ESCALATION_ORDER) else None


def can_transition(petition: Petition, to: PetitionStatus) -> bool:
    if to == S.ESCALATED and next_level(petition.escalation_level) is None:
        return False
    return to in ALLOWED[status_of(petition)]


def paused_working_days(calendar: WorkCalendar, start: datetime, end: datetime) -> int:
    """Working days the span [start, end) touches in local time: partial days round up."""
    if end <= start:
        return 0
    first = start.astimezone(LOCAL_TZ).date()
    last = (end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
    days = 0
    day = first
    while day <= last:
        if calendar.is_workday(day):
            days += 1
        day += timedelta(days=1)
    return days


def extend_due(calendar: WorkCalendar, due: datetime, working_days: int) -> datetime:
    """`due` moved `working_days` working days later, same local time of day."""
    if working_days <= 0:
        return due
    local = due.astimezone(LOCAL_TZ)
    new_day = calendar.add_working_days(local.date(), working_days)
    return local.replace(year=new_day.year, month=new_day.month, day=new_day.day)


def case_url(public_base_url: str, ticket_no: str) -> str:
    """The staff console page of a case ("" lets the sender fall back to its default link)."""
    return f"{public_base_url}/console/cases/{ticket_no}" if public_base_url else ""


async def followers(session: AsyncSession, petition: Petition) -> list[Follower]:
    """The petitioner and every "me too" follower, each with their current language."""
    rows = await session.scalars(
        select(PetitionFollower.openid)
        .where(PetitionFollower.petition_id == petition.id)
        .order_by(PetitionFollower.id)
    )
    openids = [petition.resident_openid, *(o for o in rows if o != petition.resident_openid)]
    residents = {
        r.openid: r
        for r in await session.scalars(select(Resident).where(Resident.openid.in_(openids)))
    }
    result = []
    for openid in openids:
        resident = residents.get(openid)
        language = resident.language if resident else petition.language
        result.append(Follower(openid, language))
    return result


async def assignee_of(session: AsyncSession, petition: Petition) -> Staff | None:
    if petition.assignee_staff_id is None:
        return None
    return await session.get(Staff, petition.assignee_staff_id)


def _staff_id_of(actor: str) -> str | None:
    return actor.removeprefix("staff:") if actor.startswith("staff:") else None


async def _push_params(
    session: AsyncSession,
    petition: Petition,
    *,
    actor: str,
    note: str,
    unit: ExternalUnit | None,
    prefer_assignee: bool,
) -> dict[str, dict[str, Any]]:
    """Push parameters per language ("zh", "bo"): staff and unit names in that language."""
    staff_id = petition.assignee_staff_id if prefer_assignee else None
    staff_id = staff_id or _staff_id_of(actor) or petition.assignee_staff_id
    staff = await session.get(Staff, staff_id) if staff_id else None
    params: dict[str, dict[str, Any]] = {}
    for language in ("zh", "bo"):
        params[language] = {
            "ticket": petition.ticket_no,
            "category": petition.category,
            "note": note,
            "staff": (staff.name_bo if language == "bo" else staff.name_zh) if staff else "",
            "staff_phone": staff.phone if staff else "",
            "unit": unit.name(language) if unit else "",
            "unit_phone": unit.phone if unit else "",
            "level": str(petition.escalation_level),
            "resolution_due": petition.resolution_due_at.isoformat(),
        }
    return params


async def push_to_followers(
    session: AsyncSession,
    petition: Petition,
    *,
    key: str,
    event_id: int,
    now: datetime,
    params_by_language: dict[str, dict[str, Any]],
    recipients: Sequence[Follower] | None = None,
) -> tuple[str, ...]:
    """One RESIDENT outbox row per follower; keyed by event and openid so retries never double."""
    sent = []
    if recipients is None:
        recipients = await followers(session, petition)
    for follower in recipients:
        params = params_by_language.get(follower.language) or params_by_language["zh"]
        enqueue(
            session,
            channel=OutboxChannel.RESIDENT,
            recipient=follower.openid,
            payload={"key": key, "params": params, "language": follower.language},
            idempotency_key=f"push:{event_id}:{key}:{follower.openid}"[:128],
            now=now,
            petition_id=petition.id,
        )
        sent.append(follower.openid)
    return tuple(sent)


def _stamp_response(petition: Petition, now: datetime) -> bool:
    if petition.responded_at is not None:
        return False
    petition.responded_at = now
    petition.response_met = now <= petition.response_due_at
    return True


async def _escalation_card(
    session: AsyncSession,
    petition: Petition,
    *,
    event_id: int,
    note: str,
    reason: str,
    now: datetime,
    public_base_url: str,
) -> None:
    grid = await session.get(Grid, petition.grid_id)
    staff = await assignee_of(session, petition)
    enqueue(
        session,
        channel=OutboxChannel.HANDLER_GROUP,
        recipient=petition.community_id,
        payload={
            "key": "card_escalated",
            "language": "zh",
            "params": {
                "ticket": petition.ticket_no,
                "category": petition.category,
                "grid": grid.name_zh if grid else petition.grid_id,
                "level": str(petition.escalation_level),
                "reason": reason,
                "note": note,
                "assignee": staff.name_zh if staff else "",
                "description": petition.description[:120],
                "response_due": petition.response_due_at.isoformat(),
                "resolution_due": petition.resolution_due_at.isoformat(),
                "url": case_url(public_base_url, petition.ticket_no),
            },
        },
        idempotency_key=f"card:{event_id}:escalated",
        now=now,
        petition_id=petition.id,
    )


async def transition(
    session: AsyncSession,
    petition: Petition,
    to: PetitionStatus | str,
    *,
    actor: str,
    now: datetime,
    note: str = "",
    reason: str | None = None,
    calendar: WorkCalendar | None = None,
    public_base_url: str = "",
    unit: ExternalUnit | None = None,
    detail: dict[str, Any] | None = None,
) -> TransitionResult:
    """Move the petition to `to` or raise IllegalTransition; event, stamps and pushes included.

    `reason`: the ReturnReason for `returned`, the WaitingFor for `waiting`, a free code for
    `escalated` (e.g. "response_breach", "not_fixed"). Leaving `waiting` needs `calendar`.
    `detail` is merged into the event's structured detail.
    """
    from_status = status_of(petition)
    to_status = PetitionStatus(to)
    _check(petition, from_status, to_status, reason)
    if from_status == S.WAITING and calendar is None:
        raise ValueError("leaving waiting needs the working-day calendar to extend the clock")
    detail = dict(detail or {})
    paused = 0
    if from_status == S.WAITING and calendar is not None:
        paused = paused_working_days(calendar, petition.waiting_since or now, now)
        petition.resolution_due_at = extend_due(calendar, petition.resolution_due_at, paused)
        petition.paused_working_days += paused
        petition.waiting_since = None
        petition.waiting_for = None
        detail["paused_working_days"] = paused
    responded = False
    if to_status in RESPONSE_STATUSES:
        responded = _stamp_response(petition, now)
    if to_status == S.ON_SITE and petition.contacted_at is None:
        petition.contacted_at = now
    if to_status == S.RESOLVED:
        petition.resolved_at = now
        petition.resolution_met = now <= petition.resolution_due_at
    elif to_status == S.CLOSED:
        petition.closed_at = now
    elif to_status == S.REOPENED:
        petition.resolved_at = None
        petition.resolution_met = None
        petition.closed_at = None
    elif to_status == S.RETURNED:
        petition.return_reason = ReturnReason(reason or ReturnReason.OTHER)
        detail["reason"] = str(reason)
    elif to_status == S.DISPATCHED:
        petition.return_reason = None
    elif to_status == S.WAITING:
        petition.waiting_since = now
        petition.waiting_for = WaitingFor(reason) if reason else None
        detail["waiting_for"] = reason or ""
    elif to_status == S.ESCALATED:
        level = next_level(petition.escalation_level)
        assert level is not None  # _check refused the top level
        detail.update({"from_level": str(petition.escalation_level), "level": str(level)})
        detail["reason"] = reason or ""
        petition.escalation_level = level
    petition.status = to_status
    event = PetitionEvent(
        petition_id=petition.id,
        at=now,
        kind="transition",
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        note=note,
        detail=detail,
    )
    session.add(event)
    await session.flush()
    notified: tuple[str, ...] = ()
    if to_status in RESIDENT_VISIBLE:
        params = await _push_params(
            session,
            petition,
            actor=actor,
            note=note,
            unit=unit,
            prefer_assignee=to_status == S.DISPATCHED,
        )
        notified = await push_to_followers(
            session,
            petition,
            key=f"push_status_{to_status}",
            event_id=event.id,
            now=now,
            params_by_language=params,
        )
        if to_status == S.RESOLVED:
            await push_to_followers(
                session,
                petition,
                key="push_followup",
                event_id=event.id,
                now=now,
                params_by_language=params,
            )
    if to_status == S.ESCALATED:
        await _escalation_card(
            session,
            petition,
            event_id=event.id,
            note=note,
            reason=reason or "",
            now=now,
            public_base_url=public_base_url,
        )
    return TransitionResult(
        petition.id,
        petition.ticket_no,
        from_status,
        to_status,
        event.id,
        notified,
        responded,
        EscalationLevel(petition.escalation_level),
        paused,
    )


def _check(
    petition: Petition, from_status: PetitionStatus, to_status: PetitionStatus, reason: str | None
) -> None:
    if to_status not in ALLOWED[from_status]:
        if from_status in {S.MERGED, S.CANCELLED}:
            code = "case_finished"
        elif from_status == S.CLOSED:
            code = "case_closed"
        else:
            code = "not_allowed"
        raise IllegalTransition(code, from_status, to_status)
    if to_status == S.RETURNED and reason not in {r.value for r in ReturnReason}:
        raise IllegalTransition("return_reason_required", from_status, to_status)
    if to_status == S.WAITING and reason and reason not in {w.value for w in WaitingFor}:
        raise IllegalTransition("waiting_reason_unknown", from_status, to_status)
    if to_status == S.ESCALATED and next_level(petition.escalation_level) is None:
        raise IllegalTransition("already_at_top_level", from_status, to_status)


async def reply_to_resident(
    session: AsyncSession, petition: Petition, *, actor: str, text: str, now: datetime
) -> TransitionResult:
    """A staff reply to every follower: counts as the response and as contact."""
    status = status_of(petition)
    if status in {S.MERGED, S.CANCELLED}:
        raise IllegalTransition("case_finished", status, status)
    responded = _stamp_response(petition, now)
    if petition.contacted_at is None:
        petition.contacted_at = now
    event = PetitionEvent(
        petition_id=petition.id,
        at=now,
        kind="staff_reply",
        from_status=status,
        to_status=status,
        actor=actor,
        note=text,
        detail={},
    )
    session.add(event)
    await session.flush()
    params = await _push_params(
        session, petition, actor=actor, note=text, unit=None, prefer_assignee=False
    )
    notified = await push_to_followers(
        session,
        petition,
        key="push_staff_reply",
        event_id=event.id,
        now=now,
        params_by_language=params,
    )
    return TransitionResult(
        petition.id,
        petition.ticket_no,
        status,
        status,
        event.id,
        notified,
        responded,
        EscalationLevel(petition.escalation_level),
    )


async def timeline(session: AsyncSession, petition_id: int) -> list[PetitionEvent]:
    """The petition's events in order (for the console and the resident's status page)."""
    rows = await session.scalars(
        select(PetitionEvent)
        .where(PetitionEvent.petition_id == petition_id)
        .order_by(PetitionEvent.at, PetitionEvent.id)
    )
    return list(rows.all())
