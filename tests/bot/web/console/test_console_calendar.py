"""Administrators edit the local holiday calendar; new deadlines follow it at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from governance.calendar import CalendarOverride
from governance.console.models import AuditEntry
from governance.seed import seed_demo
from tests.bot.web.console.conftest import DATA, Console, file_petition


async def overrides(console: Console) -> dict[str, tuple[bool, str]]:
    async with console.sessions() as session:
        rows = (await session.scalars(select(CalendarOverride))).all()
    return {r.day.isoformat(): (r.is_workday, r.note) for r in rows}


async def test_a_street_admin_declares_a_holiday_and_new_deadlines_move(console: Console) -> None:
    before = await console.petition(await file_petition(console.sessions, console.clock.now()))
    holiday = (console.clock.now() + timedelta(days=3)).date()  # a weekday inside the window
    await console.login("street")
    status, html = await console.post(
        "/console/calendar",
        {"prefecture": "lhasa", "day": holiday.isoformat(), "kind": "holiday", "note": "临时放假"},
    )
    assert status == 200
    assert "已保存" in html
    assert (await overrides(console))[holiday.isoformat()] == (False, "临时放假")
    after = await console.petition(await file_petition(console.sessions, console.clock.now()))
    assert after.resolution_due_at - before.resolution_due_at == timedelta(days=1)
    unchanged = await console.petition(before.ticket_no)
    assert unchanged.resolution_due_at == before.resolution_due_at, "running clocks keep theirs"

    status, html = await console.post(
        "/console/calendar", {"prefecture": "lhasa", "day": holiday.isoformat(), "remove": "1"}
    )
    assert "已删除" in html
    assert holiday.isoformat() not in await overrides(console)
    async with console.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert {"calendar_set", "calendar_remove"} <= set(actions)


async def test_a_bad_day_or_a_foreign_prefecture_is_refused_with_the_form_kept(
    console: Console,
) -> None:
    await console.login("admin")
    status, html = await console.post(
        "/console/calendar", {"prefecture": "lhasa", "day": "2026-13-40", "kind": "holiday"}
    )
    assert status == 400
    assert "日期不对" in html
    assert 'value="2026-13-40"' in html
    status, html = await console.post(
        "/console/calendar", {"prefecture": "beijing", "day": "2026-12-01", "kind": "holiday"}
    )
    assert status == 400
    assert "不在您的管理范围内" in html
    assert "2026-12-01" not in await overrides(console)


async def test_grid_workers_and_officers_see_the_calendar_but_cannot_change_it(
    console: Console,
) -> None:
    await console.login("lhakpa")
    status, html = await console.get("/console/calendar")
    assert status == 200
    assert "Spring Festival and Losar 2026" in html  # the seeded rows are listed
    assert 'action="/console/calendar"' not in html
    status, _ = await console.post(
        "/console/calendar", {"prefecture": "lhasa", "day": "2026-12-01", "kind": "holiday"}
    )
    assert status == 404
    assert "2026-12-01" not in await overrides(console)


async def test_seeding_again_keeps_the_administrators_edits(console: Console) -> None:
    seeded = await overrides(console)
    losar_day = min(day for day, (workday, note) in seeded.items() if "Losar" in note)
    await console.login("admin")
    await console.post(
        "/console/calendar",
        {"prefecture": "lhasa", "day": losar_day, "kind": "workday", "note": "调整为上班"},
    )
    async with console.sessions() as session, session.begin():
        report = await seed_demo(session, DATA)
    assert report.calendar_days == 0
    assert (await overrides(console))[losar_day] == (True, "调整为上班")
