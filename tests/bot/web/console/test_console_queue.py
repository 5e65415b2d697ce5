"""Role scope and the case queue in the domain: one scope function, filters, counts, clocks."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import ManualClock
from governance.console.cases import export_rows, find_case, scoped_report
from governance.console.demo import seed_demo_accounts
from governance.console.models import ConsoleAccount
from governance.console.queue import QueueFilter, case_queue, is_overdue_now
from governance.console.scope import Scope, scope_of
from governance.directory.models import Staff
from tests.bot.web.console.conftest import file_petition


async def _scope(sessions: async_sessionmaker[AsyncSession], username: str) -> Scope:
    async with sessions() as session:
        account = await session.scalar(
            select(ConsoleAccount).where(ConsoleAccount.username == username)
        )
        assert account is not None
        return await scope_of(session, account)


async def test_scope_per_role(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        await seed_demo_accounts(session, now=clock.now())
    dolma = await _scope(sessions, "dolma")
    assert (dolma.grid_only, dolma.grid_ids, dolma.staff_id) == (True, {"G01"}, "S-0102")
    lhakpa = await _scope(sessions, "lhakpa")
    assert lhakpa.grid_ids == {"G01", "G02", "G03"}
    assert not lhakpa.everything
    street = await _scope(sessions, "street")
    assert street.community_ids == {"lhasa-gesanglinka"}
    admin = await _scope(sessions, "admin")
    assert admin.everything
    async with sessions() as session, session.begin():
        staff = await session.get(Staff, "S-0102")
        assert staff is not None
        staff.active = False  # a grid worker who left sees nothing any more
    left = await _scope(sessions, "dolma")
    assert left.grid_ids == frozenset()
    assert left.community_ids == frozenset()


async def test_grid_worker_also_sees_cases_assigned_to_them_elsewhere(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        await seed_demo_accounts(session, now=clock.now())
    other = await file_petition(sessions, clock.now(), grid_id="G02", grid_point_id="GP-0201")
    dolma = await _scope(sessions, "dolma")
    async with sessions() as session, session.begin():
        assert await find_case(session, dolma, other) is None
        petition = await find_case(session, await _scope(sessions, "admin"), other)
        assert petition is not None
        petition.assignee_staff_id = "S-0102"
    async with sessions() as session:
        assert await find_case(session, dolma, other) is not None


async def test_counts_follow_the_other_filters(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    now = clock.now()
    await file_petition(sessions, now, grid_id="G01")
    await file_petition(sessions, now, grid_id="G01", category="road")
    await file_petition(sessions, now, grid_id="G02", grid_point_id="GP-0201", language="bo")
    await file_petition(sessions, now, grid_id="G03", grid_point_id=None, source="voice")
    everything = Scope(True, frozenset(), frozenset())
    async with sessions() as session:
        page = await case_queue(session, everything, QueueFilter(grid="G01"), now)
    assert page.total == 2
    assert page.counts["grid"] == {"G01": 2, "G02": 1, "G03": 1}  # grid filter not applied
    assert page.counts["category"] == {"streetlight": 1, "road": 1}
    assert page.counts["language"] == {"zh": 2}
    assert page.counts["voice"] == {"1": 0}
    assert page.counts["status"]["open"] == 2
    async with sessions() as session:
        voice = await case_queue(session, everything, QueueFilter(voice=True), now)
    assert voice.total == 1
    assert voice.petitions[0].source == "voice"


async def test_overdue_and_due_soon_match_the_digest_rule(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    ticket = await file_petition(sessions, clock.now())  # streetlight: 2 h response clock
    everything = Scope(True, frozenset(), frozenset())
    async with sessions() as session:
        soon = await case_queue(session, everything, QueueFilter(due="due_soon"), clock.now())
        overdue = await case_queue(session, everything, QueueFilter(due="overdue"), clock.now())
    assert [p.ticket_no for p in soon.petitions] == [ticket]
    assert overdue.total == 0
    later = clock.now() + timedelta(hours=3)
    async with sessions() as session:
        overdue = await case_queue(session, everything, QueueFilter(due="overdue"), later)
    assert [p.ticket_no for p in overdue.petitions] == [ticket]
    assert is_overdue_now(overdue.petitions[0], later)
    assert overdue.counts["due"] == {"overdue": 1, "due_soon": 0}


async def test_queue_pages_and_sorts_by_the_next_due_clock(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    tickets = []
    for _ in range(3):
        tickets.append(await file_petition(sessions, clock.now()))
        clock.advance(timedelta(minutes=10))
    everything = Scope(True, frozenset(), frozenset())
    async with sessions() as session:
        first = await case_queue(session, everything, QueueFilter(), clock.now(), per_page=2)
        second = await case_queue(
            session, everything, QueueFilter(page=2), clock.now(), per_page=2
        )
        newest = await case_queue(session, everything, QueueFilter(sort="newest"), clock.now())
    assert (first.total, first.pages) == (3, 2)
    assert [p.ticket_no for p in first.petitions + second.petitions] == tickets
    assert [p.ticket_no for p in newest.petitions] == tickets[::-1]


def test_queue_filter_parsing_is_forgiving() -> None:
    parsed = QueueFilter.parse(
        {"status": "bogus", "due": "yesterday", "page": "-3", "sort": "x", "voice": "1"}
    )
    assert parsed == QueueFilter(status="open", due="", page=1, sort="due", voice=True)
    assert QueueFilter.parse({"page": "two"}).page == 1
    assert QueueFilter(grid="G01", page=3).as_query(page=1) == {"grid": "G01"}


async def test_report_and_export_rows_are_scoped(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    await file_petition(sessions, clock.now(), grid_id="G01")
    await file_petition(sessions, clock.now(), grid_id="G02", grid_point_id="GP-0201")
    g01 = Scope(False, frozenset({"lhasa-gesanglinka"}), frozenset({"G01"}), grid_only=True)
    everything = Scope(True, frozenset(), frozenset())
    async with sessions() as session:
        mine = await scoped_report(session, g01, since=None, until=None, now=clock.now())
        every = await scoped_report(session, everything, since=None, until=None, now=clock.now())
        rows = await export_rows(session, g01, since=None, until=None)
    assert (mine.total.received, every.total.received) == (1, 2)
    assert set(mine.by_grid) == {"G01"}
    assert [r.grid_id for r in rows] == ["G01"]
    assert rows[0].address == "北京中路12号院门口"  # the grid point's name when no address
    assert rows[0].assignee == "卓玛"
