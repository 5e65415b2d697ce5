"""③ One resident message in, replies out: lock → resident → language → voice/NLU → dialogue →
save. A voice message is downloaded, stored, converted and recognised here, under the lock."""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue import engine
from bot.dialogue.context import DialogueDeps, TurnContext
from bot.dialogue.locks import UserLocks
from bot.dialogue.state import Lang
from bot.dialogue.store import ConversationStore
from bot.messages import InboundMessage, MessageKind, Reply
from bot.voice.heard import HeardVoice
from bot.voice.inbox import VoiceInbox
from governance.directory import service as directory
from governance.directory.models import Resident
from governance.policies.service import PolicyAnswerer
from nlu.language import detect_language
from nlu.parsed import Language, NluEngine, ParsedMessage


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
        store: ConversationStore,
        nlu: NluEngine,
        deps: DialogueDeps,
        voice: VoiceInbox | None = None,
    ) -> None:
        self._locks = locks
        self._store = store
        self._nlu = nlu
        self._deps = deps
        self._voice = voice

    @property
    def policies(self) -> PolicyAnswerer:
        return self._deps.policies

    async def handle(self, message: InboundMessage) -> TurnResult:
        async with self._locks.hold(message.user_id):
            known_language, elder_before = await self._touch_resident(message)
            conversation = await self._store.load(
                message.user_id, Lang(known_language) if known_language else Lang.ZH
            )
            parsed: ParsedMessage | None = None
            script = Language.UNKNOWN
            if message.kind is MessageKind.TEXT and message.text.strip():
                parsed = await self._nlu.parse(message.text)
                script = detect_language(message.text)
            if script in (Language.ZH, Language.BO):
                conversation.language = Lang(script.value)
            heard: HeardVoice | None = None
            if message.kind is MessageKind.VOICE and self._voice is not None:
                # Whisper cannot transcribe Tibetan: a Tibetan resident's voice goes to a person.
                recognise = (known_language or conversation.language.value) != Lang.BO.value
                heard = await self._voice.hear(message, recognise=recognise)
            ctx = TurnContext(message, parsed, conversation, self._deps)
            ctx.bilingual = known_language is None and script not in (Language.ZH, Language.BO)
            await engine.handle(ctx, heard=heard, nlu=self._nlu)
            await self._store.save(conversation)
            if conversation.language.value != known_language and not ctx.bilingual:
                await self._remember_language(message.user_id, conversation.language)
            speak = elder_before or await self._elder_mode(message.user_id)
            return TurnResult(ctx.replies, conversation.language, ctx.bilingual, speak)

    async def _elder_mode(self, openid: str) -> bool:
        async with self._deps.sessions() as session:
            resident = await session.get(Resident, openid)
            return bool(resident and resident.elder_mode)

    async def _touch_resident(self, message: InboundMessage) -> tuple[str | None, bool]:
        """Create the resident on first contact, open the 48 h window.

        Returns their language (None when not chosen yet) and whether elder mode is on.
        """
        now = self._deps.clock.now()
        async with self._deps.sessions() as session, session.begin():
            resident = await session.get(Resident, message.user_id)
            is_new = resident is None
            resident = await directory.get_or_create_resident(
                session, message.user_id, language=Lang.ZH.value, now=now
            )
            if message.kind is not MessageKind.EVENT:
                resident.last_message_at = now
            resident.subscribed = True
            profile_language = resident.profile.get("language_chosen")
            language = None if is_new or not profile_language else resident.language
            return language, resident.elder_mode

    async def _remember_language(self, openid: str, language: Lang) -> None:
        async with self._deps.sessions() as session, session.begin():
            resident = await session.get(Resident, openid)
            if resident is not None:
                resident.language = language.value
                resident.profile = {**resident.profile, "language_chosen": True}
