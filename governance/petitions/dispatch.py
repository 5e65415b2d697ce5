"""Dispatch: the responsibility matrix picks the handler, the group gets a card.

A staff rule gives the grid's member in that role, else the community officer. A unit rule
records the external unit and makes the community officer the assignee who tracks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.directory.models import Grid, GridPoint, Staff, StaffRole
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue
from governance.petitions.lifecycle import (
    ALLOWED,
    IllegalTransition,
    Refused,
    TransitionResult,
    case_url,
    status_of,
    transition,
)
from governance.petitions.models import Petition, PetitionEvent, PetitionStatus
from governance.petitions.responsibility import ExternalUnit, ResponsibilityMatrix
from governance.petitions.service import mask_phone


class NoHandler(LookupError):
    """Neither the grid nor the community has an active member to take the case."""


@dataclass(frozen=True, slots=True)
class Assignment:
    staff: Staff
    unit: ExternalUnit | None
    role: StaffRole
    """The role the matrix asked for (the staff member may be the community-officer fallback)."""


async def community_officer(session: AsyncSession, community_id: str) -> Staff | None:
    return await session.scalar(
        select(Staff)
        .where(
            Staff.community_id == community_id,
            Staff.role == StaffRole.COMMUNITY_OFFICER,
            Staff.active.is_(True),
        )
        .order_by(Staff.id)
        .limit(1)
    )


async def choose_assignee(
    session: AsyncSession, petition: Petition, matrix: ResponsibilityMatrix
) -> Assignment:
    """Who handles this petition according to the matrix (with the community-officer fallback)."""
    rule = matrix.rule_for(petition.category, petition.grid_id)
    officer = await community_officer(session, petition.community_id)
    if rule.unit is not None:
        if officer is None:
            raise NoHandler(f"community {petition.community_id} has no active officer")
        return Assignment(officer, matrix.unit(rule.unit), StaffRole.COMMUNITY_OFFICER)
    role = rule.role or StaffRole.GRID_WORKER
    staff = None
    if role != StaffRole.COMMUNITY_OFFICER:
        staff = await session.scalar(
            select(Staff)
            .where(
                Staff.grid_id == petition.grid_id,
                Staff.role == role,
                Staff.active.is_(True),
            )
            .order_by(Staff.id)
            .limit(1)
        )
    staff = staff or officer
    if staff is None:
        raise NoHandler(f"nobody in grid {petition.grid_id} or community {petition.community_id}")
    return Assignment(staff, None, role)


async def dispatch(
    session: AsyncSession,
    petition: Petition,
    *,
    now: datetime,
    actor: str,
    matrix: ResponsibilityMatrix,
    note: str = "",
    assignee_staff_id: str | None = None,
    external_unit: str | None = None,
    public_base_url: str = "",
) -> TransitionResult:
    """Assign by the matrix (or the reviewer's explicit choice), move to dispatched, post a card.

    `assignee_staff_id` / `external_unit` override the matrix (re-dispatch after a return).
    """
    current = status_of(petition)
    if PetitionStatus.DISPATCHED not in ALLOWED[current]:
        raise IllegalTransition("not_allowed", current, PetitionStatus.DISPATCHED)
    unit: ExternalUnit | None
    if assignee_staff_id is not None or external_unit is not None:
        unit = matrix.unit(external_unit) if external_unit else None
        staff = await session.get(Staff, assignee_staff_id) if assignee_staff_id else None
        if staff is None:
            staff = await community_officer(session, petition.community_id)
        if staff is None or staff.community_id != petition.community_id or not staff.active:
            raise NoHandler(f"staff {assignee_staff_id} cannot take cases of this community")
        role = StaffRole(staff.role)
    else:
        assignment = await choose_assignee(session, petition, matrix)
        staff, unit, role = assignment.staff, assignment.unit, assignment.role
    petition.assignee_staff_id = staff.id
    petition.external_unit = unit.id if unit else None
    result = await transition(
        session,
        petition,
        PetitionStatus.DISPATCHED,
        actor=actor,
        now=now,
        note=note,
        unit=unit,
        public_base_url=public_base_url,
        detail={
            "assignee": staff.id,
            "role": str(role),
            "external_unit": unit.id if unit else None,
        },
    )
    grid = await session.get(Grid, petition.grid_id)
    enqueue(
        session,
        channel=OutboxChannel.HANDLER_GROUP,
        recipient=petition.community_id,
        payload={
            "key": "card_dispatched",
            "language": "zh",
            "params": {
                "ticket": petition.ticket_no,
                "category": petition.category,
                "grid": grid.name_zh if grid else petition.grid_id,
                "assignee": staff.name_zh,
                "assignee_role": str(staff.role),
                "unit": unit.name_zh if unit else "",
                "unit_phone": unit.phone if unit else "",
                "phone": mask_phone(petition.phone),
                "description": petition.description[:120],
                "hazard": petition.hazard or "",
                "note": note,
                "response_due": petition.response_due_at.isoformat(),
                "resolution_due": petition.resolution_due_at.isoformat(),
                "url": case_url(public_base_url, petition.ticket_no),
            },
        },
        idempotency_key=f"card:{result.event_id}:dispatched",
        now=now,
        petition_id=petition.id,
    )
    return result


async def change_category(
    session: AsyncSession,
    petition: Petition,
    category: str,
    *,
    now: datetime,
    actor: str,
    matrix: ResponsibilityMatrix,
    note: str = "",
    public_base_url: str = "",
) -> TransitionResult:
    """Staff correct the category; the case is re-dispatched by the matrix (due times stay)."""
    current = status_of(petition)
    if PetitionStatus.DISPATCHED not in ALLOWED[current]:
        raise IllegalTransition("not_allowed", current, PetitionStatus.DISPATCHED)
    matrix.rule_for(category, petition.grid_id)  # refuses an unknown category before changing
    old = petition.category
    petition.category = category
    session.add(
        PetitionEvent(
            petition_id=petition.id,
            at=now,
            kind="category_changed",
            from_status=current,
            to_status=current,
            actor=actor,
            note=note,
            detail={"from": old, "to": category},
        )
    )
    return await dispatch(
        session, petition, now=now, actor=actor, matrix=matrix, public_base_url=public_base_url
    )


async def change_place(
    session: AsyncSession,
    petition: Petition,
    *,
    grid_id: str,
    grid_point_id: str | None = None,
    now: datetime,
    actor: str,
    matrix: ResponsibilityMatrix,
    note: str = "",
    public_base_url: str = "",
) -> TransitionResult:
    """Staff correct the grid (after a wrong_area return); re-dispatched within the community."""
    current = status_of(petition)
    if PetitionStatus.DISPATCHED not in ALLOWED[current]:
        raise IllegalTransition("not_allowed", current, PetitionStatus.DISPATCHED)
    grid = await session.get(Grid, grid_id)
    point = await session.get(GridPoint, grid_point_id) if grid_point_id else None
    if grid is None or grid.community_id != petition.community_id:
        raise Refused("grid_not_in_community", f"{grid_id} is not in {petition.community_id}")
    if grid_point_id is not None and (point is None or point.grid_id != grid_id):
        raise Refused("grid_point_not_in_grid", f"{grid_point_id} is not in {grid_id}")
    old = {"grid": petition.grid_id, "grid_point": petition.grid_point_id}
    petition.grid_id, petition.grid_point_id = grid_id, grid_point_id
    session.add(
        PetitionEvent(
            petition_id=petition.id,
            at=now,
            kind="place_changed",
            from_status=current,
            to_status=current,
            actor=actor,
            note=note,
            detail={"from": old, "to": {"grid": grid_id, "grid_point": grid_point_id}},
        )
    )
    return await dispatch(
        session, petition, now=now, actor=actor, matrix=matrix, public_base_url=public_base_url
    )
