"""Look-ups over the directory: grid points, grids by name or position, staff, residents."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from governance.directory.models import Community, Grid, GridPoint, Resident, Staff, StaffRole

TSHEG_AND_SHAD = "\u0f0b\u0f0d"
NEAREST_POINT_MAX_METRES = 800.0
"""A location message farther than this from every grid point is not matched automatically."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a petition happens, resolved to the directory."""

    community_id: str
    grid_id: str
    grid_point_id: str | None
    name_zh: str
    name_bo: str


async def grid_point_place(session: AsyncSession, grid_point_id: str) -> Place | None:
    row = (
        await session.execute(
            select(GridPoint, Grid)
            .join(Grid, Grid.id == GridPoint.grid_id)
            .where(GridPoint.id == grid_point_id)
        )
    ).first()
    if row is None:
        return None
    point, grid = row
    return _point_place(point, grid)


def _point_place(point: GridPoint, grid: Grid) -> Place:
    return Place(
        grid.community_id,
        grid.id,
        point.id,
        f"{grid.name_zh} · {point.name_zh}",
        f"{grid.name_bo} · {point.name_bo}",
    )


def grid_place(grid: Grid) -> Place:
    return Place(grid.community_id, grid.id, None, grid.name_zh, grid.name_bo)


async def list_grids(session: AsyncSession, community_id: str | None = None) -> Sequence[Grid]:
    statement = select(Grid).order_by(Grid.id)
    if community_id is not None:
        statement = statement.where(Grid.community_id == community_id)
    return (await session.scalars(statement)).all()


def _fold(text: str) -> str:
    """Case-, width- and space-insensitive form for matching typed addresses."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in TSHEG_AND_SHAD)


async def match_place_by_text(session: AsyncSession, text: str) -> Place | None:
    """A grid point or grid whose name or alias appears in the typed address (longest wins)."""
    folded_text = _fold(text)
    if not folded_text:
        return None
    best: tuple[int, Place] | None = None
    points = (await session.execute(select(GridPoint, Grid).join(Grid))).all()
    for point, grid in points:
        for name in (point.name_zh, point.name_bo):
            folded = _fold(name)
            if folded and folded in folded_text and (best is None or len(folded) > best[0]):
                best = (len(folded), _point_place(point, grid))
    for grid in await list_grids(session):
        for name in (grid.name_zh, grid.name_bo, *grid.aliases):
            folded = _fold(name)
            if folded and folded in folded_text and (best is None or len(folded) > best[0]):
                best = (len(folded), grid_place(grid))
    return best[1] if best else None


def _distance_metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    radius = 6_371_000.0
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(a))


async def nearest_place(session: AsyncSession, latitude: float, longitude: float) -> Place | None:
    """The grid point closest to a shared location, if one is near enough."""
    points = (
        await session.scalars(select(GridPoint).where(GridPoint.latitude.is_not(None)))
    ).all()
    scored = [
        (_distance_metres(latitude, longitude, p.latitude, p.longitude), p.id)
        for p in points
        if p.latitude is not None and p.longitude is not None
    ]
    if not scored:
        return None
    distance, point_id = min(scored)
    if distance > NEAREST_POINT_MAX_METRES:
        return None
    return await grid_point_place(session, point_id)


async def grid_by_id(session: AsyncSession, grid_id: str) -> Grid | None:
    return await session.get(Grid, grid_id)


async def community_by_id(session: AsyncSession, community_id: str) -> Community | None:
    return await session.get(Community, community_id)


async def community_staff(session: AsyncSession, community_id: str) -> Sequence[Staff]:
    return (
        await session.scalars(
            select(Staff)
            .where(Staff.community_id == community_id, Staff.active.is_(True))
            .order_by(Staff.id)
        )
    ).all()


async def grid_staff(session: AsyncSession, grid_id: str) -> Sequence[Staff]:
    return (
        await session.scalars(
            select(Staff)
            .where(Staff.grid_id == grid_id, Staff.active.is_(True))
            .order_by(Staff.id)
        )
    ).all()


async def grid_worker(session: AsyncSession, grid_id: str) -> Staff | None:
    return next(
        (s for s in await grid_staff(session, grid_id) if s.role == StaffRole.GRID_WORKER), None
    )


async def get_or_create_resident(
    session: AsyncSession, openid: str, *, language: str, now: datetime
) -> Resident:
    resident = await session.get(Resident, openid)
    if resident is None:
        resident = new_resident(openid, language=language, now=now)
        session.add(resident)
        await session.flush()
    return resident


async def remember_report_contact(
    session: AsyncSession,
    openid: str,
    *,
    grid_id: str,
    phone: str | None,
    language: str,
    now: datetime,
) -> None:
    """The grid a resident just reported from, and the phone they gave: one UPDATE (the row
    exists since their first message; created here if it has gone meanwhile)."""
    values: dict[str, str] = {"grid_id": grid_id, **({"phone": phone} if phone else {})}
    updated = await session.execute(
        update(Resident).where(Resident.openid == openid).values(values),
        execution_options={"synchronize_session": False},
    )
    if getattr(updated, "rowcount", 0) == 0:
        resident = new_resident(openid, language=language, now=now)
        resident.grid_id, resident.phone = grid_id, phone
        session.add(resident)
        await session.flush()


def new_resident(openid: str, *, language: str, now: datetime) -> Resident:
    """A resident met for the first time (subscribed: they just wrote or followed)."""
    return Resident(openid=openid, language=language, created_at=now, subscribed=True)
