"""Loads directory and calendar data from `data/`; idempotent, so running it twice is harmless."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.bookings.catalogue import load_eldercare
from governance.calendar import CalendarOverride
from governance.directory.models import Community, Grid, GridPoint, Staff, StaffRole


@dataclass(frozen=True, slots=True)
class SeedReport:
    communities: int
    grids: int
    grid_points: int
    staff: int
    calendar_days: int


def _read_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


async def load_directory(session: AsyncSession, path: Path) -> tuple[int, int, int, int]:
    raw = _read_yaml(path)
    community = raw["community"]
    await session.merge(Community(**community))
    grids = points = 0
    for grid in raw["grids"]:
        fields = {k: v for k, v in grid.items() if k != "points"}
        await session.merge(Grid(community_id=community["id"], **fields))
        grids += 1
        for point in grid.get("points", []):
            await session.merge(GridPoint(grid_id=grid["id"], **point))
            points += 1
    staff = 0
    for member in raw["staff"]:
        fields = {k: v for k, v in member.items() if k != "grid"}
        await session.merge(
            Staff(
                community_id=community["id"],
                grid_id=member.get("grid"),
                **{**fields, "role": StaffRole(fields["role"])},
            )
        )
        staff += 1
    return 1, grids, points, staff


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


async def load_calendar_overrides(session: AsyncSession, path: Path) -> int:
    """Add the file's days that the table lacks; days already there (also those changed in the
    console) are kept, so re-seeding never undoes an administrator's edit."""
    raw = _read_yaml(path)
    prefecture = raw["prefecture"]
    present = set(
        (
            await session.scalars(
                select(CalendarOverride.day).where(CalendarOverride.prefecture == prefecture)
            )
        ).all()
    )
    entries = [
        (day, False, period["note"])
        for period in raw.get("holidays", [])
        for day in _days(period["from"], period["to"])
    ] + [(entry["day"], True, entry["note"]) for entry in raw.get("workdays", [])]
    count = 0
    for day, is_workday, note in entries:
        if day in present:
            continue
        present.add(day)
        session.add(
            CalendarOverride(prefecture=prefecture, day=day, is_workday=is_workday, note=note)
        )
        count += 1
    return count


async def seed_demo(session: AsyncSession, data_dir: Path) -> SeedReport:
    """The demo community plus every prefecture calendar under data/governance/calendar."""
    communities, grids, points, staff = await load_directory(
        session, data_dir / "demo" / "community.yml"
    )
    await load_eldercare(session, data_dir / "eldercare" / "catalogue.yml")
    days = 0
    for path in sorted((data_dir / "governance" / "calendar").glob("*.yml")):
        days += await load_calendar_overrides(session, path)
    return SeedReport(communities, grids, points, staff, days)
