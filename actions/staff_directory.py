"""Who serves my grid: grid head, grid worker, grid police officer and grid doctor, with phones.

The grid comes from the QR scene, the resident's profile, or the resident (a numbered list,
a typed place or a location message).
"""

from __future__ import annotations

from bot.dialogue.context import TurnContext
from bot.dialogue.forms import FormFlow, SlotResult
from bot.dialogue.state import FlowName
from bot.messages import MessageKind
from governance.directory import service as directory
from governance.directory.models import StaffRole

ROLES_SHOWN = (
    StaffRole.GRID_HEAD,
    StaffRole.GRID_WORKER,
    StaffRole.GRID_POLICE,
    StaffRole.GRID_DOCTOR,
)


class StaffDirectory(FormFlow):
    name = FlowName.FIND_STAFF
    required_slots = ("grid",)

    async def start(self, ctx: TurnContext, grid_id: str | None = None) -> None:
        ctx.conversation.reset()
        if grid_id is None:
            grid_id = ctx.resident.grid_id
        if grid_id is not None:
            ctx.conversation.slots["grid"] = grid_id
        await self.run(ctx)

    async def ask_grid(self, ctx: TurnContext) -> None:
        async with ctx.deps.quick_sessions() as session:
            grids = await directory.list_grids(session)
        ctx.conversation.slots["grid_choices"] = [grid.id for grid in grids]
        names = [grid.name_bo if ctx.language == "bo" else grid.name_zh for grid in grids]
        ctx.say("utter_ask_grid_for_staff", options=names)

    async def validate_grid(self, ctx: TurnContext) -> SlotResult:
        choices: list[str] = ctx.conversation.slots.get("grid_choices", [])
        picked = ctx.choice(len(choices))
        if picked is not None:
            return SlotResult.ok(choices[picked - 1])
        async with ctx.deps.quick_sessions() as session:
            if ctx.message.kind is MessageKind.LOCATION and ctx.message.latitude is not None:
                place = await directory.nearest_place(
                    session, ctx.message.latitude, ctx.message.longitude or 0.0
                )
            else:
                place = await directory.match_place_by_text(session, ctx.text)
        if place is None:
            return SlotResult.reject("utter_grid_not_understood")
        return SlotResult.ok(place.grid_id)

    async def submit(self, ctx: TurnContext) -> None:
        grid_id = ctx.conversation.slots["grid"]
        now = ctx.deps.clock.now()
        async with ctx.deps.sessions() as session, session.begin():
            grid = await directory.grid_by_id(session, grid_id)
            staff = await directory.grid_staff(session, grid_id)
            resident = await directory.get_or_create_resident(
                session, ctx.message.user_id, language=ctx.language.value, now=now
            )
            if grid is not None and resident.grid_id is None:
                resident.grid_id = grid.id  # remembered for the next question
            community = (
                await directory.community_by_id(session, grid.community_id) if grid else None
            )
        ctx.conversation.reset()
        if grid is None:
            ctx.say("utter_grid_not_understood")
            return
        ctx.say("utter_staff_card", grid=grid.name_bo if ctx.language == "bo" else grid.name_zh)
        by_role = {member.role: member for member in staff}
        for role in ROLES_SHOWN:
            member = by_role.get(role)
            if member is None:
                continue
            ctx.say(
                "utter_staff_line",
                role=role.value,
                name_zh=member.name_zh,
                name_bo=member.name_bo,
                phone=member.phone,
                hours=member.duty_hours,
            )
        if community is not None and community.hotline:
            ctx.say("utter_staff_hotline", hotline=community.hotline)


flow = StaffDirectory()
