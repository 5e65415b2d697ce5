"""Commands that work anywhere, in both languages: cancel, help/menu, a person, switch language,
elder mode (replies also spoken) on and off."""

from __future__ import annotations

from actions.voice import set_elder_mode
from bot.dialogue.context import TurnContext
from bot.dialogue.state import Lang
from governance.directory import service as directory
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue

COMMANDS = ("cancel", "help", "human", "to_zh", "to_bo", "switch_language")
ELDER_COMMANDS = ("elder_off", "elder_on")
"""Matched by phrase (data/dialogue); the off phrases are tried first, because "no voice
replies" contains the words of "voice replies"."""
ELDER_PHRASE_MAX_CHARS = 24
"""Longer messages mentioning voice are about something else (a description, a question)."""


def recognise(ctx: TurnContext) -> str | None:
    """The command the resident typed, by exact word (inside a flow) or clear intent (outside)."""
    for command in COMMANDS:
        if ctx.means(command):
            return command
    if len(ctx.deps.vocabulary.fold(ctx.text)) <= ELDER_PHRASE_MAX_CHARS:
        for command in ELDER_COMMANDS:
            if ctx.mentions(command):
                return command
    if ctx.conversation.flow is None:
        for intent, command in (
            ("cancel", "cancel"),
            ("help", "help"),
            ("request_human", "human"),
        ):
            if ctx.intent(intent):
                return command
    return None


async def run(ctx: TurnContext, command: str) -> bool:
    """Carry out `command`; True when the current question should be asked again."""
    conversation = ctx.conversation
    if command == "cancel":
        if conversation.flow is None:
            ctx.say("utter_nothing_to_cancel")
        else:
            conversation.reset()
            ctx.say("utter_cancelled")
        return False
    if command == "help":
        ctx.say("utter_menu")
        return conversation.flow is not None
    if command == "human":
        await hand_over(ctx)
        return conversation.flow is not None
    if command in ELDER_COMMANDS:
        on = command == "elder_on"
        await set_elder_mode(ctx, on=on)
        ctx.say("utter_elder_mode_on" if on else "utter_elder_mode_off")
        return conversation.flow is not None
    target = {"to_zh": Lang.ZH, "to_bo": Lang.BO}.get(command)
    if target is None:
        target = Lang.BO if conversation.language is Lang.ZH else Lang.ZH
    conversation.language = target
    ctx.bilingual = False
    ctx.say("utter_language_switched")
    return conversation.flow is not None


async def hand_over(ctx: TurnContext, *, reply_key: str = "utter_handoff") -> None:
    """Tell the handler group a resident wants a person, and tell the resident it is done."""
    now = ctx.deps.clock.now()
    async with ctx.deps.sessions() as session, session.begin():
        resident = await directory.get_or_create_resident(
            session, ctx.message.user_id, language=ctx.language.value, now=now
        )
        grid = await directory.grid_by_id(session, resident.grid_id) if resident.grid_id else None
        communities = (
            [grid.community_id]
            if grid
            else [c.community_id for c in await directory.list_grids(session)][:1]
        )
        for community_id in communities:
            enqueue(
                session,
                channel=OutboxChannel.HANDLER_GROUP,
                recipient=community_id,
                payload={
                    "key": "card_handoff",
                    "language": "zh",
                    "params": {
                        "resident": ctx.message.user_id[-6:],
                        "resident_language": ctx.language.value,
                        "text": ctx.text[:120] or f"[{ctx.message.kind.value}]",
                        "grid": grid.name_zh if grid else "-",
                    },
                },
                idempotency_key=f"handoff:{ctx.message.dedup_key}",
                now=now,
            )
    ctx.deps.notify_outbox()
    ctx.say(reply_key)
