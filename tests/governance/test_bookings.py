"""Eldercare home-visit bookings on both databases: catalogue, slots, capacity under concurrency,
reminders in the outbox, rescheduling, cancelling, visits and ratings.

The clock starts at 10:00 on Sunday 2026-11-22 in Lhasa. The nursing station (P-NURSING) works
Monday to Saturday 09:00–18:00 in one-hour slots with two places each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import PROJECT_ROOT
from governance.bookings.catalogue import CatalogueError, load_eldercare
from governance.bookings.models import (
    Booking,
    BookingStatus,
    EldercareService,
    Provider,
    ProviderKind,
    ProviderService,
)
from governance.bookings.service import (
    AvailabilityStatus,
    Booked,
    BookingRefused,
    BookingRequest,
    Rescheduled,
    Slot,
    SlotFull,
    available_slots,
    book,
    booking_by_number,
    bookings_of,
    cancel,
    mark_done,
    mark_no_show,
    record_rating,
    reschedule,
    slot_used,
)
from governance.clock import LOCAL_TZ, ManualClock
from governance.directory.service import get_or_create_resident
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus

CATALOGUE = PROJECT_ROOT / "data" / "eldercare" / "catalogue.yml"
COMMUNITY = "lhasa-gesanglinka"

Sessions = async_sessionmaker[AsyncSession]


def lhasa(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A wall-clock time in Lhasa in November 2026 (the 22nd is a Sunday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=LOCAL_TZ)


def at(moment: datetime) -> tuple[datetime, datetime]:
    """An exact wanted time ("明天下午三点")."""
    return (moment, moment)


def request(
    wanted: tuple[datetime, datetime],
    *,
    openid: str = "o-yangzom",
    service: str = "nursing",
    elder_name: str = "央宗",
    **changes: object,
) -> BookingRequest:
    base = BookingRequest(
        openid=openid,
        service=service,
        wanted=wanted,
        elder_name=elder_name,
        address="北京中路12号院3单元2楼",
        phone="13812345678",
        language="zh",
        grid_id="G01",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def residents(sessions: Sessions, *openids: str) -> None:
    async with sessions() as session, session.begin():
        for openid in openids:
            await get_or_create_resident(
                session, openid, language="zh", now=datetime(2026, 11, 1, tzinfo=UTC)
            )


async def booked(sessions: Sessions, req: BookingRequest, now: datetime) -> Booked:
    async with sessions() as session, session.begin():
        outcome = await book(session, req, now)
    assert isinstance(outcome, Booked), outcome
    return outcome


async def outbox_rows(session: AsyncSession, key: str | None = None) -> list[OutboxMessage]:
    await session.flush()
    rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [row for row in rows if key is None or row.payload["key"] == key]


async def refused(call: Awaitable[object]) -> BookingRefused:
    with pytest.raises(BookingRefused) as caught:
        await call
    return caught.value


def starts(slots: Iterable[Slot]) -> list[datetime]:
    return [slot.start.astimezone(LOCAL_TZ) for slot in slots]


# --- catalogue -----------------------------------------------------------------------------


async def test_catalogue_is_loaded_with_one_grid_worker_provider_per_grid(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        services = (await session.scalars(select(EldercareService.id))).all()
        workers = (
            await session.scalars(
                select(Provider)
                .where(Provider.kind == ProviderKind.GRID_WORKER)
                .order_by(Provider.id)
            )
        ).all()
        nursing = await session.get(Provider, "P-NURSING")
        links_before = await session.scalar(select(func.count()).select_from(ProviderService))
        report = await load_eldercare(session, CATALOGUE)  # a second load changes nothing
        links_after = await session.scalar(select(func.count()).select_from(ProviderService))
    assert set(services) == {"meal", "housekeeping", "nursing", "health_check", "certification"}
    assert [(p.id, p.grid_id, p.staff_id, p.name_zh) for p in workers] == [
        ("GW-G01", "G01", "S-0102", "卓玛"),
        ("GW-G02", "G02", "S-0202", "多吉"),
        ("GW-G03", "G03", "S-0302", "旺堆"),
    ]
    assert nursing is not None
    assert (nursing.capacity, nursing.slot_minutes, nursing.hours) == (2, 60, [["09:00", "18:00"]])
    assert nursing.working_days == [1, 2, 3, 4, 5, 6]
    assert (report.services, report.providers, report.grid_workers, report.deactivated) == (
        5,
        4,
        3,
        0,
    )
    assert links_before == links_after == 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("services", "bathing"), "unknown service 'bathing'"),
        (("hours", ["18:00-09:00"]), "not a time span"),
        (("hours", ["09:00-12:00", "11:00-14:00"]), "overlap"),
        (("capacity", 0), "capacity"),
        (("working_days", ["monday"]), "unknown working days"),
        (("slot_minutes", 20), "does not fit"),
    ],
)
async def test_catalogue_mistakes_are_refused_with_their_place(
    sessions: Sessions, tmp_path: Path, change: tuple[str, object], message: str
) -> None:
    raw = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    field, value = change
    raw["providers"][2][field] = [value] if field == "services" else value
    bad = tmp_path / "catalogue.yml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    async with sessions() as session:
        with pytest.raises(CatalogueError, match=message) as caught:
            await load_eldercare(session, bad)
    assert "providers[2]" in str(caught.value)


# --- availability --------------------------------------------------------------------------


async def test_a_part_of_a_day_gives_the_earliest_free_slot_inside_it(
    sessions: Sessions, clock: ManualClock
) -> None:
    now = clock.now()
    async with sessions() as session:
        morning = await available_slots(
            session, "nursing", (lhasa(23, 8), lhasa(23, 12)), now, grid_id="G01"
        )
        three_pm = await available_slots(session, "nursing", at(lhasa(23, 15)), now)
        # Two providers offer health checks: the nursing station opens at 09:00, the health
        # centre at 09:30; the whole day gives the earliest of both.
        whole_day = await available_slots(
            session, "health_check", (lhasa(23, 0), lhasa(24, 0)), now, limit=3
        )
        # Today (Sunday) the canteen still has lunch slots; 10:00 is too soon for 10:00–11:00.
        lunch_today = await available_slots(session, "meal", (lhasa(22, 8), lhasa(22, 14)), now)
    assert morning.status == AvailabilityStatus.FREE
    assert starts(morning.slots) == [lhasa(23, 9), lhasa(23, 10), lhasa(23, 11)]
    assert three_pm.status == AvailabilityStatus.FREE
    assert (starts(three_pm.slots)[0], three_pm.slots[0].end) == (lhasa(23, 15), lhasa(23, 16))
    assert three_pm.slots[0].free == 2
    assert [(s.provider_id, s.start) for s in whole_day.slots] == [
        ("P-NURSING", lhasa(23, 9)),
        ("P-HEALTH", lhasa(23, 9, 30)),
        ("P-NURSING", lhasa(23, 10)),
    ]
    assert starts(lunch_today.slots) == [lhasa(22, 11), lhasa(22, 12)]


async def test_a_full_slot_offers_the_nearest_free_ones_same_day_first(
    sessions: Sessions, clock: ManualClock
) -> None:
    now = clock.now()
    await residents(sessions, "o-a", "o-b", "o-c")
    for openid in ("o-a", "o-b"):
        await booked(sessions, request(at(lhasa(23, 15)), openid=openid), now)
    async with sessions() as session, session.begin():
        outcome = await book(session, request(at(lhasa(23, 15)), openid="o-c"), now)
        availability = await available_slots(session, "nursing", at(lhasa(23, 15)), now, limit=5)
        used = await slot_used(session, "P-NURSING", lhasa(23, 15))
    assert isinstance(outcome, SlotFull)
    assert starts(outcome.alternatives) == [lhasa(23, 14), lhasa(23, 16), lhasa(23, 13)]
    assert availability.status == AvailabilityStatus.FULL
    assert starts(availability.slots) == [
        lhasa(23, 14),
        lhasa(23, 16),
        lhasa(23, 13),
        lhasa(23, 17),
        lhasa(23, 12),
    ]
    assert all(slot.free == 2 for slot in availability.slots)
    assert used == 2


async def test_when_the_whole_day_is_full_alternatives_come_from_the_next_days(
    sessions: Sessions, clock: ManualClock
) -> None:
    """Monday is full: Tuesday at the same time comes first; Sunday (closed) is skipped."""
    now = clock.now()
    openids = [f"o-{n}" for n in range(18)]
    await residents(sessions, *openids)
    async with sessions() as session, session.begin():
        for n, openid in enumerate(openids):
            outcome = await book(session, request(at(lhasa(23, 9 + n // 2)), openid=openid), now)
            assert isinstance(outcome, Booked)
        monday = await book(session, request((lhasa(23, 0), lhasa(24, 0)), openid="o-x"), now)
        saturday = await available_slots(session, "nursing", at(lhasa(28, 17)), now, limit=4)
    assert isinstance(monday, SlotFull)
    # The whole of Monday was wanted, so every Tuesday slot suits as well: earliest first.
    assert starts(monday.alternatives) == [lhasa(24, 9), lhasa(24, 10), lhasa(24, 11)]
    assert saturday.status == AvailabilityStatus.FREE

    async with sessions() as session:
        afternoon = await available_slots(session, "nursing", at(lhasa(23, 15)), now, limit=3)
    assert afternoon.status == AvailabilityStatus.FULL
    assert starts(afternoon.slots) == [lhasa(24, 15), lhasa(24, 14), lhasa(24, 16)]


async def test_alternatives_are_never_in_the_past_nor_outside_working_hours(
    sessions: Sessions, clock: ManualClock
) -> None:
    clock.set(lhasa(22, 11, 30))  # Sunday 11:30: the canteen's next slots are 17:00, 18:00
    await residents(sessions, *(f"o-{n}" for n in range(4)))
    for n in range(4):
        await booked(
            sessions, request(at(lhasa(22, 17)), openid=f"o-{n}", service="meal"), clock.now()
        )
    async with sessions() as session:
        full = await available_slots(session, "meal", at(lhasa(22, 17)), clock.now(), limit=4)
    assert full.status == AvailabilityStatus.FULL
    assert starts(full.slots) == [lhasa(22, 18), lhasa(23, 17), lhasa(23, 18), lhasa(23, 12)]
    for slot in full.slots:
        local = slot.start.astimezone(LOCAL_TZ)
        assert slot.start >= clock.now() + timedelta(hours=1)
        assert local.hour in (11, 12, 17, 18)


# --- booking -------------------------------------------------------------------------------


async def test_booking_a_free_slot_writes_the_card_and_two_reminders(
    sessions: Sessions, clock: ManualClock
) -> None:
    now = clock.now()
    await residents(sessions, "o-yangzom")
    outcome = await booked(
        sessions, request(at(lhasa(23, 15)), for_someone_else=True, note="坐轮椅"), now
    )
    assert outcome.number == "YB20261122-0001"
    assert (outcome.provider_id, outcome.slot.start, outcome.slot.end) == (
        "P-NURSING",
        lhasa(23, 15),
        lhasa(23, 16),
    )
    assert outcome.reminder_evening_at == lhasa(22, 18)
    assert outcome.reminder_hour_at == lhasa(23, 14)
    async with sessions() as session:
        booking = await booking_by_number(session, "yb20261122-0001")
        cards = await outbox_rows(session, "card_booking_new")
        evening = await outbox_rows(session, "push_booking_reminder_evening")
        hour = await outbox_rows(session, "push_booking_reminder_hour")
        used = await slot_used(session, "P-NURSING", lhasa(23, 15))
    assert booking is not None
    assert (booking.status, booking.for_someone_else, booking.elder_name) == (
        BookingStatus.BOOKED,
        True,
        "央宗",
    )
    assert booking.slot_start == lhasa(23, 15)
    assert used == 1
    [card] = cards
    assert (card.channel, card.recipient, card.next_attempt_at) == (
        OutboxChannel.HANDLER_GROUP,
        COMMUNITY,
        now,
    )
    params = card.payload["params"]
    assert params["number"] == "YB20261122-0001"
    assert params["phone"] == "138****5678"
    assert params["provider_zh"] == "格桑林卡社区护理站"
    assert params["start"] == "2026-11-23T15:00:00+08:00"
    assert params["end"] == "2026-11-23T16:00:00+08:00"
    assert (params["elder_name"], params["for_someone_else"], params["note"]) == (
        "央宗",
        True,
        "坐轮椅",
    )
    [evening_row] = evening
    [hour_row] = hour
    for row, due in ((evening_row, lhasa(22, 18)), (hour_row, lhasa(23, 14))):
        assert (row.channel, row.recipient, row.status) == (
            OutboxChannel.RESIDENT,
            "o-yangzom",
            OutboxStatus.PENDING,
        )
        assert row.next_attempt_at == due
        assert row.payload["language"] == "zh"
        assert row.payload["params"]["provider_bo"] == "སྐལ་བཟང་གླིང་ཁ་སྡོད་ཁུལ་ནད་གཡོག་ས་ཚིགས།"
        assert "phone" not in row.payload["params"]
    assert evening_row.idempotency_key == "booking:YB20261122-0001:reminder:0:evening"
    assert hour_row.idempotency_key == "booking:YB20261122-0001:reminder:0:hour"


async def test_a_reminder_whose_time_has_passed_is_not_scheduled(
    sessions: Sessions, clock: ManualClock
) -> None:
    clock.set(lhasa(22, 19))  # Sunday evening, after 18:00
    await residents(sessions, "o-yangzom")
    outcome = await booked(sessions, request(at(lhasa(23, 9))), clock.now())
    async with sessions() as session:
        reminders = [
            row
            for row in await outbox_rows(session)
            if row.payload["key"].startswith("push_booking_reminder")
        ]
    assert outcome.reminder_evening_at is None
    assert outcome.reminder_hour_at == lhasa(23, 8)
    assert [(r.payload["key"], r.next_attempt_at) for r in reminders] == [
        ("push_booking_reminder_hour", lhasa(23, 8))
    ]


async def test_concurrent_bookings_never_exceed_a_slots_capacity(
    sessions: Sessions, clock: ManualClock
) -> None:
    now = clock.now()
    openids = [f"o-race-{n}" for n in range(8)]
    await residents(sessions, *openids)

    async def attempt(openid: str) -> Booked | SlotFull:
        async with sessions() as session, session.begin():
            return await book(
                session, request(at(lhasa(23, 15)), openid=openid, elder_name=openid), now
            )

    outcomes = await asyncio.gather(*(attempt(openid) for openid in openids))
    winners = [o for o in outcomes if isinstance(o, Booked)]
    losers = [o for o in outcomes if isinstance(o, SlotFull)]
    async with sessions() as session:
        used = await slot_used(session, "P-NURSING", lhasa(23, 15))
        in_slot = await session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.provider_id == "P-NURSING", Booking.slot_start == lhasa(23, 15))
        )
    assert len(winners) == 2
    assert len(losers) == 6
    assert used == in_slot == 2
    assert all(w.slot.start == lhasa(23, 15) for w in winners)
    assert len({w.number for w in winners}) == 2
    assert all(lhasa(23, 15) not in starts(loser.alternatives) for loser in losers)


async def test_certification_at_home_is_booked_with_the_grids_grid_worker(
    sessions: Sessions, clock: ManualClock
) -> None:
    now = clock.now()
    await residents(sessions, "o-dawa")
    outcome = await booked(
        sessions,
        request(
            (lhasa(23, 8), lhasa(23, 12)),
            openid="o-dawa",
            service="certification",
            grid_id="G02",
            elder_name="达瓦",
        ),
        now,
    )
    assert (outcome.provider_id, outcome.provider_zh, outcome.provider_phone) == (
        "GW-G02",
        "多吉",
        "13908910202",
    )
    assert (outcome.slot.start, outcome.slot.end) == (lhasa(23, 10), lhasa(23, 11))
    async with sessions() as session:
        cards = await outbox_rows(session, "card_booking_new")
        grid_missing = await refused(
            book(
                session,
                request(at(lhasa(23, 10)), service="certification", grid_id=None),
                now,
            )
        )
    assert sorted((c.channel, c.recipient) for c in cards) == [
        (OutboxChannel.HANDLER_GROUP, COMMUNITY),
        (OutboxChannel.STAFF, "S-0202"),
    ]
    assert all(c.payload["params"]["provider_kind"] == "grid_worker" for c in cards)
    assert grid_missing.code == "grid_required"


# --- changes -------------------------------------------------------------------------------


async def test_reschedule_moves_the_slot_and_the_reminders(
    sessions: Sessions, clock: ManualClock
) -> None:
    await residents(sessions, "o-yangzom")
    first = await booked(sessions, request(at(lhasa(23, 15))), clock.now())
    clock.set(lhasa(22, 20))  # Sunday evening: the first evening reminder would be past
    async with sessions() as session, session.begin():
        moved = await reschedule(
            session, first.number, "o-yangzom", at(lhasa(25, 10)), clock.now()
        )
    assert isinstance(moved, Rescheduled)
    assert (moved.old_start, moved.slot.start, moved.slot.end) == (
        lhasa(23, 15),
        lhasa(25, 10),
        lhasa(25, 11),
    )
    assert (moved.reminder_evening_at, moved.reminder_hour_at) == (lhasa(24, 18), lhasa(25, 9))
    async with sessions() as session:
        booking = await booking_by_number(session, first.number)
        reminders = [
            row
            for row in await outbox_rows(session)
            if row.payload["key"].startswith("push_booking_reminder")
        ]
        old_used = await slot_used(session, "P-NURSING", lhasa(23, 15))
        new_used = await slot_used(session, "P-NURSING", lhasa(25, 10))
        [card] = await outbox_rows(session, "card_booking_rescheduled")
    assert booking is not None
    assert (booking.status, booking.revision, booking.slot_start) == (
        BookingStatus.RESCHEDULED,
        1,
        lhasa(25, 10),
    )
    assert (old_used, new_used) == (0, 1)
    assert [
        (r.idempotency_key.rsplit(":", 2)[1:], r.status, r.last_error, r.next_attempt_at)
        for r in reminders
    ] == [
        (["0", "evening"], OutboxStatus.DEAD, "superseded by reschedule", lhasa(22, 18)),
        (["0", "hour"], OutboxStatus.DEAD, "superseded by reschedule", lhasa(23, 14)),
        (["1", "evening"], OutboxStatus.PENDING, "", lhasa(24, 18)),
        (["1", "hour"], OutboxStatus.PENDING, "", lhasa(25, 9)),
    ]
    assert reminders[2].payload["params"]["start"] == "2026-11-25T10:00:00+08:00"
    assert card.payload["params"]["old_start"] == "2026-11-23T15:00:00+08:00"
    assert card.payload["params"]["start"] == "2026-11-25T10:00:00+08:00"


async def test_reschedule_into_a_full_slot_keeps_the_booking_where_it_was(
    sessions: Sessions, clock: ManualClock
) -> None:
    now = clock.now()
    await residents(sessions, "o-a", "o-b", "o-yangzom")
    for openid in ("o-a", "o-b"):
        await booked(sessions, request(at(lhasa(24, 10)), openid=openid), now)
    mine = await booked(sessions, request(at(lhasa(23, 15))), now)
    async with sessions() as session, session.begin():
        outcome = await reschedule(session, mine.number, "o-yangzom", at(lhasa(24, 10)), now)
    async with sessions() as session:
        booking = await booking_by_number(session, mine.number)
        pending = [
            r
            for r in await outbox_rows(session)
            if r.recipient == "o-yangzom" and r.status == OutboxStatus.PENDING
        ]
        used = await slot_used(session, "P-NURSING", lhasa(23, 15))
    assert isinstance(outcome, SlotFull)
    assert starts(outcome.alternatives) == [lhasa(24, 9), lhasa(24, 11), lhasa(24, 12)]
    assert booking is not None
    assert (booking.status, booking.slot_start, used) == (BookingStatus.BOOKED, lhasa(23, 15), 1)
    assert len(pending) == 2


async def test_cancel_frees_the_place_for_someone_else(
    sessions: Sessions, clock: ManualClock
) -> None:
    now = clock.now()
    await residents(sessions, "o-a", "o-b", "o-c")
    first = await booked(sessions, request(at(lhasa(23, 15)), openid="o-a"), now)
    await booked(sessions, request(at(lhasa(23, 15)), openid="o-b"), now)
    async with sessions() as session, session.begin():
        full = await book(session, request(at(lhasa(23, 15)), openid="o-c"), now)
        cancelled = await cancel(session, first.number, "o-a", now)
    assert isinstance(full, SlotFull)
    assert (cancelled.status, cancelled.cancelled_at) == (BookingStatus.CANCELLED, now)
    third = await booked(sessions, request(at(lhasa(23, 15)), openid="o-c"), now)
    assert third.slot.start == lhasa(23, 15)
    async with sessions() as session:
        used = await slot_used(session, "P-NURSING", lhasa(23, 15))
        [card] = await outbox_rows(session, "card_booking_cancelled")
        dropped = [
            (r.payload["key"], r.status, r.last_error)
            for r in await outbox_rows(session)
            if r.recipient == "o-a"
        ]
        again = await refused(cancel(session, first.number, "o-a", now))
    assert used == 2
    assert (card.recipient, card.payload["params"]["number"]) == (COMMUNITY, first.number)
    assert dropped == [
        ("push_booking_reminder_evening", OutboxStatus.DEAD, "cancelled with the booking"),
        ("push_booking_reminder_hour", OutboxStatus.DEAD, "cancelled with the booking"),
    ]
    assert again.code == "already_cancelled"


async def test_done_visit_asks_for_a_rating_which_is_recorded_once(
    sessions: Sessions, clock: ManualClock
) -> None:
    await residents(sessions, "o-yangzom")
    mine = await booked(sessions, request(at(lhasa(23, 15)), language="bo"), clock.now())
    async with sessions() as session:
        early = await refused(mark_done(session, mine.number, "S-C01", clock.now()))
        stranger = await refused(mark_done(session, mine.number, "S-nobody", lhasa(23, 16)))
    assert (early.code, stranger.code) == ("not_started", "not_allowed")
    clock.set(lhasa(23, 16))
    async with sessions() as session, session.begin():
        not_yet = await refused(record_rating(session, mine.number, "o-yangzom", 5, clock.now()))
        done = await mark_done(session, mine.number, "S-C01", clock.now())
    assert not_yet.code == "not_done"
    assert (done.status, done.done_by, done.done_at) == (
        BookingStatus.DONE,
        "S-C01",
        lhasa(23, 16),
    )
    async with sessions() as session, session.begin():
        [ask] = await outbox_rows(session, "push_booking_rating")
        stranger_rating = await refused(
            record_rating(session, mine.number, "o-x", 4, lhasa(23, 17))
        )
        out_of_range = await refused(
            record_rating(session, mine.number, "o-yangzom", 6, lhasa(23, 17))
        )
        rated = await record_rating(session, mine.number, "o-yangzom", 4, lhasa(23, 17))
    assert (ask.channel, ask.recipient, ask.payload["language"]) == (
        OutboxChannel.RESIDENT,
        "o-yangzom",
        "bo",
    )
    assert ask.next_attempt_at == lhasa(23, 16)
    assert ask.payload["params"]["number"] == mine.number
    assert (stranger_rating.code, out_of_range.code) == ("not_yours", "invalid_rating")
    assert (rated.rating, rated.rated_at) == (4, lhasa(23, 17))
    async with sessions() as session:
        twice = await refused(record_rating(session, mine.number, "o-yangzom", 5, lhasa(23, 18)))
        after_done = await refused(mark_done(session, mine.number, "S-C01", lhasa(23, 18)))
    assert (twice.code, after_done.code) == ("already_rated", "already_done")


async def test_no_show_closes_the_visit_without_a_rating(
    sessions: Sessions, clock: ManualClock
) -> None:
    await residents(sessions, "o-yangzom")
    mine = await booked(sessions, request(at(lhasa(23, 15))), clock.now())
    async with sessions() as session, session.begin():
        closed = await mark_no_show(session, mine.number, "S-0102", lhasa(23, 15, 30))
        ratings = await outbox_rows(session, "push_booking_rating")
        hour = await outbox_rows(session, "push_booking_reminder_hour")
    assert closed.status == BookingStatus.NO_SHOW
    assert ratings == []
    assert [(r.status, r.last_error) for r in hour] == [
        (OutboxStatus.DEAD, "visit already closed")
    ]


async def test_bookings_of_lists_upcoming_visits_first(
    sessions: Sessions, clock: ManualClock
) -> None:
    now = clock.now()
    await residents(sessions, "o-yangzom")
    later = await booked(sessions, request(at(lhasa(25, 10))), now)
    soon = await booked(sessions, request(at(lhasa(23, 10)), elder_name="次仁"), now)
    gone = await booked(sessions, request(at(lhasa(24, 10)), elder_name="卓嘎"), now)
    async with sessions() as session, session.begin():
        await cancel(session, gone.number, "o-yangzom", now)
        listed = await bookings_of(session, "o-yangzom", now=now)
        others = await bookings_of(session, "o-nobody")
    assert [b.number for b in listed] == [soon.number, later.number, gone.number]
    assert others == []


# --- refusals ------------------------------------------------------------------------------


async def test_refusals_carry_stable_codes(sessions: Sessions, clock: ManualClock) -> None:
    now = clock.now()
    await residents(sessions, "o-yangzom", "o-other")
    mine = await booked(sessions, request(at(lhasa(23, 15))), now)
    async with sessions() as session:
        codes = {
            "unknown_service": await refused(
                book(session, request(at(lhasa(23, 15)), service="taxi"), now)
            ),
            "in_the_past": await refused(book(session, request(at(lhasa(21, 15))), now)),
            "too_far": await refused(book(session, request(at(lhasa(30, 15, month=12))), now)),
            "missing_details": await refused(
                book(session, request(at(lhasa(23, 15)), address="  "), now)
            ),
            "duplicate": await refused(book(session, request(at(lhasa(23, 15))), now)),
            "not_found": await refused(cancel(session, "YB20990101-0001", "o-yangzom", now)),
            "not_yours": await refused(cancel(session, mine.number, "o-other", now)),
            "already_started": await refused(
                cancel(session, mine.number, "o-yangzom", lhasa(23, 15, 5))
            ),
        }
        late_night = await refused(book(session, request(at(lhasa(23, 22))), now))
        sunday = await refused(book(session, request((lhasa(22, 0), lhasa(23, 0))), now))
    for code, refusal in codes.items():
        assert refusal.code == code
    assert codes["missing_details"].detail == {"missing": ["address"]}
    assert codes["duplicate"].detail == {"number": mine.number}
    assert late_night.code == "outside_hours"
    assert starts(late_night.alternatives) == [lhasa(23, 17), lhasa(23, 16), lhasa(23, 15)]
    assert sunday.code == "outside_hours"  # the nursing station is closed on Sundays
    assert starts(sunday.alternatives)[0] == lhasa(23, 9)


async def test_a_slot_starting_within_the_hour_is_too_soon(
    sessions: Sessions, clock: ManualClock
) -> None:
    clock.set(lhasa(22, 10, 30))
    await residents(sessions, "o-yangzom")
    async with sessions() as session:
        soon = await refused(
            book(session, request(at(lhasa(22, 11)), service="meal"), clock.now())
        )
        bookings = await session.scalar(select(func.count()).select_from(Booking))
    assert soon.code == "too_soon"
    assert starts(soon.alternatives)[0] == lhasa(22, 12)
    assert bookings == 0
