"""A console app on the real (seeded, migrated) database, driven over HTTP by a test client.

The console's routes are mounted alone on an aiohttp app (the gateway's other routes are not
needed here); petitions are filed and dispatched exactly as the intake flow does it.
"""

from __future__ import annotations

import io
import math
import re
import struct
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import PROJECT_ROOT, Settings
from bot.web.console import ConsoleDeps, add_console_routes
from governance.calendar import load_calendar
from governance.clock import ManualClock
from governance.console.demo import DEMO_PASSWORD, seed_demo_accounts
from governance.directory.service import get_or_create_resident
from governance.outbox.models import OutboxMessage
from governance.petitions.dispatch import dispatch
from governance.petitions.models import Petition, PetitionSource
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.petitions.service import PetitionDraft, submit_petition
from governance.petitions.sla import SlaPolicies
from governance.petitions.voice import (
    NewRecording,
    file_voice_petition,
    resident_place,
    store_recording,
)
from governance.policies.catalog import PolicyCatalog
from governance.policies.revisions import LiveCatalog
from voice.audio import decode, mp3_bytes

DATA = PROJECT_ROOT / "data"
SLA = SlaPolicies.load(DATA / "governance" / "sla.yml")
MATRIX = ResponsibilityMatrix.load(
    DATA / "governance" / "responsibility.yml", known_categories=SLA.by_category
)
CSRF = re.compile(r'name="_csrf" value="([^"]+)"')

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@dataclass
class Console:
    client: TestClient[Any, Any]
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock
    woken: list[int] = field(default_factory=list)

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.client.get(path, allow_redirects=True, **kwargs) as response:
            return response.status, await response.text()

    async def login(self, username: str, password: str = DEMO_PASSWORD) -> tuple[int, str]:
        status, html = await self.get("/console/login")
        assert status == 200
        token = CSRF.search(html)
        assert token is not None
        async with self.client.post(
            "/console/login",
            data={"_csrf": token.group(1), "username": username, "password": password},
        ) as response:
            return response.status, await response.text()

    async def csrf(self) -> str:
        status, html = await self.get("/console/cases")
        assert status == 200, html
        token = CSRF.search(html)
        assert token is not None
        return token.group(1)

    async def post(
        self, path: str, data: dict[str, str], *, csrf: str | None = None
    ) -> tuple[int, str]:
        token = await self.csrf() if csrf is None else csrf
        async with self.client.post(path, data={"_csrf": token, **data}) as response:
            return response.status, await response.text()

    async def petition(self, ticket: str) -> Petition:
        async with self.sessions() as session:
            found = await session.scalar(select(Petition).where(Petition.ticket_no == ticket))
        assert found is not None
        return found

    async def outbox(self, key: str | None = None) -> list[OutboxMessage]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return [r for r in rows if key is None or r.payload.get("key") == key]


async def file_petition(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    *,
    openid: str = "o-dolkar",
    language: str = "zh",
    category: str = "streetlight",
    grid_id: str = "G01",
    grid_point_id: str | None = "GP-0101",
    description: str = "路灯不亮了，晚上很黑",
    phone: str | None = "13812345678",
    source: str | None = None,
    dispatched: bool = True,
) -> str:
    """File (and dispatch, as intake does) a petition; returns its ticket number."""
    async with sessions() as session, session.begin():
        await get_or_create_resident(session, openid, language=language, now=now)
        outcome = await submit_petition(
            session,
            PetitionDraft(
                resident_openid=openid,
                language=language,
                category=category,
                description=description,
                community_id="lhasa-gesanglinka",
                grid_id=grid_id,
                grid_point_id=grid_point_id,
                phone=phone,
                source=PetitionSource(source) if source else PetitionSource.QR,
            ),
            now=now,
            calendar=await load_calendar(session, "lhasa"),
            policies=SLA,
            public_base_url="https://minqing.test",
            post_card=not dispatched,
        )
        if dispatched:
            petition = await session.get(Petition, outcome.petition_id)
            assert petition is not None
            await dispatch(session, petition, now=now, actor="system", matrix=MATRIX)
    return outcome.ticket_no


@pytest.fixture
async def console(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    settings: Settings,
    aiohttp_client: ClientFactory,
    tmp_path: Path,
) -> Console:
    async with sessions() as session, session.begin():
        await seed_demo_accounts(session, now=clock.now())
    woken: list[int] = []
    app = web.Application()
    add_console_routes(
        app,
        ConsoleDeps(
            sessions=sessions,
            clock=clock,
            settings=settings,
            matrix=MATRIX,
            notify_outbox=lambda: woken.append(1),
            policies=LiveCatalog(PolicyCatalog.load(DATA / "policies")),
            posters_dir=tmp_path / "posters",
        ),
    )
    client = await aiohttp_client(app)
    return Console(client, sessions, clock, woken)


MP3_PATH = "audio/20261122/elder.mp3"


def tone_wav(seconds: float, *, hz: float = 440.0, rate: int = 16000) -> bytes:
    """A quiet sine tone as WAV: something a recorder would send, with audible content."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


async def file_voice(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    media_dir: Path,
    *,
    playable: bool = True,
) -> str:
    """A Tibetan elder's voice message nobody could read: a voice petition with its MP3."""
    if playable:
        target = media_dir / MP3_PATH
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(mp3_bytes(decode(tone_wav(1.0), "wav")))
    async with sessions() as session, session.begin():
        resident = await get_or_create_resident(session, "o-elder", language="bo", now=now)
        resident.grid_id = "G01"
        place = await resident_place(session, "o-elder")
        row = store_recording(
            session,
            NewRecording(
                openid="o-elder",
                media_id="m-1",
                mp3_path=MP3_PATH if playable else None,
                duration_seconds=6.4,
                transcript="",
                language="bo",
                engine="whisper",
            ),
            now=now,
        )
        filed = await file_voice_petition(
            session,
            PetitionDraft(
                resident_openid="o-elder",
                language="bo",
                category="other",
                description="",
                community_id=place.community_id,
                grid_id=place.grid_id,
                source=PetitionSource.VOICE,
            ),
            recording=row,
            place_known=place.known,
            now=now,
            calendar=await load_calendar(session, "lhasa"),
            policies=SLA,
            public_base_url="https://minqing.test",
        )
    return filed.ticket_no
