"""Staff act on cases by messaging the WeCom app ("accept 0007", "resolve 0007 <note>", "mine" …).

Only registered, active staff are answered, only about their own community's cases; every
action goes through the same lifecycle functions as the console, so it lands on the timeline
with the staff member as actor.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actions.staff_command_parser import ParseError, StaffCommand, StaffCommandParser
from bot.dialogue.context import Categoriser
from bot.messages import InboundMessage, Reply
from governance.bookings.service import BookingRefused, mark_done
from governance.calendar import load_calendar
from governance.clock import Clock
from governance.directory.models import Grid, Staff
from governance.petitions.dispatch import change_category
from governance.petitions.lifecycle import (
    OPEN_STATUSES,
    Refused,
    TransitionResult,
    reply_to_resident,
    transition,
)
from governance.petitions.models import Petition, PetitionStatus
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.petitions.voice import transcribe_voice_petition

TRANSITIONS = {
    "accept": PetitionStatus.ACCEPTED,
    "on_site": PetitionStatus.ON_SITE,
    "progress": PetitionStatus.IN_PROGRESS,
    "resolve": PetitionStatus.RESOLVED,
    "return": PetitionStatus.RETURNED,
    "escalate": PetitionStatus.ESCALATED,
    "wait": PetitionStatus.WAITING,
}
MAX_LISTED = 10


@dataclass(frozen=True, slots=True)
class StaffDeps:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    parser: StaffCommandParser
    prefecture: str
    public_base_url: str
    matrix: ResponsibilityMatrix
    categoriser: Categoriser | None = None
    """Classifies a transcribed voice petition (the embedded NLU); None keeps the category."""
    category_threshold: float = 0.35


async def handle(deps: StaffDeps, message: InboundMessage) -> list[Reply]:
    async with deps.sessions() as session, session.begin():
        staff = await session.scalar(select(Staff).where(Staff.wecom_user_id == message.user_id))
        if staff is None or not staff.active:
            return [Reply("staff_not_registered")]
        command = deps.parser.parse(message.text)
        if isinstance(command, ParseError):
            return [Reply(command.key)]
        if command.verb == "help":
            return [Reply("staff_usage", {"name": staff.name_zh})]
        if command.verb == "mine":
            return await _mine(session, staff)
        if command.verb == "visit_done":
            return await _visit_done(deps, session, staff, command.text)
        if command.verb not in TRANSITIONS and command.verb not in {
            "reply",
            "show",
            "recategorise",
            "transcribe",
        }:
            return [Reply("staff_usage_unknown")]
        found = await _find_case(session, staff, command)
        if isinstance(found, Reply):
            return [found]
        if command.verb == "show":
            return [await _case_line(session, found)]
        if command.verb == "transcribe":
            return [await _transcribe(deps, session, staff, found, command.text)]
        try:
            result = await _act(deps, session, staff, found, command)
        except Refused as refused:
            return [Reply("staff_refused", {"ticket": found.ticket_no, "code": refused.code})]
        return [
            Reply(
                f"staff_ok_{command.verb}",
                {
                    "ticket": found.ticket_no,
                    "notified": len(result.notified),
                    "level": found.escalation_level,
                    "reason": command.reason or "other",
                    "category": found.category,
                },
            )
        ]


async def _visit_done(
    deps: StaffDeps, session: AsyncSession, staff: Staff, text: str
) -> list[Reply]:
    """A provider or grid worker reports a home visit done; the elder is then asked to rate it."""
    number = text.split(" ")[0].upper() if text else ""
    if not number:
        return [Reply("staff_usage_booking")]
    try:
        await mark_done(session, number, staff.id, deps.clock.now())
    except BookingRefused as refused:
        return [Reply("staff_booking_refused", {"number": number, "code": refused.code})]
    return [Reply("staff_ok_visit_done", {"number": number})]


async def _transcribe(
    deps: StaffDeps, session: AsyncSession, staff: Staff, petition: Petition, text: str
) -> Reply:
    """Staff listened to a voice petition and wrote down (or translated) what was said."""
    category = None
    if deps.categoriser is not None:
        guessed, confidence = deps.categoriser.classify_category(text)
        category = guessed if confidence >= deps.category_threshold else None
    try:
        result = await transcribe_voice_petition(
            session,
            petition,
            text=text,
            category=category,
            actor=f"staff:{staff.id}",
            now=deps.clock.now(),
            matrix=deps.matrix,
            public_base_url=deps.public_base_url,
        )
    except Refused as refused:
        return Reply("staff_refused", {"ticket": petition.ticket_no, "code": refused.code})
    key = "staff_ok_transcribe_dispatched" if result.dispatched else "staff_ok_transcribe"
    params = {"ticket": result.ticket_no, "category": result.category}
    return Reply(key, {**params, "notified": len(result.notified)})


async def _act(
    deps: StaffDeps, session: AsyncSession, staff: Staff, petition: Petition, command: StaffCommand
) -> TransitionResult:
    actor = f"staff:{staff.id}"
    now = deps.clock.now()
    if command.verb == "reply":
        return await reply_to_resident(session, petition, actor=actor, text=command.text, now=now)
    if command.verb == "recategorise" and command.reason:
        return await change_category(
            session,
            petition,
            command.reason,
            now=now,
            actor=actor,
            matrix=deps.matrix,
            public_base_url=deps.public_base_url,
        )
    reason = command.reason if command.verb == "return" else None
    return await transition(
        session,
        petition,
        TRANSITIONS[command.verb],
        actor=actor,
        now=now,
        note=command.text,
        reason=reason,
        calendar=await load_calendar(session, deps.prefecture),
        public_base_url=deps.public_base_url,
    )


async def _find_case(
    session: AsyncSession, staff: Staff, command: StaffCommand
) -> Petition | Reply:
    """The case a ticket names: exact with its day, else by number, open cases first."""
    number = f"{command.ticket_number:04d}"
    shown = f"{command.ticket_day}-{number}" if command.ticket_day else number
    if command.ticket_day:
        candidates = list(
            (
                await session.scalars(
                    select(Petition).where(Petition.ticket_no == f"{command.ticket_day}-{number}")
                )
            ).all()
        )
    else:
        candidates = list(
            (
                await session.scalars(
                    select(Petition)
                    .where(Petition.ticket_no.like(f"%-{number}"))
                    .order_by(Petition.created_at.desc())
                )
            ).all()
        )
    if not candidates:
        return Reply("staff_not_found", {"ticket": shown})
    own = [p for p in candidates if p.community_id == staff.community_id]
    if not own:
        return Reply("staff_not_your_community", {"ticket": shown})
    open_cases = [p for p in own if PetitionStatus(p.status) in OPEN_STATUSES]
    if len(open_cases) > 1:
        return Reply(
            "staff_ambiguous_ticket",
            {"ticket": shown, "candidates": [p.ticket_no for p in open_cases[:MAX_LISTED]]},
        )
    return open_cases[0] if open_cases else own[0]


async def _case_line(session: AsyncSession, petition: Petition) -> Reply:
    grid = await session.get(Grid, petition.grid_id)
    return Reply(
        "staff_case_line",
        {
            "ticket": petition.ticket_no,
            "category": petition.category,
            "status": petition.status,
            "grid": grid.name_zh if grid else petition.grid_id,
            "resolution_due": petition.resolution_due_at,
            "description": petition.description[:60],
        },
    )


async def _mine(session: AsyncSession, staff: Staff) -> list[Reply]:
    petitions = (
        await session.scalars(
            select(Petition)
            .where(
                Petition.assignee_staff_id == staff.id,
                Petition.status.in_([s.value for s in OPEN_STATUSES]),
            )
            .order_by(Petition.resolution_due_at)
            .limit(MAX_LISTED)
        )
    ).all()
    if not petitions:
        return [Reply("staff_mine_none")]
    return [await _case_line(session, petition) for petition in petitions]
