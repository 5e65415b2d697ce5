"""Eldercare home-visit bookings: availability, booking, moving, cancelling, visits and ratings.

Every function runs inside the caller's transaction and takes ``now`` (aware). Outcomes are
values (`Booked`, `SlotFull`, `Rescheduled` …); a request that cannot be served at all raises
`BookingRefused` with a stable code. Wording lives in data/responses, keyed by the outbox
payload keys below.

Slot capacity is enforced by `booking_slot_usage`: taking a place is one
``INSERT … ON CONFLICT DO UPDATE SET used = used + 1 WHERE used < capacity RETURNING used``.
PostgreSQL locks the conflicting row and re-checks the condition on the newest version, and
SQLite serialises writers on the database lock, so concurrent bookings can never push a slot
past its capacity; a statement that returns no row means the slot was full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from governance.bookings.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingDailyCounter,
    BookingStatus,
    EldercareService,
    Provider,
    ProviderService,
    SlotUsage,
)
from governance.clock import LOCAL_TZ
from governance.db import dialect_name
from governance.directory.models import Community, Grid, Staff
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from governance.outbox.service import enqueue
from governance.petitions.service import mask_phone

NUMBER_PREFIX = "YB"
MIN_LEAD = timedelta(hours=1)
"""A visit must start at least this long after it is booked (the provider needs to plan)."""
SEARCH_DAYS = 14
"""How many days after the wanted day alternatives are looked for."""
BOOKING_WINDOW = timedelta(days=30)
"""How far ahead a visit can be booked."""
EVENING_REMINDER_AT = time(18, 0)
HOUR_REMINDER_BEFORE = timedelta(hours=1)

KEY_CARD_NEW = "card_booking_new"
KEY_CARD_RESCHEDULED = "card_booking_rescheduled"
KEY_CARD_CANCELLED = "card_booking_cancelled"
KEY_REMINDER_EVENING = "push_booking_reminder_evening"
KEY_REMINDER_HOUR = "push_booking_reminder_hour"
KEY_RATING = "push_booking_rating"

SUPERSEDED_BY_RESCHEDULE = "superseded by reschedule"
CANCELLED_WITH_BOOKING = "cancelled with the booking"
VISIT_CLOSED = "visit already closed"


class ReminderKind(StrEnum):
    EVENING = "evening"
    HOUR = "hour"


REMINDER_KEYS = {ReminderKind.EVENING: KEY_REMINDER_EVENING, ReminderKind.HOUR: KEY_REMINDER_HOUR}


class AvailabilityStatus(StrEnum):
    FREE = "free"
    """A slot inside the wanted interval has a free place (`Availability.slots[0]`)."""
    FULL = "full"
    """Every slot inside the wanted interval is taken; `slots` are the nearest free ones."""
    OUTSIDE_HOURS = "outside_hours"
    """No provider works at all inside the wanted interval."""
    TOO_SOON = "too_soon"
    """The provider works then, but the slots start too soon (or already began)."""


@dataclass(frozen=True, slots=True)
class Slot:
    provider_id: str
    provider_zh: str
    provider_bo: str
    start: datetime
    end: datetime
    free: int
    """Places left in the slot when it was looked up."""


@dataclass(frozen=True, slots=True)
class Availability:
    status: AvailabilityStatus
    slots: tuple[Slot, ...]
    """FREE: the free slots inside the interval, earliest first (slots[0] is the one booked);
    otherwise the nearest free alternatives: the same day first, then the following days."""


class BookingRefused(Exception):
    """A request that cannot be served; `code` is stable and mapped to a reply by the caller.

    Codes: unknown_service, unknown_community, grid_required, no_provider, missing_details,
    in_the_past, too_far, too_soon, outside_hours, duplicate, not_found, not_yours,
    already_cancelled, already_done, already_started, not_started, not_allowed, not_done,
    already_rated, invalid_rating.
    """

    def __init__(
        self,
        code: str,
        *,
        alternatives: Sequence[Slot] = (),
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.alternatives = tuple(alternatives)
        """Nearest free slots, for outside_hours and too_soon."""
        self.detail = dict(detail or {})


@dataclass(frozen=True, slots=True)
class BookingRequest:
    openid: str
    """Who books: the elder, or a family member on their behalf (for_someone_else)."""
    service: str
    wanted: tuple[datetime, datetime]
    """Aware (start, end): a whole day, a part of a day, or an exact time (start == end)."""
    elder_name: str
    address: str
    phone: str
    language: str = "zh"
    for_someone_else: bool = False
    grid_id: str | None = None
    """The elder's grid; required for certification (the grid worker comes)."""
    community_id: str | None = None
    """Defaults to the grid's community, or the only community there is."""
    provider_id: str | None = None
    """Book with this provider only (an alternative the resident picked)."""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Booked:
    booking_id: int
    number: str
    service: str
    service_zh: str
    service_bo: str
    provider_id: str
    provider_zh: str
    provider_bo: str
    provider_phone: str
    slot: Slot
    elder_name: str
    address: str
    for_someone_else: bool
    reminder_evening_at: datetime | None
    reminder_hour_at: datetime | None


@dataclass(frozen=True, slots=True)
class SlotFull:
    alternatives: tuple[Slot, ...]
    """Nearest free slots (same day first, then following days); empty when none is free
    within the search window."""


@dataclass(frozen=True, slots=True)
class Rescheduled:
    number: str
    old_start: datetime
    old_end: datetime
    slot: Slot
    provider_id: str
    provider_zh: str
    provider_bo: str
    reminder_evening_at: datetime | None
    reminder_hour_at: datetime | None


@dataclass(slots=True)
class _Plan:
    status: AvailabilityStatus
    fitting: list[Slot] = field(default_factory=list)
    alternatives: list[Slot] = field(default_factory=list)
    providers: dict[str, Provider] = field(default_factory=dict)


# --- look-ups ------------------------------------------------------------------------------


async def list_services(session: AsyncSession) -> Sequence[EldercareService]:
    return (
        await session.scalars(
            select(EldercareService)
            .where(EldercareService.active.is_(True))
            .order_by(EldercareService.sort_order, EldercareService.id)
        )
    ).all()


async def _service(session: AsyncSession, service_id: str) -> EldercareService:
    service = await session.get(EldercareService, service_id)
    if service is None or not service.active:
        raise BookingRefused("unknown_service", detail={"service": service_id})
    return service


async def _community_id(
    session: AsyncSession, community_id: str | None, grid_id: str | None
) -> str:
    if grid_id is not None:
        grid = await session.get(Grid, grid_id)
        if grid is None or (community_id is not None and grid.community_id != community_id):
            raise BookingRefused("unknown_community", detail={"grid": grid_id})
        return grid.community_id
    if community_id is not None:
        if await session.get(Community, community_id) is None:
            raise BookingRefused("unknown_community", detail={"community": community_id})
        return community_id
    ids = (await session.scalars(select(Community.id).limit(2))).all()
    if len(ids) != 1:
        raise BookingRefused("unknown_community")
    return ids[0]


async def _providers(
    session: AsyncSession,
    service_id: str,
    community_id: str,
    grid_id: str | None,
    provider_id: str | None,
) -> list[Provider]:
    """Active providers of the service for this community (and grid), in id order."""
    offering = (
        await session.scalars(
            select(Provider)
            .join(ProviderService, ProviderService.provider_id == Provider.id)
            .where(
                ProviderService.service_id == service_id,
                Provider.community_id == community_id,
                Provider.active.is_(True),
            )
            .order_by(Provider.id)
        )
    ).all()
    serving = [p for p in offering if p.grid_id is None or p.grid_id == grid_id]
    if provider_id is not None:
        serving = [p for p in serving if p.id == provider_id]
    if serving:
        return serving
    if grid_id is None and any(p.grid_id is not None for p in offering):
        raise BookingRefused("grid_required", detail={"service": service_id})
    raise BookingRefused("no_provider", detail={"service": service_id})


# --- slots ---------------------------------------------------------------------------------


def _local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def _at(day: date, hhmm: str) -> datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), LOCAL_TZ)


def provider_slots(provider: Provider, day: date) -> list[tuple[datetime, datetime]]:
    """The provider's slots on one local day (empty on days off), as aware local datetimes."""
    if day.isoweekday() not in provider.working_days:
        return []
    step = timedelta(minutes=provider.slot_minutes)
    slots: list[tuple[datetime, datetime]] = []
    for opens, closes in provider.hours:
        start, close = _at(day, opens), _at(day, closes)
        while start + step <= close:
            slots.append((start, start + step))
            start += step
    return slots


def _normalise(wanted: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    start, end = wanted
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("wanted interval needs aware datetimes")
    return start, max(start, end)


def _fits(start: datetime, end: datetime, wanted: tuple[datetime, datetime]) -> bool:
    """The slot overlaps the wanted interval (or contains the wanted moment)."""
    a, b = wanted
    if a == b:
        return start <= a < end
    return start < b and a < end


def _gap(start: datetime, end: datetime, wanted: tuple[datetime, datetime]) -> timedelta:
    """How far the slot's start is from the starts that would suit the wanted interval.

    For 15:00 (or 15:00–16:00) with hourly slots, 14:00 and 16:00 are both an hour away; for
    08:00–12:00, 12:00 is an hour away (11:00 would have suited).
    """
    a, b = wanted
    latest = max(a, b - (end - start))
    return max(a - start, start - latest, timedelta(0))


async def _used(
    session: AsyncSession, provider_ids: Iterable[str], start: datetime, end: datetime
) -> dict[tuple[str, datetime], int]:
    rows = await session.execute(
        select(SlotUsage.provider_id, SlotUsage.slot_start, SlotUsage.used).where(
            SlotUsage.provider_id.in_(list(provider_ids)),
            SlotUsage.slot_start >= start,
            SlotUsage.slot_start < end,
        )
    )
    return {(provider_id, slot_start): used for provider_id, slot_start, used in rows}


async def _plan(
    session: AsyncSession,
    providers: Sequence[Provider],
    wanted: tuple[datetime, datetime],
    now: datetime,
    *,
    exclude: tuple[str, datetime] | None = None,
) -> _Plan:
    """Every free slot inside the wanted interval, and the free ones around it, in order."""
    start, end = wanted
    if (start < now) if start == end else (end <= now):
        raise BookingRefused("in_the_past")
    if start > now + BOOKING_WINDOW:
        raise BookingRefused("too_far", detail={"days": BOOKING_WINDOW.days})
    first_day = _local_day(start)
    last_day = max(_local_day(end), first_day) + timedelta(days=SEARCH_DAYS)
    earliest = now + MIN_LEAD
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]

    candidates: list[tuple[Provider, datetime, datetime]] = [
        (provider, slot_start, slot_end)
        for day in days
        for provider in providers
        for slot_start, slot_end in provider_slots(provider, day)
    ]
    in_hours = any(_fits(s, e, wanted) for _, s, e in candidates)
    candidates = [c for c in candidates if c[1] >= earliest]
    if exclude is not None:
        candidates = [c for c in candidates if (c[0].id, c[1]) != exclude]
    used = await _used(
        session,
        [p.id for p in providers],
        _at(first_day, "00:00"),
        _at(last_day + timedelta(days=1), "00:00"),
    )
    order = {provider.id: n for n, provider in enumerate(providers)}

    fitting: list[tuple[tuple[Any, ...], Slot]] = []
    around: list[tuple[tuple[Any, ...], Slot]] = []
    any_fitting = False
    for provider, slot_start, slot_end in candidates:
        inside = _fits(slot_start, slot_end, wanted)
        any_fitting = any_fitting or inside
        free = provider.capacity - used.get((provider.id, slot_start), 0)
        if free <= 0:
            continue
        slot = Slot(provider.id, provider.name_zh, provider.name_bo, slot_start, slot_end, free)
        if inside:
            # Slots starting inside the interval first, earliest first; then one that began
            # before it and overlaps it.
            fitting.append(((slot_start < start, slot_start, order[provider.id]), slot))
        else:
            offset = (_local_day(slot_start) - first_day).days
            shifted = (start + timedelta(days=offset), end + timedelta(days=offset))
            key = (
                offset,
                _gap(slot_start, slot_end, shifted),
                slot_start,
                order[provider.id],
            )
            around.append((key, slot))

    alternatives: list[Slot] = []
    seen: set[datetime] = set()
    for _, slot in sorted(around, key=lambda item: item[0]):
        if slot.start not in seen:  # one offer per time, whichever provider has it
            seen.add(slot.start)
            alternatives.append(slot)
    if not in_hours:
        status = AvailabilityStatus.OUTSIDE_HOURS
    elif not any_fitting:
        status = AvailabilityStatus.TOO_SOON
    elif fitting:
        status = AvailabilityStatus.FREE
    else:
        status = AvailabilityStatus.FULL
    return _Plan(
        status,
        [slot for _, slot in sorted(fitting, key=lambda item: item[0])],
        alternatives,
        {provider.id: provider for provider in providers},
    )


async def available_slots(
    session: AsyncSession,
    service: str,
    wanted: tuple[datetime, datetime],
    now: datetime,
    limit: int = 3,
    *,
    grid_id: str | None = None,
    community_id: str | None = None,
    provider_id: str | None = None,
) -> Availability:
    """The earliest free slots inside the wanted interval, or else the nearest free ones.

    Raises BookingRefused: unknown_service, unknown_community, grid_required, no_provider,
    in_the_past, too_far.
    """
    await _service(session, service)
    community = await _community_id(session, community_id, grid_id)
    providers = await _providers(session, service, community, grid_id, provider_id)
    plan = await _plan(session, providers, _normalise(wanted), now)
    slots = plan.fitting if plan.status == AvailabilityStatus.FREE else plan.alternatives
    return Availability(plan.status, tuple(slots[:limit]))


async def _take(session: AsyncSession, provider: Provider, slot_start: datetime) -> bool:
    """Take one place in the slot, atomically; False when it is already full."""
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    statement = (
        insert(SlotUsage)
        .values(provider_id=provider.id, slot_start=slot_start, used=1)
        .on_conflict_do_update(
            index_elements=[SlotUsage.provider_id, SlotUsage.slot_start],
            set_={"used": SlotUsage.used + 1},
            where=SlotUsage.used < provider.capacity,
        )
        .returning(SlotUsage.used)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def _release(session: AsyncSession, provider_id: str, slot_start: datetime) -> None:
    await session.execute(
        update(SlotUsage)
        .where(
            SlotUsage.provider_id == provider_id,
            SlotUsage.slot_start == slot_start,
            SlotUsage.used > 0,
        )
        .values(used=SlotUsage.used - 1)
    )


async def slot_used(session: AsyncSession, provider_id: str, slot_start: datetime) -> int:
    """Places taken in one slot (0 when nobody booked it)."""
    used = await session.scalar(
        select(SlotUsage.used).where(
            SlotUsage.provider_id == provider_id, SlotUsage.slot_start == slot_start
        )
    )
    return int(used or 0)


async def _take_first(session: AsyncSession, plan: _Plan) -> tuple[Slot, Provider] | None:
    for slot in plan.fitting:
        provider = plan.providers[slot.provider_id]
        if await _take(session, provider, slot.start):
            return slot, provider
    return None


# --- numbers, reminders, cards -------------------------------------------------------------


async def next_booking_number(session: AsyncSession, now: datetime) -> str:
    """``YB`` + ``YYYYMMDD-NNNN`` in local time, from a per-day counter bumped atomically."""
    day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    bump = (
        insert(BookingDailyCounter)
        .values(day=day, last=1)
        .on_conflict_do_update(
            index_elements=[BookingDailyCounter.day],
            set_={"last": BookingDailyCounter.last + 1},
        )
        .returning(BookingDailyCounter.last)
    )
    sequence = (await session.execute(bump)).scalar_one()
    return f"{NUMBER_PREFIX}{day}-{sequence:04d}"


def reminder_times(slot_start: datetime) -> dict[ReminderKind, datetime]:
    """18:00 local on the evening before the visit's day, and one hour before it starts."""
    day_before = _local_day(slot_start) - timedelta(days=1)
    return {
        ReminderKind.EVENING: datetime.combine(day_before, EVENING_REMINDER_AT, LOCAL_TZ),
        ReminderKind.HOUR: slot_start - HOUR_REMINDER_BEFORE,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).isoformat()


def _params(
    booking: Booking, service: EldercareService, provider: Provider, *, card: bool
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "number": booking.number,
        "service": service.id,
        "service_zh": service.name_zh,
        "service_bo": service.name_bo,
        "provider_zh": provider.name_zh,
        "provider_bo": provider.name_bo,
        "provider_kind": str(provider.kind),
        "provider_phone": provider.phone,
        "start": _iso(booking.slot_start),
        "end": _iso(booking.slot_end),
        "elder_name": booking.elder_name,
        "address": booking.address,
        "for_someone_else": booking.for_someone_else,
    }
    if card:
        params |= {
            "phone": mask_phone(booking.phone),
            "grid": booking.grid_id or "",
            "note": booking.note[:120],
            "resident_language": booking.language,
        }
    return params


def _reminder_prefix(number: str) -> str:
    return f"booking:{number}:reminder:"


def _schedule_reminders(
    session: AsyncSession,
    booking: Booking,
    service: EldercareService,
    provider: Provider,
    now: datetime,
) -> None:
    """Outbox rows due at the reminder times (skipped when a time has already passed)."""
    booking.reminder_evening_at = booking.reminder_hour_at = None
    for kind, at in reminder_times(booking.slot_start).items():
        if at <= now:
            continue
        row = enqueue(
            session,
            channel=OutboxChannel.RESIDENT,
            recipient=booking.openid,
            payload={
                "key": REMINDER_KEYS[kind],
                "language": booking.language,
                "params": _params(booking, service, provider, card=False),
            },
            idempotency_key=f"{_reminder_prefix(booking.number)}{booking.revision}:{kind}",
            now=now,
        )
        row.next_attempt_at = at
        if kind == ReminderKind.EVENING:
            booking.reminder_evening_at = at
        else:
            booking.reminder_hour_at = at


async def _drop_reminders(
    session: AsyncSession, booking: Booking, reason: str, now: datetime
) -> int:
    """Dead-letter the booking's pending reminders with the reason (rows are never deleted)."""
    await session.flush()
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.idempotency_key.startswith(
                _reminder_prefix(booking.number), autoescape=True
            ),
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.DEAD, last_error=reason)
        .execution_options(synchronize_session="fetch")
    )
    booking.reminder_evening_at = booking.reminder_hour_at = None
    return int(getattr(result, "rowcount", 0) or 0)


def _cards(
    session: AsyncSession,
    booking: Booking,
    service: EldercareService,
    provider: Provider,
    *,
    key: str,
    event: str,
    now: datetime,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The card for the community's handler group, and for the provider when it is staff."""
    payload = {
        "key": key,
        "language": "zh",
        "params": _params(booking, service, provider, card=True) | dict(extra or {}),
    }
    enqueue(
        session,
        channel=OutboxChannel.HANDLER_GROUP,
        recipient=booking.community_id,
        payload=payload,
        idempotency_key=f"booking:{booking.number}:{event}:group",
        now=now,
    )
    if provider.staff_id is not None:
        enqueue(
            session,
            channel=OutboxChannel.STAFF,
            recipient=provider.staff_id,
            payload=payload,
            idempotency_key=f"booking:{booking.number}:{event}:staff",
            now=now,
        )


# --- booking lifecycle ---------------------------------------------------------------------


async def book(
    session: AsyncSession, request: BookingRequest, now: datetime, *, alternatives: int = 3
) -> Booked | SlotFull:
    """Book the earliest free slot inside the wanted interval, or offer the nearest free ones.

    On success the booking, its number, the handler-group card and the reminders are written
    to the caller's transaction. Raises BookingRefused (see its codes).
    """
    missing = [
        name
        for name in ("elder_name", "address", "phone")
        if not str(getattr(request, name)).strip()
    ]
    if missing:
        raise BookingRefused("missing_details", detail={"missing": missing})
    service = await _service(session, request.service)
    community_id = await _community_id(session, request.community_id, request.grid_id)
    providers = await _providers(
        session, service.id, community_id, request.grid_id, request.provider_id
    )
    wanted = _normalise(request.wanted)
    taken: tuple[Slot, Provider] | None = None
    for _attempt in range(3):
        plan = await _plan(session, providers, wanted, now)
        if plan.status in (AvailabilityStatus.OUTSIDE_HOURS, AvailabilityStatus.TOO_SOON):
            raise BookingRefused(plan.status.value, alternatives=plan.alternatives[:alternatives])
        await _refuse_duplicate(session, request, service.id)
        if plan.status == AvailabilityStatus.FULL:
            return SlotFull(tuple(plan.alternatives[:alternatives]))
        taken = await _take_first(session, plan)
        if taken is not None:
            break
    if taken is None:
        return SlotFull(tuple(plan.alternatives[:alternatives]))
    slot, provider = taken

    booking = Booking(
        number=await next_booking_number(session, now),
        openid=request.openid,
        language=request.language,
        for_someone_else=request.for_someone_else,
        elder_name=request.elder_name.strip(),
        address=request.address.strip(),
        phone=request.phone.strip(),
        community_id=community_id,
        grid_id=request.grid_id,
        service_id=service.id,
        provider_id=provider.id,
        slot_start=slot.start,
        slot_end=slot.end,
        status=BookingStatus.BOOKED,
        note=request.note,
        revision=0,
        created_at=now,
        updated_at=now,
    )
    session.add(booking)
    await session.flush()
    _cards(session, booking, service, provider, key=KEY_CARD_NEW, event="new", now=now)
    _schedule_reminders(session, booking, service, provider, now)
    return Booked(
        booking_id=booking.id,
        number=booking.number,
        service=service.id,
        service_zh=service.name_zh,
        service_bo=service.name_bo,
        provider_id=provider.id,
        provider_zh=provider.name_zh,
        provider_bo=provider.name_bo,
        provider_phone=provider.phone,
        slot=Slot(
            provider.id, provider.name_zh, provider.name_bo, slot.start, slot.end, slot.free - 1
        ),
        elder_name=booking.elder_name,
        address=booking.address,
        for_someone_else=booking.for_someone_else,
        reminder_evening_at=booking.reminder_evening_at,
        reminder_hour_at=booking.reminder_hour_at,
    )


async def _refuse_duplicate(
    session: AsyncSession, request: BookingRequest, service_id: str
) -> None:
    """The same person already has this service for this elder inside the wanted interval."""
    start, end = _normalise(request.wanted)
    existing = await session.scalar(
        select(Booking)
        .where(
            Booking.openid == request.openid,
            Booking.service_id == service_id,
            Booking.elder_name == request.elder_name.strip(),
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.slot_end > start,
            Booking.slot_start <= end,
        )
        .limit(1)
    )
    if existing is not None and _fits(existing.slot_start, existing.slot_end, (start, end)):
        raise BookingRefused("duplicate", detail={"number": existing.number})


async def booking_by_number(session: AsyncSession, number: str) -> Booking | None:
    return await session.scalar(select(Booking).where(Booking.number == number.strip().upper()))


async def bookings_of(
    session: AsyncSession, openid: str, *, now: datetime | None = None, limit: int = 10
) -> list[Booking]:
    """The person's bookings: upcoming ones first (soonest first), then the rest, newest first.

    Upcoming means booked or rescheduled (and, when `now` is given, not yet over).
    """
    rows = (
        await session.scalars(
            select(Booking).where(Booking.openid == openid).order_by(Booking.slot_start)
        )
    ).all()

    def upcoming(booking: Booking) -> bool:
        return booking.status in ACTIVE_STATUSES and (now is None or booking.slot_end > now)

    ahead = [b for b in rows if upcoming(b)]
    past = sorted((b for b in rows if not upcoming(b)), key=lambda b: b.slot_start, reverse=True)
    return (ahead + past)[:limit]


async def _own_active(session: AsyncSession, number: str, openid: str, now: datetime) -> Booking:
    booking = await booking_by_number(session, number)
    if booking is None:
        raise BookingRefused("not_found", detail={"number": number})
    if booking.openid != openid:
        raise BookingRefused("not_yours", detail={"number": booking.number})
    _refuse_closed(booking)
    if booking.slot_start <= now:
        raise BookingRefused("already_started", detail={"number": booking.number})
    return booking


def _refuse_closed(booking: Booking) -> None:
    if booking.status == BookingStatus.CANCELLED:
        raise BookingRefused("already_cancelled", detail={"number": booking.number})
    if booking.status in (BookingStatus.DONE, BookingStatus.NO_SHOW):
        raise BookingRefused("already_done", detail={"number": booking.number})


async def _catalogue_rows(
    session: AsyncSession, booking: Booking
) -> tuple[EldercareService, Provider]:
    service = await session.get(EldercareService, booking.service_id)
    provider = await session.get(Provider, booking.provider_id)
    if service is None or provider is None:
        raise LookupError(f"booking {booking.number} points at a missing catalogue row")
    return service, provider


async def reschedule(
    session: AsyncSession,
    number: str,
    openid: str,
    wanted: tuple[datetime, datetime],
    now: datetime,
    *,
    alternatives: int = 3,
) -> Rescheduled | SlotFull:
    """Move the visit: take the new slot first, then free the old one; move the reminders.

    The provider may change (whoever serves the service has the free slot). Raises
    BookingRefused: not_found, not_yours, already_cancelled, already_done, already_started,
    in_the_past, too_far, too_soon, outside_hours.
    """
    booking = await _own_active(session, number, openid, now)
    service, old_provider = await _catalogue_rows(session, booking)
    providers = await _providers(
        session, booking.service_id, booking.community_id, booking.grid_id, None
    )
    wanted = _normalise(wanted)
    current = (booking.provider_id, booking.slot_start)
    taken: tuple[Slot, Provider] | None = None
    for _attempt in range(3):
        plan = await _plan(session, providers, wanted, now, exclude=current)
        if plan.status in (AvailabilityStatus.OUTSIDE_HOURS, AvailabilityStatus.TOO_SOON):
            raise BookingRefused(plan.status.value, alternatives=plan.alternatives[:alternatives])
        if plan.status == AvailabilityStatus.FULL:
            return SlotFull(tuple(plan.alternatives[:alternatives]))
        taken = await _take_first(session, plan)
        if taken is not None:
            break
    if taken is None:
        return SlotFull(tuple(plan.alternatives[:alternatives]))
    slot, provider = taken
    await _release(session, booking.provider_id, booking.slot_start)
    await _drop_reminders(session, booking, SUPERSEDED_BY_RESCHEDULE, now)

    old_start, old_end = booking.slot_start, booking.slot_end
    booking.provider_id = provider.id
    booking.slot_start, booking.slot_end = slot.start, slot.end
    booking.status = BookingStatus.RESCHEDULED
    booking.revision += 1
    booking.updated_at = now
    extra = {"old_start": _iso(old_start), "old_end": _iso(old_end)}
    if old_provider.id != provider.id:
        extra |= {"old_provider_zh": old_provider.name_zh, "old_provider_bo": old_provider.name_bo}
    _cards(
        session,
        booking,
        service,
        provider,
        key=KEY_CARD_RESCHEDULED,
        event=f"rescheduled:{booking.revision}",
        now=now,
        extra=extra,
    )
    _schedule_reminders(session, booking, service, provider, now)
    return Rescheduled(
        number=booking.number,
        old_start=old_start,
        old_end=old_end,
        slot=Slot(
            provider.id, provider.name_zh, provider.name_bo, slot.start, slot.end, slot.free - 1
        ),
        provider_id=provider.id,
        provider_zh=provider.name_zh,
        provider_bo=provider.name_bo,
        reminder_evening_at=booking.reminder_evening_at,
        reminder_hour_at=booking.reminder_hour_at,
    )


async def cancel(session: AsyncSession, number: str, openid: str, now: datetime) -> Booking:
    """Cancel an upcoming visit: free its place, drop its reminders, tell the provider.

    Raises BookingRefused: not_found, not_yours, already_cancelled, already_done,
    already_started.
    """
    booking = await _own_active(session, number, openid, now)
    service, provider = await _catalogue_rows(session, booking)
    await _release(session, booking.provider_id, booking.slot_start)
    await _drop_reminders(session, booking, CANCELLED_WITH_BOOKING, now)
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    booking.updated_at = now
    _cards(session, booking, service, provider, key=KEY_CARD_CANCELLED, event="cancelled", now=now)
    return booking


async def _staff_booking(
    session: AsyncSession, number: str, staff_id: str, now: datetime
) -> tuple[Booking, Staff]:
    booking = await booking_by_number(session, number)
    if booking is None:
        raise BookingRefused("not_found", detail={"number": number})
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.community_id != booking.community_id:
        raise BookingRefused("not_allowed", detail={"number": booking.number})
    _refuse_closed(booking)
    if now < booking.slot_start:
        raise BookingRefused("not_started", detail={"number": booking.number})
    return booking, staff


async def mark_done(session: AsyncSession, number: str, staff_id: str, now: datetime) -> Booking:
    """The provider made the visit (marked by community staff): ask the elder for a rating.

    Raises BookingRefused: not_found, not_allowed, already_cancelled, already_done, not_started.
    """
    booking, staff = await _staff_booking(session, number, staff_id, now)
    service, provider = await _catalogue_rows(session, booking)
    await _drop_reminders(session, booking, VISIT_CLOSED, now)
    booking.status = BookingStatus.DONE
    booking.done_at = now
    booking.done_by = staff.id
    booking.updated_at = now
    booking.rating_requested_at = now
    enqueue(
        session,
        channel=OutboxChannel.RESIDENT,
        recipient=booking.openid,
        payload={
            "key": KEY_RATING,
            "language": booking.language,
            "params": _params(booking, service, provider, card=False),
        },
        idempotency_key=f"booking:{booking.number}:rating",
        now=now,
    )
    return booking


async def mark_no_show(
    session: AsyncSession, number: str, staff_id: str, now: datetime
) -> Booking:
    """The visit could not happen (nobody home); the place stays used, no rating is asked."""
    booking, staff = await _staff_booking(session, number, staff_id, now)
    await _drop_reminders(session, booking, VISIT_CLOSED, now)
    booking.status = BookingStatus.NO_SHOW
    booking.done_at = now
    booking.done_by = staff.id
    booking.updated_at = now
    return booking


async def record_rating(
    session: AsyncSession, number: str, openid: str, rating: int, now: datetime
) -> Booking:
    """The elder's (or family member's) 1–5 rating of a done visit; one rating per visit.

    Raises BookingRefused: invalid_rating, not_found, not_yours, not_done, already_rated.
    """
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise BookingRefused("invalid_rating", detail={"rating": rating})
    booking = await booking_by_number(session, number)
    if booking is None:
        raise BookingRefused("not_found", detail={"number": number})
    if booking.openid != openid:
        raise BookingRefused("not_yours", detail={"number": booking.number})
    if booking.status != BookingStatus.DONE:
        raise BookingRefused("not_done", detail={"number": booking.number})
    if booking.rating is not None:
        raise BookingRefused("already_rated", detail={"number": booking.number})
    booking.rating = rating
    booking.rated_at = now
    booking.updated_at = now
    return booking
