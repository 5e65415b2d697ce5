"""③ One resident message in, replies out: lock → rate limit → resident → language → voice/NLU →
dialogue → save. A voice message is downloaded, stored, converted and recognised here, under the
lock. A resident over the rate limit is told once per window to slow down; messages that may file
or confirm a petition are still handled in full, so no petition is dropped silently."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update

from bot.dialogue import engine
from bot.dialogue.context import DialogueDeps, TurnContext
from bot.dialogue.locks import UserLocks
from bot.dialogue.state import Conversation, FlowName, Lang
from bot.dialogue.store import NEW_RESIDENT, SqlConversationStore, StoredResident
from bot.messages import InboundMessage, MessageKind, Reply
from bot.ratelimit import RateDecision, RateLimiter
from bot.voice.heard import HeardVoice
from bot.voice.inbox import VoiceInbox
from governance.directory import service as directory
from governance.directory.models import Resident
from governance.policies.service import PolicyAnswerer
from nlu.language import detect_language
from nlu.parsed import Language, NluEngine, ParsedMessage

PETITION_FLOWS = frozenset({FlowName.PETITION_INTAKE, FlowName.CLARIFY})
"""Flows whose next answer may file or confirm a petition: never rate limited."""
PETITION_KINDS = frozenset({MessageKind.IMAGE, MessageKind.LOCATION, MessageKind.VOICE})
"""Messages that start a petition or reach a person by themselves: never rate limited."""
PETITION_INTENT = "report_issue"
TOUCH_EVERY = timedelta(minutes=1)
"""A resident's ``last_message_at`` (the 48 h customer-service window) is written at most this
often: the window may count from up to a minute before their last message, never after it."""


@dataclass(frozen=True, slots=True)
class TurnResult:
    replies: list[Reply]
    language: Lang
    bilingual: bool
    speak: bool = False
    """Elder mode was on at the start or the end of the turn: the replies also go as voice."""


class Pipeline:
    def __init__(
        self,
        *,
        locks: UserLocks,
        store: SqlConversationStore,
        nlu: NluEngine,
        deps: DialogueDeps,
        voice: VoiceInbox | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.rate_limiter = rate_limiter
        """Per-resident spam limit; None turns it off (the gateway sets one, see bot/app.py)."""
        self._locks = locks
        self._store = store
        self._nlu = nlu
        self._deps = deps
        self._voice = voice
        self._quick_sessions = deps.quick_sessions

    @property
    def policies(self) -> PolicyAnswerer:
        return self._deps.policies

    async def handle(self, message: InboundMessage) -> TurnResult:
        # The rate slot is claimed while the lock is being taken: on Redis both travel in one
        # round trip (see bot/redis_batch.py).
        counting = asyncio.ensure_future(self._count(message))
        try:
            return await self._locked_turn(message, counting)
        finally:
            if not counting.done():
                counting.cancel()
            elif not counting.cancelled():
                counting.exception()  # the lock failed first: the count's error is moot

    async def _locked_turn(
        self, message: InboundMessage, counting: asyncio.Future[RateDecision | None]
    ) -> TurnResult:
        async with self._locks.hold(message.user_id):
            decision = await counting
            written = message.kind is MessageKind.TEXT and bool(message.text.strip())
            script = detect_language(message.text) if written else Language.UNKNOWN
            resident, stored_language, conversation = await self._start_turn(message, script)
            known_language = resident.chosen_language
            parsed = await self._nlu.parse(message.text) if written else None
            if script in (Language.ZH, Language.BO):
                conversation.language = Lang(script.value)
            if decision is not None and not self._may_file_petition(message, conversation, parsed):
                replies = [Reply("utter_slow_down")] if decision.notify else []
                return TurnResult(replies, conversation.language, known_language is None)
            heard: HeardVoice | None = None
            if message.kind is MessageKind.VOICE and self._voice is not None:
                # Whisper cannot transcribe Tibetan: a Tibetan resident's voice goes to a person.
                recognise = (known_language or conversation.language.value) != Lang.BO.value
                heard = await self._voice.hear(message, recognise=recognise)
            ctx = TurnContext(message, parsed, conversation, self._deps, resident=resident)
            ctx.bilingual = known_language is None and script not in (Language.ZH, Language.BO)
            await engine.handle(ctx, heard=heard, nlu=self._nlu)
            await self._store.save(conversation)
            if conversation.language.value != stored_language and not ctx.bilingual:
                await self._remember_language(message.user_id, conversation.language)
            speak = resident.elder_mode or bool(ctx.elder_mode)
            return TurnResult(ctx.replies, conversation.language, ctx.bilingual, speak)

    async def _count(self, message: InboundMessage) -> RateDecision | None:
        """Count a resident's own message (events are the platform's); the decision when over."""
        if self.rate_limiter is None or message.kind is MessageKind.EVENT:
            return None
        decision = await self.rate_limiter.hit(message.user_id)
        return None if decision.allowed else decision

    def _may_file_petition(
        self, message: InboundMessage, conversation: Conversation, parsed: ParsedMessage | None
    ) -> bool:
        """A message that may file or confirm a petition: handled even over the rate limit."""
        if conversation.flow in PETITION_FLOWS or message.kind in PETITION_KINDS:
            return True
        return parsed is not None and parsed.intent.name == PETITION_INTENT

    async def _start_turn(
        self, message: InboundMessage, script: Language
    ) -> tuple[StoredResident, str | None, Conversation]:
        """Read the resident with their conversation (one statement), create the resident on
        first contact, open the 48 h window. Returns the row as the turn found it, the chosen
        language as stored now (a first message's script already counts) and the conversation.

        A first message written in Chinese or Tibetan stores that language as chosen with the
        new row. The window is moved on at most every ``TOUCH_EVERY``.
        """
        now = self._deps.clock.now()
        start = await self._store.load_turn(message.user_id)
        if start is None:
            chosen = script.value if script in (Language.ZH, Language.BO) else None
            async with self._quick_sessions() as session:
                resident = directory.new_resident(
                    message.user_id, language=chosen or Lang.ZH.value, now=now
                )
                if chosen:
                    resident.profile = {"language_chosen": True}
                if message.kind is not MessageKind.EVENT:
                    resident.last_message_at = now
                session.add(resident)
                await session.commit()
            conversation = self._store.conversation(message.user_id, Lang.ZH, None, None)
            return NEW_RESIDENT, chosen, conversation
        stored = start.resident
        changes: dict[str, object] = {}
        last = stored.last_message_at
        if message.kind is not MessageKind.EVENT and (last is None or now - last >= TOUCH_EVERY):
            changes["last_message_at"] = now
        if not stored.subscribed:
            changes["subscribed"] = True
        if changes:
            async with self._quick_sessions() as session:
                await session.execute(
                    update(Resident).where(Resident.openid == message.user_id).values(changes)
                )
        known = stored.chosen_language
        conversation = self._store.conversation(
            message.user_id, Lang(known) if known else Lang.ZH, start.state, start.updated_at
        )
        return stored, known, conversation

    async def _remember_language(self, openid: str, language: Lang) -> None:
        async with self._quick_sessions() as session:
            resident = await session.get(Resident, openid)
            if resident is not None:
                resident.language = language.value
                resident.profile = {**resident.profile, "language_chosen": True}
            await session.commit()
