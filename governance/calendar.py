"""Working days in Tibet: national holidays plus per-prefecture overrides (Losar, Shoton).

`chinese_calendar` knows the national calendar (with 调休 make-up days) up to its last published
year; Lhasa's own holidays come from the override table. A year neither knows falls back to
"weekends are rest days" and is reported so administrators can add the official arrangement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import chinese_calendar
from sqlalchemy import Boolean, Date, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base

SATURDAY = 5


class CalendarOverride(Base):
    """One day whose status differs from the national calendar in a prefecture."""

    __tablename__ = "calendar_override"
    __table_args__ = (UniqueConstraint("prefecture", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    prefecture: Mapped[str] = mapped_column(String(32), index=True)
    day: Mapped[date] = mapped_column(Date)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(128), default="")


class WorkCalendar:
    """Answers "is this a working day?" and counts working days forward."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self.missing_years: set[int] = set()
        """Years answered by the weekend-only fallback: an administrator must add them."""

    def is_workday(self, day: date) -> bool:
        if day in self._overrides:
            return self._overrides[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self.missing_years.add(day.year)
            return day.weekday() < SATURDAY

    def add_working_days(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (the start day itself is not counted)."""
        current = start
        counted = 0
        while counted < days:
            current += timedelta(days=1)
            if self.is_workday(current):
                counted += 1
        return current

    def has_overrides_in(self, year: int) -> bool:
        """True when the prefecture's table has any day in `year` (its Losar is entered)."""
        return any(day.year == year for day in self._overrides)

    def knows_year(self, year: int) -> bool:
        """True when the national calendar covers `year` (else only overrides and weekends)."""
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True


async def load_calendar(session: AsyncSession, prefecture: str) -> WorkCalendar:
    rows = await session.execute(
        select(CalendarOverride.day, CalendarOverride.is_workday).where(
            CalendarOverride.prefecture == prefecture
        )
    )
    return WorkCalendar(dict(rows.all()))


NOTE_MAX = 128


async def set_override(
    session: AsyncSession, prefecture: str, day: date, *, is_workday: bool, note: str
) -> CalendarOverride:
    """Declare `day` a holiday or a make-up working day in `prefecture` (replaces an earlier
    entry for that day). New deadlines use it at once; running clocks keep their due times."""
    row = await session.scalar(
        select(CalendarOverride).where(
            CalendarOverride.prefecture == prefecture, CalendarOverride.day == day
        )
    )
    if row is None:
        row = CalendarOverride(prefecture=prefecture, day=day, is_workday=is_workday)
        session.add(row)
    row.is_workday = is_workday
    row.note = " ".join(note.split())[:NOTE_MAX]
    await session.flush()
    return row


async def remove_override(session: AsyncSession, prefecture: str, day: date) -> bool:
    """Drop the entry for `day` (the national calendar decides again); False if there was none."""
    row = await session.scalar(
        select(CalendarOverride).where(
            CalendarOverride.prefecture == prefecture, CalendarOverride.day == day
        )
    )
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True
