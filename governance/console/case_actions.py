"""Console case actions, each mapped onto the domain function the WeCom staff command uses.

accept / on site / progress / resolve / return / escalate / wait → `lifecycle.transition`,
reply → `lifecycle.reply_to_resident`, change category → `dispatch.change_category`,
reassign → `dispatch.dispatch` with the chosen staff member, merge → `followers.merge`.
The pushes to residents and the cards are written to the outbox by those functions, in the
caller's transaction; the caller wakes the outbox worker after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.calendar import load_calendar
from governance.console.scope import Scope
from governance.petitions.dispatch import NoHandler, change_category, dispatch
from governance.petitions.followers import merge
from governance.petitions.lifecycle import Refused, reply_to_resident, transition
from governance.petitions.models import Petition, PetitionStatus, ReturnReason, WaitingFor
from governance.petitions.responsibility import ResponsibilityError, ResponsibilityMatrix

MAX_NOTE_LENGTH = 1000

TRANSITIONS: dict[str, PetitionStatus] = {
    "accept": PetitionStatus.ACCEPTED,
    "on_site": PetitionStatus.ON_SITE,
    "progress": PetitionStatus.IN_PROGRESS,
    "resolve": PetitionStatus.RESOLVED,
    "return": PetitionStatus.RETURNED,
    "escalate": PetitionStatus.ESCALATED,
    "wait": PetitionStatus.WAITING,
}
"""The same verb → status table as the WeCom staff commands."""

VERBS: tuple[str, ...] = (*TRANSITIONS, "reply", "reassign", "merge", "recategorise")
NEEDS_TEXT = frozenset({"progress", "reply"})


@dataclass(frozen=True, slots=True)
class CaseAction:
    """One submitted console form."""

    verb: str
    note: str = ""
    reason: str = ""
    """Return reason (`ReturnReason`) or what the case waits for (`WaitingFor`)."""
    staff_id: str = ""
    """Reassign: the new assignee."""
    target_ticket: str = ""
    """Merge: the case this one duplicates."""
    category: str = ""
    """Change category: the new category."""


@dataclass(frozen=True, slots=True)
class ActionSettings:
    matrix: ResponsibilityMatrix
    prefecture: str
    public_base_url: str


@dataclass(frozen=True, slots=True)
class ActionDone:
    verb: str
    ticket_no: str
    notified: int
    """Residents who get a push about it."""


async def perform(
    session: AsyncSession,
    petition: Petition,
    action: CaseAction,
    *,
    actor: str,
    now: datetime,
    settings: ActionSettings,
    scope: Scope,
) -> ActionDone:
    """Run one action or raise `Refused` with a code the console words politely."""
    verb = action.verb
    note = action.note.strip()
    if verb not in VERBS:
        raise Refused("unknown_action")
    if len(note) > MAX_NOTE_LENGTH:
        raise Refused("text_too_long")
    if verb in NEEDS_TEXT and not note:
        raise Refused("text_required")
    if verb == "reply":
        result = await reply_to_resident(session, petition, actor=actor, text=note, now=now)
        return ActionDone(verb, petition.ticket_no, len(result.notified))
    if verb == "recategorise":
        if action.category == petition.category:
            raise Refused("category_unchanged")
        try:
            result = await change_category(
                session,
                petition,
                action.category,
                now=now,
                actor=actor,
                matrix=settings.matrix,
                note=note,
                public_base_url=settings.public_base_url,
            )
        except ResponsibilityError as error:
            raise Refused("category_unknown") from error
        except NoHandler as error:
            raise Refused("no_handler") from error
        return ActionDone(verb, petition.ticket_no, len(result.notified))
    if verb == "reassign":
        return await _reassign(session, petition, action, actor, now, settings, note)
    if verb == "merge":
        return await _merge(session, petition, action, actor, now, scope)
    reason: str | None = None
    if verb == "return":
        if action.reason not in {r.value for r in ReturnReason}:
            raise Refused("return_reason_required")
        reason = action.reason
    elif verb == "wait" and action.reason:
        if action.reason not in {w.value for w in WaitingFor}:
            raise Refused("waiting_reason_unknown")
        reason = action.reason
    result = await transition(
        session,
        petition,
        TRANSITIONS[verb],
        actor=actor,
        now=now,
        note=note,
        reason=reason,
        calendar=await load_calendar(session, settings.prefecture),
        public_base_url=settings.public_base_url,
    )
    return ActionDone(verb, petition.ticket_no, len(result.notified))


async def _reassign(
    session: AsyncSession,
    petition: Petition,
    action: CaseAction,
    actor: str,
    now: datetime,
    settings: ActionSettings,
    note: str,
) -> ActionDone:
    if not action.staff_id:
        raise Refused("staff_required")
    if action.staff_id == petition.assignee_staff_id:
        raise Refused("already_assigned")
    try:
        result = await dispatch(
            session,
            petition,
            now=now,
            actor=actor,
            matrix=settings.matrix,
            note=note,
            assignee_staff_id=action.staff_id,
            public_base_url=settings.public_base_url,
        )
    except NoHandler as error:
        raise Refused("staff_cannot_take") from error
    return ActionDone("reassign", petition.ticket_no, len(result.notified))


async def _merge(
    session: AsyncSession,
    petition: Petition,
    action: CaseAction,
    actor: str,
    now: datetime,
    scope: Scope,
) -> ActionDone:
    ticket = action.target_ticket.strip()
    target = (
        await session.scalar(select(Petition).where(Petition.ticket_no == ticket))
        if ticket
        else None
    )
    if target is None or not scope.allows(target):
        raise Refused("merge_target_invalid")
    result = await merge(session, petition, target, actor, now)
    return ActionDone("merge", petition.ticket_no, len(result.moved))
