"""Working days on the Lhasa calendar and the due times they give."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import PROJECT_ROOT
from governance.calendar import WorkCalendar, load_calendar
from governance.clock import LOCAL_TZ
from governance.petitions.sla import SlaPolicies, due_times

POLICIES = SlaPolicies.load(PROJECT_ROOT / "data" / "governance" / "sla.yml")


def test_seven_working_days_skip_the_start_day_and_weekends() -> None:
    calendar = WorkCalendar()
    # Sunday 22 Nov 2026: Mon 23 … Fri 27 are 1–5, Mon 30 is 6, Tue 1 Dec is 7.
    assert calendar.add_working_days(date(2026, 11, 22), 7) == date(2026, 12, 1)
    # Wednesday 18 Nov: 19, 20, 23, 24, 25, 26, 27 → Friday 27 Nov (the example).
    assert calendar.add_working_days(date(2026, 11, 18), 7) == date(2026, 11, 27)


def test_national_holidays_and_makeup_workdays_come_from_chinese_calendar() -> None:
    calendar = WorkCalendar()
    assert not calendar.is_workday(date(2026, 10, 1))  # National Day
    assert calendar.add_working_days(date(2026, 9, 30), 1) > date(2026, 10, 7)


async def test_lhasa_losar_overrides_the_national_calendar(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        calendar = await load_calendar(session, "lhasa")
    assert not calendar.is_workday(date(2026, 2, 25))  # Losar, a national workday
    assert calendar.is_workday(date(2026, 2, 28))  # Saturday made a workday in Lhasa
    assert not calendar.is_workday(date(2025, 3, 3))  # Losar 2025
    assert WorkCalendar().is_workday(date(2026, 2, 25)), "without Lhasa's table it would count"


def test_a_year_the_national_calendar_lacks_falls_back_to_weekends_and_is_reported() -> None:
    calendar = WorkCalendar()
    assert calendar.is_workday(date(2031, 1, 6))  # a Monday
    assert not calendar.is_workday(date(2031, 1, 4))  # a Saturday
    assert 2031 in calendar.missing_years
    assert not calendar.knows_year(2031)
    assert calendar.knows_year(2026)


@pytest.mark.parametrize(
    ("category", "hazard", "hours"),
    [("streetlight", False, 2), ("power", False, 24), ("power", True, 2), ("other", False, 24)],
)
def test_response_clock_follows_category_and_hazard(
    category: str, hazard: bool, hours: int
) -> None:
    submitted = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    due = due_times(POLICIES, WorkCalendar(), category, submitted, hazard=hazard)
    assert (due.response_due_at - submitted).total_seconds() == hours * 3600
    local = due.resolution_due_at.astimezone(LOCAL_TZ)
    assert (local.date(), local.hour, local.minute) == (date(2026, 12, 1), 23, 59)
