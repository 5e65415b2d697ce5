"""Helpers for the lifecycle tests: file petitions as intake does, read the outbox back."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import PROJECT_ROOT
from governance.calendar import WorkCalendar, load_calendar
from governance.directory.service import get_or_create_resident
from governance.outbox.models import OutboxMessage
from governance.petitions.models import Petition, PetitionEvent, PetitionSource
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.petitions.service import PetitionDraft, submit_petition
from governance.petitions.sla import SlaPolicies

DATA = PROJECT_ROOT / "data" / "governance"
POLICIES = SlaPolicies.load(DATA / "sla.yml")
MATRIX = ResponsibilityMatrix.load(
    DATA / "responsibility.yml", known_categories=POLICIES.by_category
)
BASE_URL = "https://minqing.test"


@pytest.fixture
def matrix() -> ResponsibilityMatrix:
    return MATRIX


async def lhasa(session: AsyncSession) -> WorkCalendar:
    return await load_calendar(session, "lhasa")


async def file_petition(
    session: AsyncSession,
    *,
    now: datetime,
    openid: str = "o-dolkar",
    language: str = "zh",
    category: str = "streetlight",
    grid_id: str = "G01",
    grid_point_id: str | None = "GP-0101",
    hazard: str | None = None,
    description: str = "路灯不亮了，晚上很黑",
    ticket_no: str | None = None,
) -> Petition:
    """A petition submitted exactly as the intake flow does it (resident first, then submit)."""
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
            phone="13812345678",
            source=PetitionSource.QR if grid_point_id else PetitionSource.CHAT,
            hazard=hazard,
        ),
        now=now,
        calendar=await lhasa(session),
        policies=POLICIES,
        public_base_url=BASE_URL,
        ticket_no=ticket_no,
    )
    return outcome.petition


async def resident(session: AsyncSession, openid: str, language: str, now: datetime) -> str:
    await get_or_create_resident(session, openid, language=language, now=now)
    return openid


async def outbox(session: AsyncSession, key: str | None = None) -> list[OutboxMessage]:
    """Outbox rows in order, optionally only those with one response key."""
    await session.flush()
    rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [row for row in rows if key is None or row.payload["key"] == key]


async def events(session: AsyncSession, petition_id: int) -> list[PetitionEvent]:
    await session.flush()
    rows = await session.scalars(
        select(PetitionEvent)
        .where(PetitionEvent.petition_id == petition_id)
        .order_by(PetitionEvent.id)
    )
    return list(rows.all())
