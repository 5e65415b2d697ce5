"""Petition intake: what, which kind, where, a phone, read-back, confirm, ticket.

The petition, its first timeline event and the handler-group card are committed together
before the resident hears the ticket number. See `petition_intake.mmd` for the flow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialogue.context import TurnContext
from bot.dialogue.forms import FormFlow, SlotResult
from bot.dialogue.state import FlowName
from bot.messages import MessageKind
from governance.calendar import load_calendar
from governance.directory import service as directory
from governance.directory.service import Place
from governance.petitions.dispatch import NoHandler, dispatch
from governance.petitions.followers import find_duplicate, follow
from governance.petitions.lifecycle import Refused
from governance.petitions.models import Petition, PetitionSource
from governance.petitions.service import (
    PetitionDraft,
    allocate_ticket_no,
    enqueue_new_petition_card,
    submit_petition,
)
from nlu.parsed import CATEGORIES
from nlu.tokenize import ascii_digits

MIN_DESCRIPTION_CHARS = 4
"""Shorter texts ("repair!", "a problem") say that something is wrong, not what."""
EDITABLE_SLOTS = ("category", "description", "location", "phone")
NO_DUPLICATE = "none"
FOLLOW_EXISTING, FILE_SEPARATELY = 1, 2
CONFIRM, EDIT, CANCEL = 1, 2, 3
SKIPPED = ""


def place_slot(
    place: Place, *, address: str = "", lat: float | None = None, lon: float | None = None
) -> dict[str, Any]:
    return {
        "community_id": place.community_id,
        "grid_id": place.grid_id,
        "grid_point_id": place.grid_point_id,
        "name_zh": place.name_zh,
        "name_bo": place.name_bo,
        "address": address,
        "latitude": lat,
        "longitude": lon,
    }


class PetitionIntake(FormFlow):
    name = FlowName.PETITION_INTAKE
    required_slots = ("description", "category", "location", "duplicate", "phone", "confirmed")

    # -- starting -----------------------------------------------------------------------------

    async def start_from_text(self, ctx: TurnContext) -> None:
        """The resident described a problem (or said they want to report one) in chat."""
        ctx.conversation.reset()
        ctx.conversation.slots["source"] = PetitionSource.CHAT.value
        self._note_hazard(ctx)
        if len(ctx.text) >= MIN_DESCRIPTION_CHARS and self._category_of(ctx) is not None:
            ctx.conversation.slots["description"] = ctx.text
            ctx.conversation.slots["category"] = self._category_of(ctx)
        await self.run(ctx)

    async def start_from_qr(self, ctx: TurnContext, grid_point_id: str) -> None:
        """The resident scanned a grid point's report code: the place is known."""
        ctx.conversation.reset()
        async with ctx.deps.quick_sessions() as session:
            place = await directory.grid_point_place(session, grid_point_id)
        if place is None:
            ctx.say("utter_qr_unknown")
            ctx.conversation.slots["source"] = PetitionSource.CHAT.value
        else:
            ctx.conversation.slots["source"] = PetitionSource.QR.value
            ctx.conversation.slots["location"] = place_slot(place)
            ctx.say("utter_qr_report_welcome", place=self._place_name(ctx, place))
        await self.run(ctx)

    async def start_from_media(self, ctx: TurnContext) -> None:
        """A photo or a location sent outside any flow starts a report with it attached."""
        ctx.conversation.reset()
        ctx.conversation.slots["source"] = PetitionSource.CHAT.value
        if ctx.message.kind is MessageKind.IMAGE:
            self.attach_photo(ctx)
        elif ctx.message.kind is MessageKind.LOCATION:
            result = await self._place_from_location(ctx)
            if result.accepted:
                ctx.conversation.slots["location"] = result.value
        await self.run(ctx)

    def attach_photo(self, ctx: TurnContext) -> None:
        photos: list[dict[str, str | None]] = ctx.conversation.slots.setdefault("photos", [])
        photos.append({"media_id": ctx.message.media_id, "url": ctx.message.picture_url})
        ctx.say("utter_photo_received", count=len(photos))

    # -- slots --------------------------------------------------------------------------------

    async def validate_description(self, ctx: TurnContext) -> SlotResult:
        if len(ctx.text) < MIN_DESCRIPTION_CHARS:
            return SlotResult.reject("utter_description_too_short")
        self._note_hazard(ctx)
        category = self._category_of(ctx)
        return SlotResult.ok(ctx.text, **({"category": category} if category else {}))

    async def ask_category(self, ctx: TurnContext) -> None:
        ctx.say("utter_ask_category", options=list(CATEGORIES))

    async def validate_category(self, ctx: TurnContext) -> SlotResult:
        picked = ctx.choice(len(CATEGORIES))
        if picked is not None:
            return SlotResult.ok(CATEGORIES[picked - 1])
        guessed = self._category_of(ctx)
        if guessed is not None:
            return SlotResult.ok(guessed)
        return SlotResult.reject("utter_category_not_understood")

    async def ask_location(self, ctx: TurnContext) -> None:
        ctx.say("utter_ask_location")

    async def validate_location(self, ctx: TurnContext) -> SlotResult:
        if ctx.message.kind is MessageKind.LOCATION:
            return await self._place_from_location(ctx)
        grid_choices: list[str] | None = ctx.conversation.slots.get("grid_choices")
        if grid_choices:
            picked = ctx.choice(len(grid_choices))
            if picked is not None:
                async with ctx.deps.quick_sessions() as session:
                    grid = await directory.grid_by_id(session, grid_choices[picked - 1])
                if grid is not None:
                    ctx.conversation.slots.pop("grid_choices")
                    address = ctx.conversation.slots.pop("typed_address", "")
                    return SlotResult.ok(place_slot(directory.grid_place(grid), address=address))
        if not ctx.text:
            return SlotResult.reject("utter_location_needed")
        async with ctx.deps.quick_sessions() as session:
            place = await directory.match_place_by_text(session, ctx.text)
            if place is not None:
                return SlotResult.ok(place_slot(place, address=ctx.text))
            grids = await directory.list_grids(session)
        ctx.conversation.slots["grid_choices"] = [grid.id for grid in grids]
        ctx.conversation.slots["typed_address"] = ctx.text
        names = [grid.name_bo if ctx.language == "bo" else grid.name_zh for grid in grids]
        ctx.say("utter_choose_grid", options=names)
        return SlotResult.silent()

    async def ask_phone(self, ctx: TurnContext) -> None:
        ctx.say("utter_ask_phone")

    async def validate_phone(self, ctx: TurnContext) -> SlotResult:
        if ctx.means("skip") or ctx.means("no"):
            return SlotResult.ok(SKIPPED)
        phone = ctx.parsed.entity("phone") if ctx.parsed else None
        if phone is not None:
            return SlotResult.ok(phone.value)
        digits = "".join(ch for ch in ascii_digits(ctx.text) if ch.isdigit())
        if len(digits) == 11 and digits.startswith("1"):
            return SlotResult.ok(digits)
        return SlotResult.reject("utter_phone_invalid")

    async def ask_confirmed(self, ctx: TurnContext) -> None:
        slots = ctx.conversation.slots
        location = slots["location"]
        ctx.say(
            "utter_petition_summary",
            category=slots["category"],
            description=slots["description"],
            place=location["name_bo"] if ctx.language == "bo" else location["name_zh"],
            address=location.get("address") or "-",
            phone=slots["phone"] or "-",
            photos=len(slots.get("photos", [])),
        )

    async def validate_confirmed(self, ctx: TurnContext) -> SlotResult:
        slots = ctx.conversation.slots
        if slots.get("editing"):
            picked = ctx.choice(len(EDITABLE_SLOTS))
            if picked is None:
                return SlotResult.reject("utter_edit_which")
            slots.pop("editing")
            slot = EDITABLE_SLOTS[picked - 1]
            slots.pop(slot, None)
            if slot in {"category", "location"}:
                slots.pop("duplicate", None)  # a new place or kind may match another case
            await self.run(ctx)
            return SlotResult.silent()
        picked = ctx.choice(3)
        if picked == CONFIRM or ctx.means("yes") or ctx.intent("affirm"):
            return SlotResult.ok(True)
        if picked == EDIT or ctx.means("edit") or ctx.intent("deny"):
            slots["editing"] = True
            ctx.say("utter_edit_which")
            return SlotResult.silent()
        if picked == CANCEL:
            ctx.conversation.reset()
            ctx.say("utter_cancelled")
            return SlotResult.silent()
        return SlotResult.reject("utter_confirm_not_understood")

    # -- submitting ---------------------------------------------------------------------------

    async def submit(self, ctx: TurnContext) -> None:
        slots = ctx.conversation.slots
        location = slots["location"]
        draft = PetitionDraft(
            resident_openid=ctx.message.user_id,
            language=ctx.language.value,
            category=slots["category"],
            description=slots["description"],
            community_id=location["community_id"],
            grid_id=location["grid_id"],
            grid_point_id=location["grid_point_id"],
            address=location.get("address") or "",
            latitude=location.get("latitude"),
            longitude=location.get("longitude"),
            phone=slots["phone"] or None,
            photos=tuple(slots.get("photos", [])),
            source=PetitionSource(slots.get("source", PetitionSource.CHAT.value)),
            hazard=slots.get("hazard"),
        )
        deps = ctx.deps
        now = deps.clock.now()
        ticket_no = await allocate_ticket_no(deps.sessions, now)
        async with deps.sessions() as session, session.begin():
            calendar = await load_calendar(session, deps.prefecture)
            await directory.remember_report_contact(
                session,
                ctx.message.user_id,
                grid_id=draft.grid_id,
                phone=draft.phone,
                language=ctx.language.value,
                now=now,
            )
            outcome = await submit_petition(
                session,
                draft,
                now=now,
                calendar=calendar,
                policies=deps.sla_policies,
                public_base_url=deps.public_base_url,
                post_card=False,
                ticket_no=ticket_no,
            )
            await self._dispatch(ctx, session, outcome.petition)
        deps.notify_outbox()
        ctx.conversation.reset()
        ctx.say(
            "utter_petition_received",
            ticket=outcome.ticket_no,
            response_due=outcome.response_due_at,
            resolution_due=outcome.resolution_due_at,
        )

    async def _dispatch(self, ctx: TurnContext, session: AsyncSession, petition: Petition) -> None:
        """Send the case to whoever the matrix names; if no one, the group gets a plain card."""
        deps = ctx.deps
        try:
            await dispatch(
                session,
                petition,
                now=deps.clock.now(),
                actor="system",
                matrix=deps.matrix,
                public_base_url=deps.public_base_url,
            )
        except NoHandler:
            await enqueue_new_petition_card(
                session, petition, now=deps.clock.now(), public_base_url=deps.public_base_url
            )

    # -- me too -------------------------------------------------------------------------------

    async def ask_duplicate(self, ctx: TurnContext) -> None:
        """Offer to follow an open case with the same problem at the same place, if any."""
        slots = ctx.conversation.slots
        location = slots["location"]
        async with ctx.deps.quick_sessions() as session:
            existing = await find_duplicate(
                session,
                grid_point_id=location.get("grid_point_id"),
                grid_id=location["grid_id"],
                category=slots["category"],
                now=ctx.deps.clock.now(),
            )
        if existing is None or existing.resident_openid == ctx.message.user_id:
            slots["duplicate"] = NO_DUPLICATE
            await self.run(ctx)
            return
        slots["duplicate_of"] = existing.id
        ctx.say(
            "utter_me_too_offer",
            ticket=existing.ticket_no,
            category=existing.category,
            interest=existing.interest_count,
        )

    async def validate_duplicate(self, ctx: TurnContext) -> SlotResult:
        picked = ctx.choice(2)
        if picked == FOLLOW_EXISTING or (
            picked is None and (ctx.means("yes") or ctx.intent("affirm"))
        ):
            deps = ctx.deps
            async with deps.sessions() as session, session.begin():
                petition = await session.get(Petition, ctx.conversation.slots["duplicate_of"])
                if petition is None:
                    return SlotResult.ok(NO_DUPLICATE)
                try:
                    await follow(session, petition, ctx.message.user_id, deps.clock.now())
                except Refused:
                    return SlotResult.ok(NO_DUPLICATE)
                ticket = petition.ticket_no
            ctx.conversation.reset()
            ctx.say("utter_me_too_following", ticket=ticket)
            return SlotResult.silent()
        if picked == FILE_SEPARATELY or ctx.means("no") or ctx.intent("deny"):
            return SlotResult.ok(NO_DUPLICATE)
        return SlotResult.reject("utter_confirm_not_understood")

    # -- helpers ------------------------------------------------------------------------------

    def _category_of(self, ctx: TurnContext) -> str | None:
        """A confident category for the resident's text, if the NLU has one."""
        if not ctx.text:
            return None
        if (
            ctx.parsed
            and ctx.parsed.category
            and (ctx.parsed.category_confidence >= ctx.deps.category_threshold)
        ):
            return ctx.parsed.category
        category, confidence = ctx.deps.categoriser.classify_category(ctx.text)
        return category if confidence >= ctx.deps.category_threshold else None

    def _note_hazard(self, ctx: TurnContext) -> None:
        hazard = ctx.parsed.hazard if ctx.parsed else None
        if hazard and ctx.conversation.slots.get("hazard") != hazard:
            ctx.conversation.slots["hazard"] = hazard
            ctx.say(f"utter_safety_{hazard}")

    def _place_name(self, ctx: TurnContext, place: Place) -> str:
        return place.name_bo if ctx.language == "bo" else place.name_zh

    async def _place_from_location(self, ctx: TurnContext) -> SlotResult:
        latitude, longitude = ctx.message.latitude, ctx.message.longitude
        if latitude is None or longitude is None:
            return SlotResult.reject("utter_location_needed")
        async with ctx.deps.quick_sessions() as session:
            place = await directory.nearest_place(session, latitude, longitude)
        if place is None:
            return SlotResult.reject("utter_location_not_in_community")
        return SlotResult.ok(
            place_slot(place, address=ctx.message.label or "", lat=latitude, lon=longitude)
        )


flow = PetitionIntake()
