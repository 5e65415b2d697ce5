"""Eldercare home-visit booking: service, time, for whom, address, phone.

Times are understood in both languages ("tomorrow morning", "next Wednesday 3 pm") relative to
the bot's clock; a full slot offers the nearest free ones by number. "Cancel the booking" and
"move it to the day after tomorrow" work
in chat; a bare 1–5 after a visit is its rating.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.dialogue.context import TurnContext
from bot.dialogue.forms import FormFlow, SlotResult
from bot.dialogue.state import FlowName
from bot.messages import MessageKind
from governance.bookings.models import Booking, BookingStatus
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
    bookings_of,
    cancel,
    record_rating,
    reschedule,
)
from governance.directory import service as directory
from nlu.entities import extract_entities

SERVICES = ("meal", "housekeeping", "nursing", "health_check", "certification")
FOR_SELF, FOR_FAMILY = 1, 2
CONFIRM, OTHER_TIME, CANCEL = 1, 2, 3
MIN_PHONE_DIGITS = 7
RATING_WINDOW = timedelta(days=3)
"""A bare 1–5 counts as a visit's rating for this long after the visit was marked done."""


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _wanted(ctx: TurnContext, text: str) -> tuple[datetime, datetime] | None:
    """The first date/time the resident named, as an interval, relative to the bot's clock."""
    for entity in extract_entities(text, now=ctx.deps.clock.now()):
        if entity.entity == "datetime":
            start, _, end = entity.value.partition("/")
            return datetime.fromisoformat(start), datetime.fromisoformat(end or start)
    return None


def _alternative_slots(slots: tuple[Slot, ...]) -> list[dict[str, str]]:
    return [{"start": _iso(s.start), "end": _iso(s.end), "provider": s.provider_id} for s in slots]


class EldercareBooking(FormFlow):
    name = FlowName.ELDERCARE_BOOKING
    required_slots = ("service", "for_whom", "elder_name", "address", "phone", "when", "confirmed")
    """The address comes before the time: it names the grid (and so the grid worker)."""

    async def start(self, ctx: TurnContext) -> None:
        """From the intent: take what the first message already says (service, time)."""
        ctx.conversation.reset()
        slots = ctx.conversation.slots
        service = self._service_from(ctx)
        if service is not None:
            slots["service"] = service
        resident = ctx.resident
        if resident.phone:
            slots["phone"] = resident.phone
        if resident.address:
            slots["address"] = resident.address
            slots["grid_id"] = resident.grid_id
        wanted = _wanted(ctx, ctx.text) if ctx.text else None
        if wanted is not None:  # a time in the first message: checked when the time is due
            slots["wanted"] = [_iso(wanted[0]), _iso(wanted[1])]
        await self.run(ctx)

    def _service_from(self, ctx: TurnContext) -> str | None:
        parsed = ctx.parsed
        if parsed is None:
            return None
        service = parsed.entity("service")
        if service is not None and service.value in SERVICES:
            return service.value
        topic = parsed.entity("policy_topic")
        if topic is not None and topic.value == "elderly_allowance":
            return "certification"  # elderly-allowance certification at home, by the grid worker
        return None

    # -- slots --------------------------------------------------------------------------------

    async def ask_service(self, ctx: TurnContext) -> None:
        ctx.say("utter_ask_service", options=list(SERVICES))

    async def validate_service(self, ctx: TurnContext) -> SlotResult:
        picked = ctx.choice(len(SERVICES))
        if picked is not None:
            return SlotResult.ok(SERVICES[picked - 1])
        service = self._service_from(ctx)
        if service is not None:
            return SlotResult.ok(service)
        return SlotResult.reject("utter_service_not_understood")

    async def ask_when(self, ctx: TurnContext) -> None:
        pending = ctx.conversation.slots.pop("wanted", None)
        if pending is None:
            ctx.say("utter_ask_booking_time")
            return
        result = await self._check(
            ctx, (datetime.fromisoformat(pending[0]), datetime.fromisoformat(pending[1]))
        )
        if result.accepted:
            ctx.conversation.slots["when"] = result.value
            await self.run(ctx)
        elif result.reject_key is not None:
            ctx.say(result.reject_key, **result.reject_params)
            ctx.say("utter_ask_booking_time")

    async def validate_when(self, ctx: TurnContext) -> SlotResult:
        slots = ctx.conversation.slots
        offered: list[dict[str, str]] = slots.get("alternatives", [])
        picked = ctx.choice(len(offered)) if offered else None
        if picked is not None:
            chosen = offered[picked - 1]
            slots.pop("alternatives")
            return SlotResult.ok({"start": chosen["start"], "end": chosen["end"]})
        wanted = _wanted(ctx, ctx.text)
        if wanted is None:
            return SlotResult.reject("utter_booking_time_not_understood")
        return await self._check(ctx, wanted)

    async def _check(self, ctx: TurnContext, wanted: tuple[datetime, datetime]) -> SlotResult:
        """Free → take the earliest fitting slot; otherwise offer the nearest free ones."""
        slots = ctx.conversation.slots
        grid_id = slots.get("grid_id") or ctx.resident.grid_id
        async with ctx.deps.quick_sessions() as session:
            community_id = await self._community(ctx, grid_id)
            try:
                availability = await available_slots(
                    session,
                    slots["service"],
                    wanted,
                    ctx.deps.clock.now(),
                    grid_id=grid_id,
                    community_id=community_id,
                )
            except BookingRefused as refused:
                return SlotResult.reject("utter_booking_refused", code=refused.code)
        if availability.status is AvailabilityStatus.FREE and availability.slots:
            first = availability.slots[0]
            return SlotResult.ok({"start": _iso(first.start), "end": _iso(first.end)})
        if not availability.slots:
            return SlotResult.reject("utter_booking_no_slots")
        key = {
            AvailabilityStatus.OUTSIDE_HOURS: "utter_booking_outside_hours",
            AvailabilityStatus.TOO_SOON: "utter_booking_too_soon",
        }.get(availability.status, "utter_booking_full")
        slots["alternatives"] = _alternative_slots(availability.slots)
        ctx.say(key, alternatives=[a["start"] for a in slots["alternatives"]])
        return SlotResult.silent()

    async def _community(self, ctx: TurnContext, grid_id: str | None) -> str | None:
        async with ctx.deps.quick_sessions() as session:
            if grid_id:
                grid = await directory.grid_by_id(session, grid_id)
                if grid is not None:
                    return grid.community_id
            grids = await directory.list_grids(session)
        return grids[0].community_id if grids else None

    async def ask_for_whom(self, ctx: TurnContext) -> None:
        ctx.say("utter_ask_for_whom")

    async def validate_for_whom(self, ctx: TurnContext) -> SlotResult:
        picked = ctx.choice(2)
        if picked is None:
            return SlotResult.reject("utter_ask_for_whom")
        return SlotResult.ok(picked == FOR_FAMILY)

    async def validate_elder_name(self, ctx: TurnContext) -> SlotResult:
        if not ctx.text or ctx.choice(9) is not None:
            return SlotResult.reject("utter_ask_elder_name")
        return SlotResult.ok(ctx.text[:32])

    async def ask_address(self, ctx: TurnContext) -> None:
        ctx.say("utter_ask_booking_address")

    async def validate_address(self, ctx: TurnContext) -> SlotResult:
        async with ctx.deps.quick_sessions() as session:
            if ctx.message.kind is MessageKind.LOCATION and ctx.message.latitude is not None:
                place = await directory.nearest_place(
                    session, ctx.message.latitude, ctx.message.longitude or 0.0
                )
                address = ctx.message.label or ""
            else:
                place = await directory.match_place_by_text(session, ctx.text)
                address = ctx.text
        if not address:
            return SlotResult.reject("utter_ask_booking_address")
        return SlotResult.ok(address[:120], **({"grid_id": place.grid_id} if place else {}))

    async def ask_phone(self, ctx: TurnContext) -> None:
        ctx.say("utter_ask_booking_phone")

    async def validate_phone(self, ctx: TurnContext) -> SlotResult:
        phone = ctx.parsed.entity("phone") if ctx.parsed else None
        if phone is not None:
            return SlotResult.ok(phone.value)
        return SlotResult.reject("utter_booking_phone_invalid")

    async def ask_confirmed(self, ctx: TurnContext) -> None:
        slots = ctx.conversation.slots
        ctx.say(
            "utter_booking_summary",
            service=slots["service"],
            start=slots["when"]["start"],
            end=slots["when"]["end"],
            elder_name=slots["elder_name"],
            address=slots["address"],
            phone=slots["phone"],
        )

    async def validate_confirmed(self, ctx: TurnContext) -> SlotResult:
        picked = ctx.choice(3)
        if picked == CONFIRM or ctx.means("yes"):
            return SlotResult.ok(True)
        if picked == OTHER_TIME:
            ctx.conversation.slots.pop("when", None)
            await self.run(ctx)
            return SlotResult.silent()
        if picked == CANCEL:
            ctx.conversation.reset()
            ctx.say("utter_cancelled")
            return SlotResult.silent()
        return SlotResult.reject("utter_booking_confirm_not_understood")

    async def submit(self, ctx: TurnContext) -> None:
        slots = ctx.conversation.slots
        deps = ctx.deps
        start = datetime.fromisoformat(slots["when"]["start"])
        end = datetime.fromisoformat(slots["when"]["end"])
        grid_id = slots.get("grid_id")
        async with deps.sessions() as session, session.begin():
            resident = await directory.get_or_create_resident(
                session, ctx.message.user_id, language=ctx.language.value, now=deps.clock.now()
            )
            grid_id = grid_id or resident.grid_id
            request = BookingRequest(
                openid=ctx.message.user_id,
                service=slots["service"],
                wanted=(start, end),
                elder_name=slots["elder_name"],
                address=slots["address"],
                phone=slots["phone"],
                language=ctx.language.value,
                for_someone_else=bool(slots["for_whom"]),
                grid_id=grid_id,
                community_id=await self._community(ctx, grid_id),
            )
            try:
                outcome = await book(session, request, deps.clock.now())
            except BookingRefused as refused:
                ctx.conversation.reset()
                ctx.say("utter_booking_refused", code=refused.code)
                return
            if isinstance(outcome, Booked):
                resident.phone = resident.phone or slots["phone"]
                resident.profile = {**resident.profile, "address": slots["address"]}
                if grid_id and resident.grid_id is None:
                    resident.grid_id = grid_id
        if isinstance(outcome, SlotFull):
            # Taken between the check and now: offer the alternatives and ask again.
            slots.pop("when", None)
            slots.pop("confirmed", None)
            slots["alternatives"] = _alternative_slots(outcome.alternatives)
            ctx.conversation.requested_slot = "when"
            ctx.say("utter_booking_full", alternatives=[a["start"] for a in slots["alternatives"]])
            return
        deps.notify_outbox()
        ctx.conversation.reset()
        ctx.say(
            "utter_booking_done",
            number=outcome.number,
            service=outcome.service,
            start=_iso(outcome.slot.start),
            end=_iso(outcome.slot.end),
            provider=outcome.provider_bo if ctx.language == "bo" else outcome.provider_zh,
            provider_phone=outcome.provider_phone,
        )


flow = EldercareBooking()


# -- changes, cancellations and ratings outside the form ----------------------------------------


async def _upcoming(ctx: TurnContext) -> Booking | None:
    async with ctx.deps.quick_sessions() as session:
        bookings = await bookings_of(session, ctx.message.user_id, now=ctx.deps.clock.now())
    active = (BookingStatus.BOOKED, BookingStatus.RESCHEDULED)
    return next((b for b in bookings if b.status in active), None)


async def cancel_booking(ctx: TurnContext) -> None:
    booking = await _upcoming(ctx)
    if booking is None:
        ctx.say("utter_booking_none")
        return
    try:
        async with ctx.deps.sessions() as session, session.begin():
            await cancel(session, booking.number, ctx.message.user_id, ctx.deps.clock.now())
    except BookingRefused as refused:
        ctx.say("utter_booking_refused", code=refused.code)
        return
    ctx.deps.notify_outbox()
    ctx.say("utter_booking_cancelled", number=booking.number)


async def change_booking(ctx: TurnContext) -> bool:
    """Move the upcoming visit to the time named; without a time, ask for one.

    Words like "change to" are common, so with no upcoming visit the message is not ours (False).
    """
    booking = await _upcoming(ctx)
    if booking is None:
        return False
    wanted = _wanted(ctx, ctx.text)
    if wanted is None:
        ctx.conversation.reset()
        ctx.conversation.flow = FlowName.BOOKING_CHANGE
        ctx.conversation.slots = {"number": booking.number}
        ctx.say("utter_ask_reschedule_time", number=booking.number)
        return True
    await _move(ctx, booking.number, wanted)
    return True


async def resume_change(ctx: TurnContext) -> None:
    slots = ctx.conversation.slots
    offered: list[dict[str, str]] = slots.get("alternatives", [])
    picked = ctx.choice(len(offered)) if offered else None
    if picked is not None:
        chosen = offered[picked - 1]
        wanted = (datetime.fromisoformat(chosen["start"]), datetime.fromisoformat(chosen["end"]))
    else:
        found = _wanted(ctx, ctx.text)
        if found is None:
            ctx.say("utter_booking_time_not_understood")
            return
        wanted = found
    await _move(ctx, slots["number"], wanted)


async def _move(ctx: TurnContext, number: str, wanted: tuple[datetime, datetime]) -> None:
    try:
        async with ctx.deps.sessions() as session, session.begin():
            outcome: Rescheduled | SlotFull = await reschedule(
                session, number, ctx.message.user_id, wanted, ctx.deps.clock.now()
            )
    except BookingRefused as refused:
        ctx.conversation.reset()
        ctx.say("utter_booking_refused", code=refused.code)
        return
    if isinstance(outcome, SlotFull):
        ctx.conversation.flow = FlowName.BOOKING_CHANGE
        alternatives = _alternative_slots(outcome.alternatives)
        ctx.conversation.slots = {"number": number, "alternatives": alternatives}
        ctx.say("utter_booking_full", alternatives=[a["start"] for a in alternatives])
        return
    ctx.deps.notify_outbox()
    ctx.conversation.reset()
    ctx.say(
        "utter_booking_rescheduled",
        number=number,
        start=_iso(outcome.slot.start),
        end=_iso(outcome.slot.end),
    )


async def rate(ctx: TurnContext) -> bool:
    """A bare 1–5 shortly after a visit is its rating; True when handled."""
    picked = ctx.choice(5)
    if picked is None:
        return False
    now = ctx.deps.clock.now()
    async with ctx.deps.quick_sessions() as session:
        bookings = await bookings_of(session, ctx.message.user_id, limit=20)
    waiting = [
        b
        for b in bookings
        if b.status == BookingStatus.DONE
        and b.rating is None
        and b.done_at is not None
        and now - b.done_at < RATING_WINDOW
    ]
    if not waiting:
        return False
    try:
        async with ctx.deps.sessions() as session, session.begin():
            await record_rating(session, waiting[0].number, ctx.message.user_id, picked, now)
    except BookingRefused:
        return False
    ctx.say("utter_rating_thanks", rating=picked)
    return True
