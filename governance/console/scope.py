"""What a console user may see, decided in one place from the account's role.

Every console query of petitions goes through `Scope.where` (or `Scope.allows` for one loaded
case), so a case outside the scope is simply not found (the console answers 404, not 403).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from governance.console.models import ConsoleAccount, ConsoleRole
from governance.directory.models import Community, Grid, Staff
from governance.petitions.models import Petition


@dataclass(frozen=True, slots=True)
class Scope:
    everything: bool
    """System administrators: no restriction."""
    community_ids: frozenset[str]
    """Communities whose directory and figures the user sees."""
    grid_ids: frozenset[str]
    """Grids whose cases the user sees (every grid of `community_ids` unless grid-only)."""
    grid_only: bool = False
    """Grid workers: cases of `grid_ids` plus the cases assigned to `staff_id`."""
    staff_id: str | None = None

    def where(self) -> ColumnElement[bool]:
        """The petition filter for a SELECT over `Petition`."""
        if self.everything:
            return true()
        if self.grid_only:
            clauses: list[ColumnElement[bool]] = []
            if self.grid_ids:
                clauses.append(Petition.grid_id.in_(sorted(self.grid_ids)))
            if self.staff_id:
                clauses.append(Petition.assignee_staff_id == self.staff_id)
            return or_(*clauses) if clauses else false()
        if not self.community_ids:
            return false()
        return Petition.community_id.in_(sorted(self.community_ids))

    def allows(self, petition: Petition) -> bool:
        if self.everything:
            return True
        if self.grid_only:
            return petition.grid_id in self.grid_ids or (
                self.staff_id is not None and petition.assignee_staff_id == self.staff_id
            )
        return petition.community_id in self.community_ids

    def allows_community(self, community_id: str) -> bool:
        return self.everything or community_id in self.community_ids


NOTHING = Scope(everything=False, community_ids=frozenset(), grid_ids=frozenset())


async def _grids_of(session: AsyncSession, community_ids: Sequence[str]) -> frozenset[str]:
    rows = await session.scalars(select(Grid.id).where(Grid.community_id.in_(community_ids)))
    return frozenset(rows.all())


async def scope_of(session: AsyncSession, account: ConsoleAccount) -> Scope:
    """The allowed communities and grids of an account (an inactive staff link sees nothing)."""
    role = ConsoleRole(account.role)
    if role == ConsoleRole.SYSTEM_ADMIN:
        every_community = frozenset((await session.scalars(select(Community.id))).all())
        every_grid = frozenset((await session.scalars(select(Grid.id))).all())
        return Scope(True, every_community, every_grid, staff_id=account.staff_id)
    if role == ConsoleRole.GRID_WORKER:
        staff = await session.get(Staff, account.staff_id) if account.staff_id else None
        if staff is None or not staff.active or staff.grid_id is None:
            return NOTHING
        return Scope(
            False,
            frozenset({staff.community_id}),
            frozenset({staff.grid_id}),
            grid_only=True,
            staff_id=staff.id,
        )
    if account.staff_id:
        staff = await session.get(Staff, account.staff_id)
        if staff is None or not staff.active:
            return NOTHING
    communities = list(account.community_ids or [])
    if role == ConsoleRole.COMMUNITY_OFFICER:
        communities = communities[:1]
    return Scope(
        False,
        frozenset(communities),
        await _grids_of(session, communities),
        staff_id=account.staff_id,
    )
