"""Status query: a ticket number, or the resident's latest petitions."""

from __future__ import annotations

from bot.dialogue.context import TurnContext
from governance.petitions.service import petition_by_ticket, petitions_of_resident


async def run(ctx: TurnContext) -> None:
    ticket = ctx.parsed.entity("ticket") if ctx.parsed else None
    async with ctx.deps.quick_sessions() as session:
        if ticket is not None:
            petition = await petition_by_ticket(session, ticket.value)
            found = (
                [petition] if petition and petition.resident_openid == ctx.message.user_id else []
            )
            if not found:
                ctx.say("utter_status_ticket_unknown", ticket=ticket.value)
                return
        else:
            found = await petitions_of_resident(session, ctx.message.user_id, limit=3)
    if not found:
        ctx.say("utter_status_none")
        return
    for petition in found:
        ctx.say(
            "utter_status_line",
            ticket=petition.ticket_no,
            category=petition.category,
            status=petition.status.value if hasattr(petition.status, "value") else petition.status,
            resolution_due=petition.resolution_due_at,
        )
