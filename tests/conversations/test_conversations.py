"""Runs every `tests/conversations/{zh,bo}/*.yml` case through the real pipeline.

Real database (both backends), real trained NLU, real ffmpeg and Whisper, a manual clock.
Step kinds: `user` (text), `photo`, `location`, `voice` (a file of `tests/fixtures/voice`, e.g.
``voice: zh_streetlight.amr``; ``voice: {}`` is a voice message whose audio cannot be
downloaded), `subscribe`/`scan` (QR scene), `advance_minutes`,
`reply` (response keys of the last turn, in order), `says` (text of the last turn contains),
`slot_was_set`, `petition` (fields of the resident's latest petition), `outbox`
(``{channel, count}``), `petitions` (how many the resident has), `resident` (switch to another
resident), `staff` (``"dolma: 办结 0001 已修好"``: a staff member messages the WeCom app) with
`staff_reply` (the response key they get), `pushed` (response keys the current resident has
been pushed through the outbox, in order), `resident_is` (fields of the current resident, e.g.
``{elder_mode: true}``), `recording` (fields of the resident's latest voice recording).
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actions import staff_commands
from actions.staff_command_parser import StaffCommandParser
from actions.staff_commands import StaffDeps
from bot.app import build_pipeline, load_matrix
from bot.dialogue.locks import LocalUserLocks
from bot.dialogue.state import Lang
from bot.dialogue.store import SqlConversationStore
from bot.messages import EventKind, InboundMessage, MessageKind
from bot.pipeline import Pipeline, TurnResult
from bot.replies import ReplyCatalog
from bot.settings import PROJECT_ROOT, Settings
from bot.voice import wiring
from bot.voice.inbox import MediaStore, VoiceInbox
from governance.clock import ManualClock
from governance.directory.models import Resident
from governance.outbox.models import OutboxMessage
from governance.petitions.models import Petition, VoiceRecording
from nlu.embedded import EmbeddedEngine

HERE = Path(__file__).parent
CASES = sorted(HERE.glob("*/*.yml"))
LOADED = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in CASES]
CATALOG = ReplyCatalog.load(PROJECT_ROOT / "data" / "responses")
VOICE_FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "voice"
FIXTURE_MEDIA = "fixture:"


class FixtureMedia:
    """WeChat's temporary-media store for the conversation cases: media ids name fixture files.

    Any other id fails like expired media, which is how `voice: {}` tests a failed download.
    """

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        name = media_id.removeprefix(FIXTURE_MEDIA)
        path = VOICE_FIXTURES / name
        if not media_id.startswith(FIXTURE_MEDIA) or not path.is_file():
            raise LookupError(f"media {media_id} expired or unknown")
        return path.read_bytes(), "application/octet-stream"


class Conversation:
    """Plays a resident against the pipeline and remembers the last turn."""

    def __init__(self, pipeline: Pipeline, clock: ManualClock, user_id: str) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.user_id = user_id
        self.counter = itertools.count(1)
        self.last: TurnResult | None = None

    async def send(self, kind: MessageKind, **fields: Any) -> None:
        n = next(self.counter)
        message = InboundMessage(
            user_id=self.user_id,
            account_id="gh_test",
            dedup_key=f"msg:{n}",
            received_at=self.clock.now(),
            kind=kind,
            **fields,
        )
        self.last = await self.pipeline.handle(message)
        self.clock.advance(timedelta(seconds=20))

    @property
    def keys(self) -> list[str]:
        assert self.last is not None, "no turn yet"
        return [reply.key for reply in self.last.replies]

    @property
    def text(self) -> str:
        assert self.last is not None, "no turn yet"
        return CATALOG.render_all(
            self.last.replies, self.last.language, bilingual=self.last.bilingual
        )


def staff_deps(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    settings: Settings,
    categoriser: EmbeddedEngine,
) -> StaffDeps:
    return StaffDeps(
        sessions=sessions,
        clock=clock,
        parser=StaffCommandParser.load(settings.data_dir / "dialogue" / "staff_commands.yml"),
        prefecture=settings.prefecture,
        public_base_url=settings.public_base_url,
        matrix=load_matrix(settings),
        categoriser=categoriser,
        category_threshold=settings.nlu.category_threshold,
    )


def _is_subsequence(expected: list[str], actual: list[str]) -> bool:
    remaining = iter(actual)
    return all(key in remaining for key in expected)


async def _latest_petition(sessions: async_sessionmaker[AsyncSession], user: str) -> Petition:
    async with sessions() as session:
        petition = await session.scalar(
            select(Petition).where(Petition.resident_openid == user).order_by(Petition.id.desc())
        )
    assert petition is not None, "the resident has no petition"
    return petition


@pytest.mark.parametrize(
    ("case_path", "case"),
    list(zip(CASES, LOADED, strict=True)),
    ids=[f"{p.parent.name}/{p.stem}" for p in CASES],
)
async def test_conversation(
    case_path: Path,
    case: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
    embedded_nlu: EmbeddedEngine,
    clock: ManualClock,
    settings: Settings,
    tmp_path: Path,
) -> None:
    voice = VoiceInbox(
        media=FixtureMedia(),
        store=MediaStore(tmp_path / "media"),
        recognition=wiring.recognition(settings.voice),
        clock=clock,
    )
    pipeline = build_pipeline(
        settings,
        sessions=sessions,
        clock=clock,
        nlu=embedded_nlu,
        categoriser=embedded_nlu,
        locks=LocalUserLocks(),
        notify_outbox=lambda: None,
        voice=voice,
    )
    user = case.get("user_id", f"o-{case_path.stem}")
    talk = Conversation(pipeline, clock, user)
    staff_replies: list[Any] = []
    for number, step in enumerate(case["steps"], start=1):
        ((kind, value),) = step.items()
        where = f"{case_path.name} step {number} ({kind}: {value!r})"
        if kind == "user":
            await talk.send(MessageKind.TEXT, text=str(value))
        elif kind == "photo":
            await talk.send(
                MessageKind.IMAGE, media_id=f"media-{number}", picture_url="http://x/p.jpg"
            )
        elif kind == "location":
            await talk.send(MessageKind.LOCATION, **value)
        elif kind == "voice":
            name = value if isinstance(value, str) else ""
            fmt = name.rsplit(".", 1)[-1].replace("spx", "speex") if name else "amr"
            media_id = f"{FIXTURE_MEDIA}{name}" if name else f"expired-{number}"
            await talk.send(MessageKind.VOICE, media_id=media_id, voice_format=fmt)
        elif kind in ("subscribe", "scan"):
            event = EventKind.SUBSCRIBE if kind == "subscribe" else EventKind.SCAN
            await talk.send(MessageKind.EVENT, event=event, event_key=value or None)
        elif kind == "resident":
            talk.user_id = user = str(value)
        elif kind == "staff":
            wecom_id, _, text = str(value).partition(":")
            staff_replies = await staff_commands.handle(
                staff_deps(sessions, clock, settings, embedded_nlu),
                InboundMessage(
                    user_id=wecom_id.strip(),
                    account_id="corp",
                    dedup_key=f"staff:{number}",
                    received_at=clock.now(),
                    kind=MessageKind.TEXT,
                    text=text.strip(),
                ),
            )
        elif kind == "staff_reply":
            keys = [reply.key for reply in staff_replies]
            assert value in keys, f"{where}: staff got {keys}"
        elif kind == "pushed":
            async with sessions() as session:
                rows = (
                    await session.scalars(
                        select(OutboxMessage)
                        .where(OutboxMessage.recipient == user)
                        .order_by(OutboxMessage.id)
                    )
                ).all()
            keys = [row.payload.get("key") for row in rows]
            assert _is_subsequence(list(value), keys), f"{where}: pushed {keys}"
        elif kind == "advance_minutes":
            clock.advance(timedelta(minutes=int(value)))
        elif kind == "reply":
            expected = value if isinstance(value, list) else [value]
            assert _is_subsequence(expected, talk.keys), f"{where}: got {talk.keys}"
        elif kind == "says":
            for fragment in value if isinstance(value, list) else [value]:
                assert str(fragment) in talk.text, f"{where}: text was\n{talk.text}"
        elif kind == "slot_was_set":
            state = await SqlConversationStore(sessions, clock).load(user, Lang.ZH)
            for slot, expected_value in value.items():
                assert state.slots.get(slot) == expected_value, f"{where}: slots {state.slots}"
        elif kind == "petition":
            petition = await _latest_petition(sessions, user)
            for field, expected_value in value.items():
                actual = getattr(petition, field)
                assert str(actual) == str(expected_value), f"{where}: {field}={actual!r}"
        elif kind == "petitions":
            async with sessions() as session:
                count = await session.scalar(
                    select(func.count(Petition.id)).where(Petition.resident_openid == user)
                )
            assert count == value, f"{where}: {count} petitions"
        elif kind == "resident_is":
            async with sessions() as session:
                resident = await session.get(Resident, user)
            assert resident is not None, f"{where}: no resident {user}"
            for field, expected_value in value.items():
                actual = getattr(resident, field)
                assert actual == expected_value, f"{where}: {field}={actual!r}"
        elif kind == "recording":
            async with sessions() as session:
                recording = await session.scalar(
                    select(VoiceRecording)
                    .where(VoiceRecording.openid == user)
                    .order_by(VoiceRecording.id.desc())
                )
            assert recording is not None, f"{where}: no voice recording"
            for field, expected_value in value.items():
                actual = getattr(recording, field)
                assert str(actual) == str(expected_value), f"{where}: {field}={actual!r}"
        elif kind == "outbox":
            async with sessions() as session:
                count = await session.scalar(
                    select(func.count(OutboxMessage.id)).where(
                        OutboxMessage.channel == value["channel"]
                    )
                )
            assert count == value["count"], f"{where}: {count} rows"
        else:
            pytest.fail(f"{where}: unknown step kind")
