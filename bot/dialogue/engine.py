"""One turn of dialogue: expiry, global commands, the active flow, then a new intent.

The order here is the registry: a voice message or the answer to a voice read-back first,
then global commands, then the flow in progress, then what the resident's message starts
(QR scene, menu number, intent), and a numbered clarifying question when the NLU is unsure.
"""

from __future__ import annotations

import dataclasses

from actions import eldercare_booking as booking_actions
from actions import followup, global_commands, policy_qa, status
from actions import voice as voice_actions
from actions.eldercare_booking import flow as eldercare_booking
from actions.petition_intake import flow as petition_intake
from actions.petition_intake import place_slot
from actions.staff_directory import flow as staff_directory
from bot.dialogue.context import TurnContext
from bot.dialogue.forms import FormFlow
from bot.dialogue.state import FlowName, Lang
from bot.messages import EventKind, MessageKind
from bot.voice.heard import HeardVoice
from governance.directory import service as directory
from governance.directory.models import Resident
from governance.petitions.models import VoiceRecordingProblem
from governance.petitions.voice import NewRecording
from nlu.language import detect_language
from nlu.parsed import Language, NluEngine

MENU: tuple[str, ...] = (
    "report_issue",
    "check_status",
    "ask_policy",
    "book_eldercare",
    "find_staff",
    "request_human",
)
"""Numbered main menu (utter_menu shows the same order)."""
CLARIFY_CANDIDATES = frozenset(MENU)
MAX_CLARIFY_OPTIONS = 3
MENU_KEYS = {f"menu_{intent}": intent for intent in MENU}
FORMS: dict[FlowName, FormFlow] = {
    FlowName.PETITION_INTAKE: petition_intake,
    FlowName.FIND_STAFF: staff_directory,
    FlowName.ELDERCARE_BOOKING: eldercare_booking,
}
"""The form flows, by the name stored in the conversation (global commands come first)."""
"""CLICK event keys of the official account's custom menu."""


async def handle(
    ctx: TurnContext, *, heard: HeardVoice | None = None, nlu: NluEngine | None = None
) -> None:
    """Run one turn; `heard` is what the pipeline made of a voice message, `nlu` parses a
    confirmed voice transcript so it is handled exactly as if typed."""
    conversation = ctx.conversation
    expired_after = ctx.deps.idle_timeout
    if (
        conversation.flow is not None
        and conversation.updated_at is not None
        and (ctx.deps.clock.now() - conversation.updated_at > expired_after)
    ):
        conversation.reset()
        ctx.say("utter_draft_expired")

    if ctx.message.kind is MessageKind.EVENT:
        await _handle_event(ctx)
        return

    if ctx.message.kind is MessageKind.VOICE:
        if heard is None:  # no audio pipeline: the message still reaches a person
            heard = HeardVoice(
                NewRecording(
                    openid=ctx.message.user_id,
                    media_id=ctx.message.media_id or "",
                    problem=VoiceRecordingProblem.DOWNLOAD_FAILED,
                )
            )
        said = await as_typed(ctx, heard.text, nlu) if heard.trusted else None
        confirmed = await voice_actions.on_voice(ctx, heard, said)
        if confirmed is not None:
            await handle(await as_typed(ctx, confirmed, nlu), nlu=nlu)
        return

    answer, transcript = voice_actions.answer_readback(ctx)
    if answer is voice_actions.ReadbackAnswer.CONFIRMED:
        ctx.bilingual = False
        await handle(await as_typed(ctx, transcript, nlu), nlu=nlu)
        return
    if answer is voice_actions.ReadbackAnswer.DENIED:
        ctx.say("utter_voice_readback_retry")
        return

    if conversation.flow is None and ctx.message.kind is MessageKind.TEXT:
        # Before global commands: "cancel the booking" cancels the booking, not the current flow.
        if ctx.mentions("cancel_booking"):
            await booking_actions.cancel_booking(ctx)
            return
        if ctx.mentions("change_booking") and await booking_actions.change_booking(ctx):
            return

    command = global_commands.recognise(ctx) if ctx.message.kind is MessageKind.TEXT else None
    if command is not None:
        ask_again = await global_commands.run(ctx, command)
        form = FORMS.get(conversation.flow) if conversation.flow else None
        if ask_again and form is not None and conversation.requested_slot:
            await form.ask(conversation.requested_slot, ctx)
        return

    answers_a_question = conversation.flow is None and ctx.message.kind is MessageKind.TEXT
    if answers_a_question and (await followup.answer(ctx) or await booking_actions.rate(ctx)):
        return

    if conversation.flow is FlowName.PETITION_INTAKE:
        if ctx.message.kind is MessageKind.IMAGE:
            petition_intake.attach_photo(ctx)
        else:
            await petition_intake.resume(ctx)
        return

    form = FORMS.get(conversation.flow) if conversation.flow else None
    if form is not None:  # petition intake was handled above (photos)
        await form.resume(ctx)
        return

    if conversation.flow is FlowName.POLICY_QA and await policy_qa.resume(ctx):
        return

    if conversation.flow is FlowName.BOOKING_CHANGE:
        await booking_actions.resume_change(ctx)
        return

    if conversation.flow is FlowName.CLARIFY:
        choices: list[str] = conversation.slots.get("choices", [])
        picked = ctx.choice(len(choices))
        conversation.reset()
        if picked is not None:
            await act_on_intent(ctx, choices[picked - 1])
            return

    kind = ctx.message.kind
    if kind in (MessageKind.IMAGE, MessageKind.LOCATION):
        await petition_intake.start_from_media(ctx)
    elif kind is MessageKind.TEXT and ctx.text:
        await _handle_text(ctx)
    else:
        ctx.say("utter_unsupported_message")


async def _handle_text(ctx: TurnContext) -> None:
    picked = ctx.choice(len(MENU))
    if picked is not None:
        await act_on_intent(ctx, MENU[picked - 1])
        return
    parsed = ctx.parsed
    if parsed is None:
        ctx.say("utter_unsupported_message")
        return
    if parsed.intent.confidence >= ctx.deps.intent_threshold:
        await act_on_intent(ctx, parsed.intent.name)
        return
    ranked = [i.name for i in parsed.intent_ranking if i.name in CLARIFY_CANDIDATES]
    choices = list(dict.fromkeys([*ranked[:MAX_CLARIFY_OPTIONS], "request_human"]))
    ctx.conversation.flow = FlowName.CLARIFY
    ctx.conversation.slots = {"choices": choices}
    ctx.say("utter_clarify", options=choices)


async def act_on_intent(ctx: TurnContext, intent: str) -> None:
    if intent == "report_issue":
        await petition_intake.start_from_text(ctx)
    elif intent == "check_status":
        await status.run(ctx)
    elif intent == "request_human":
        await global_commands.hand_over(ctx)
    elif intent == "find_staff":
        await staff_directory.start(ctx)
    elif intent == "book_eldercare":
        await eldercare_booking.start(ctx)
    elif intent == "ask_policy":
        if ctx.text and ctx.choice(len(MENU)) is None:
            await policy_qa.answer(ctx)  # a question: answer it
        else:
            await policy_qa.show_menu(ctx)  # "3" from the main menu: list the policies
    elif intent == "greet":
        ctx.say("utter_greet")
        ctx.say("utter_menu")
    elif intent == "thank":
        ctx.say("utter_you_are_welcome")
    elif intent == "goodbye":
        ctx.say("utter_goodbye")
    elif intent == "cancel":
        ctx.say("utter_nothing_to_cancel")
    elif intent == "out_of_scope":
        ctx.say("utter_out_of_scope")
        ctx.say("utter_menu")
    else:  # help, and affirm/deny with nothing to answer
        ctx.say("utter_menu")


async def _handle_event(ctx: TurnContext) -> None:
    event, key = ctx.message.event, ctx.message.event_key or ""
    if event in (EventKind.SUBSCRIBE, EventKind.SCAN):
        if event is EventKind.SUBSCRIBE:
            ctx.say("utter_welcome")
        await _scene(ctx, key)
    elif event is EventKind.UNSUBSCRIBE:
        async with ctx.deps.sessions() as session, session.begin():
            resident = await session.get(Resident, ctx.message.user_id)
            if resident is not None:
                resident.subscribed = False
    elif event is EventKind.CLICK and key in MENU_KEYS:
        await act_on_intent(ctx, MENU_KEYS[key])


async def _scene(ctx: TurnContext, scene: str) -> None:
    """QR scenes: ``report:<grid point>`` starts a report there; others show the menu for now."""
    kind, _, target = scene.partition(":")
    if kind == "report" and target:
        slots = ctx.conversation.slots
        if ctx.conversation.flow is FlowName.PETITION_INTAKE and "location" not in slots:
            async with ctx.deps.quick_sessions() as session:
                place = await directory.grid_point_place(session, target)
            if place is not None:
                slots["location"] = place_slot(place)
            await petition_intake.run(ctx)
            return
        await petition_intake.start_from_qr(ctx, target)
    elif kind == "staff" and target:
        await staff_directory.start(ctx, grid_id=target)
    elif kind == "policy":
        await policy_qa.show_menu(ctx)
    elif ctx.message.event is EventKind.SCAN or not scene:
        ctx.say("utter_menu")


async def as_typed(ctx: TurnContext, text: str, nlu: NluEngine | None) -> TurnContext:
    """The same turn as if the resident had typed `text` (a confirmed voice transcript).

    Replies go to the same list; the conversation is shared, so an active flow continues.
    """
    message = dataclasses.replace(
        ctx.message, kind=MessageKind.TEXT, text=text, media_id=None, voice_format=None
    )
    parsed = await nlu.parse(text) if nlu is not None and text.strip() else None
    if detect_language(text) is Language.ZH:
        ctx.conversation.language = Lang.ZH
    return TurnContext(
        message,
        parsed,
        ctx.conversation,
        ctx.deps,
        ctx.replies,
        bilingual=False,
        resident=ctx.resident,
    )
