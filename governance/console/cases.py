"""Reading cases for the console: one case in scope, the export rows, the scoped figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.console.scope import Scope
from governance.directory.models import Grid, GridPoint, Staff
from governance.petitions.metrics import Report, report
from governance.petitions.models import Petition

MAX_EXPORT_ROWS = 50_000


async def find_case(session: AsyncSession, scope: Scope, ticket_no: str) -> Petition | None:
    """The case with this ticket if the scope allows it; None either way otherwise."""
    return await session.scalar(
        select(Petition).where(Petition.ticket_no == ticket_no, scope.where())
    )


async def scoped_report(
    session: AsyncSession,
    scope: Scope,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> Report:
    """`metrics.report` over the scope's grids (everything for system administrators)."""
    grids = None if scope.everything else scope.grid_ids
    return await report(session, since=since, until=until, now=now, grid_ids=grids)


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One case as a 12345 office takes it (labels are applied by the console)."""

    ticket_no: str
    created_at: datetime
    category: str
    grid_id: str
    grid_name: str
    address: str
    description: str
    status: str
    assignee: str
    responded_at: datetime | None
    resolved_at: datetime | None
    on_time: bool | None
    """Resolved by the resolution due time; None while not resolved."""
    satisfaction: str | None
    language: str
    source: str


async def export_rows(
    session: AsyncSession,
    scope: Scope,
    *,
    since: datetime | None,
    until: datetime | None,
) -> list[ExportRow]:
    """Cases filed in [since, until) in scope, oldest first (the report's cohort)."""
    statement = select(Petition).where(scope.where())
    if since is not None:
        statement = statement.where(Petition.created_at >= since)
    if until is not None:
        statement = statement.where(Petition.created_at < until)
    petitions = (
        await session.scalars(
            statement.order_by(Petition.created_at, Petition.id).limit(MAX_EXPORT_ROWS)
        )
    ).all()
    grids = {g.id: g for g in (await session.scalars(select(Grid))).all()}
    points = {p.id: p for p in (await session.scalars(select(GridPoint))).all()}
    staff_ids = {p.assignee_staff_id for p in petitions if p.assignee_staff_id}
    staff = {
        s.id: s for s in (await session.scalars(select(Staff).where(Staff.id.in_(staff_ids))))
    }
    rows = []
    for petition in petitions:
        grid = grids.get(petition.grid_id)
        assignee = staff.get(petition.assignee_staff_id or "")
        point = points.get(petition.grid_point_id or "")
        rows.append(
            ExportRow(
                ticket_no=petition.ticket_no,
                created_at=petition.created_at,
                category=petition.category,
                grid_id=petition.grid_id,
                grid_name=grid.name_zh if grid else petition.grid_id,
                address=petition.address or (point.name_zh if point else ""),
                description=petition.description,
                status=str(petition.status),
                assignee=assignee.name_zh if assignee else "",
                responded_at=petition.responded_at,
                resolved_at=petition.resolved_at,
                on_time=petition.resolution_met if petition.resolved_at else None,
                satisfaction=str(petition.satisfaction) if petition.satisfaction else None,
                language=petition.language,
                source=str(petition.source),
            )
        )
    return rows
