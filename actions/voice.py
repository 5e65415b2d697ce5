"""Voice messages in the dialogue: read back what we understood, or hand the message to a person.

A trusted Mandarin transcript is read back (`utter_voice_readback`: "you said …, right?") and
kept pending in the conversation; "yes" (typed or spoken) runs it as if typed, inside whatever
flow is active; "no" asks the resident to say it again or type it. Everything else — Tibetan
residents, unclear or low-confidence speech, recognition off, audio that could not be
downloaded or decoded — becomes a voice petition in the human queue, stored before the
resident is told.
Sending voice turns elder mode on: replies then also go out as speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.dialogue.context import TurnContext
from bot.dialogue.state import Conversation, FlowName, Lang
from bot.messages import MessageKind
from bot.voice.heard import HeardVoice
from governance.calendar import load_calendar
from governance.directory import service as directory
from governance.directory.models import Resident
from governance.petitions.models import PetitionSource
from governance.petitions.service import PetitionDraft
from governance.petitions.voice import (
    UNTRANSCRIBED_CATEGORY,
    VoicePetitionFiled,
    add_recording,
    file_voice_petition,
    pending_voice_petition,
    resident_place,
    store_recording,
)

READBACK_SLOT = "voice_readback"
"""Conversation slot holding the transcript waiting for the resident's yes or no."""
YES_CHOICE, NO_CHOICE = 1, 2


class ReadbackAnswer(StrEnum):
    CONFIRMED = "confirmed"
    DENIED = "denied"
    NONE = "none"
    """No read-back was pending (or the resident moved on): handle the message normally."""


@dataclass(frozen=True, slots=True)
class PendingReadback:
    """A transcript read back to the resident, waiting for yes or no."""

    text: str
    recording_id: int | None
    at: datetime

    def to_record(self) -> dict[str, Any]:
        return {"text": self.text, "recording_id": self.recording_id, "at": self.at.isoformat()}

    @classmethod
    def from_record(cls, record: Any) -> PendingReadback | None:
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            return None
        try:
            at = datetime.fromisoformat(str(record.get("at")))
        except ValueError:
            return None
        recording_id = record.get("recording_id")
        return cls(record["text"], recording_id if isinstance(recording_id, int) else None, at)


def pending_readback(conversation: Conversation) -> PendingReadback | None:
    return PendingReadback.from_record(conversation.slots.get(READBACK_SLOT))


def take_readback(ctx: TurnContext) -> PendingReadback | None:
    """Remove the pending read-back from the conversation; None if absent or gone stale."""
    pending = PendingReadback.from_record(ctx.conversation.slots.pop(READBACK_SLOT, None))
    if pending is None or ctx.deps.clock.now() - pending.at > ctx.deps.idle_timeout:
        return None
    return pending


def is_yes(ctx: TurnContext) -> bool:
    return ctx.means("yes") or ctx.choice(2) == YES_CHOICE or ctx.intent("affirm")


def is_no(ctx: TurnContext) -> bool:
    return ctx.means("no") or ctx.choice(2) == NO_CHOICE or ctx.intent("deny")


def answer_readback(ctx: TurnContext) -> tuple[ReadbackAnswer, str]:
    """A typed answer to a pending read-back: (CONFIRMED, transcript), DENIED or NONE.

    Any other message drops the read-back: the resident moved on, their new words count.
    """
    pending = take_readback(ctx)
    if pending is None or ctx.message.kind is not MessageKind.TEXT:
        return ReadbackAnswer.NONE, ""
    if is_yes(ctx):
        return ReadbackAnswer.CONFIRMED, pending.text
    if is_no(ctx):
        return ReadbackAnswer.DENIED, ""
    return ReadbackAnswer.NONE, ""


async def on_voice(ctx: TurnContext, heard: HeardVoice, said: TurnContext | None) -> str | None:
    """Handle a voice message; returns a confirmed transcript the caller must run as typed.

    `said` is the transcript as a typed turn (parsed by the NLU) when it is trusted: a spoken
    A yes answers a pending read-back; otherwise a new voice message replaces the pending one.
    """
    turned_on = await set_elder_mode(ctx, on=True)
    pending = take_readback(ctx)
    confirmed: str | None = None
    if said is not None and heard.transcript is not None:
        ctx.conversation.language = Lang.ZH
        ctx.bilingual = False
        if pending is not None and is_yes(said):
            await _store_only(ctx, heard)
            confirmed = pending.text
        elif pending is not None and is_no(said):
            await _store_only(ctx, heard)
            ctx.say("utter_voice_readback_retry")
        else:
            recording_id = await _store_only(ctx, heard)
            ctx.conversation.slots[READBACK_SLOT] = PendingReadback(
                heard.text, recording_id, ctx.deps.clock.now()
            ).to_record()
            ctx.say("utter_voice_readback", text=heard.text)
    else:
        filed = await file_for_person(ctx, heard)
        key = "utter_voice_added" if filed.added_to_existing else "utter_voice_petition_created"
        ctx.say(key, ticket=filed.ticket_no)
    if turned_on:
        ctx.say("utter_elder_mode_on")
    return confirmed


async def file_for_person(ctx: TurnContext, heard: HeardVoice) -> VoicePetitionFiled:
    """A voice petition (with an open intake draft's answers), or more audio on the pending one.

    The petition, the recording and the handler-group card commit together, before the
    resident hears the ticket number. Any other flow in progress ends: a person calls back.
    """
    deps = ctx.deps
    now = deps.clock.now()
    slots = ctx.conversation.slots
    in_intake = ctx.conversation.flow is FlowName.PETITION_INTAKE
    async with deps.sessions() as session, session.begin():
        recording = store_recording(session, heard.recording, now=now)
        existing = (
            None
            if in_intake
            else await pending_voice_petition(session, ctx.message.user_id, now=now)
        )
        if existing is not None:
            filed = await add_recording(
                session,
                existing,
                recording=recording,
                now=now,
                public_base_url=deps.public_base_url,
            )
        else:
            resident = await directory.get_or_create_resident(
                session, ctx.message.user_id, language=ctx.language.value, now=now
            )
            location = slots.get("location") if in_intake else None
            if isinstance(location, dict) and location.get("grid_id"):
                community_id, grid_id = location["community_id"], location["grid_id"]
                place_known = True
            else:
                place = await resident_place(session, ctx.message.user_id)
                community_id, grid_id, place_known = place.community_id, place.grid_id, place.known
                location = {}
            phone = slots.get("phone") if in_intake else None
            draft = PetitionDraft(
                resident_openid=ctx.message.user_id,
                language=ctx.language.value,
                category=(slots.get("category") if in_intake else None) or UNTRANSCRIBED_CATEGORY,
                description=(slots.get("description") if in_intake else None) or "",
                community_id=community_id,
                grid_id=grid_id,
                grid_point_id=location.get("grid_point_id"),
                address=location.get("address") or "",
                latitude=location.get("latitude"),
                longitude=location.get("longitude"),
                phone=phone or resident.phone or None,
                photos=tuple(slots.get("photos", [])) if in_intake else (),
                source=PetitionSource.VOICE,
                hazard=slots.get("hazard") if in_intake else None,
            )
            filed = await file_voice_petition(
                session,
                draft,
                recording=recording,
                place_known=place_known,
                now=now,
                calendar=await load_calendar(session, deps.prefecture),
                policies=deps.sla_policies,
                public_base_url=deps.public_base_url,
            )
    deps.notify_outbox()
    ctx.conversation.reset()
    return filed


async def set_elder_mode(ctx: TurnContext, *, on: bool) -> bool:
    """Store the resident's elder-mode choice; True when it changed."""
    async with ctx.deps.sessions() as session, session.begin():
        resident = await session.get(Resident, ctx.message.user_id)
        if resident is None:
            return False
        ctx.elder_mode = on
        if resident.elder_mode == on:
            return False
        resident.elder_mode = on
        return True


async def _store_only(ctx: TurnContext, heard: HeardVoice) -> int:
    """Keep the recording (with its transcript) without a case; returns its id."""
    async with ctx.deps.sessions() as session, session.begin():
        recording = store_recording(session, heard.recording, now=ctx.deps.clock.now())
        await session.flush()
        return recording.id
