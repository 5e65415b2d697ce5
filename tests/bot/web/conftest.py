"""The resident H5 pages on an aiohttp test client over the real seeded database and catalogues,
with a hand-moved clock (links expire) and a counter for outbox wake-ups."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.links import LinkSigner
from bot.replies import ReplyCatalog
from bot.settings import PROJECT_ROOT
from bot.web.h5 import add_resident_pages
from bot.web.policy_page import PolicyPage
from governance.clock import ManualClock
from governance.petitions.dispatch import dispatch
from governance.petitions.lifecycle import transition
from governance.petitions.models import Petition, PetitionStatus
from governance.policies.catalog import PolicyCatalog
from governance.policies.revisions import LiveCatalog
from tests.governance.conftest import MATRIX, file_petition

REPLIES = ReplyCatalog.load(PROJECT_ROOT / "data" / "responses")
SECRET = "h5-test-secret"
TTL = timedelta(days=90)
BASE_URL = "https://minqing.test"
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@dataclass
class H5:
    client: TestClient[Any, Any]
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock
    signer: LinkSigner
    wakes: list[int] = field(default_factory=list)

    def link(self, petition: Petition, openid: str | None = None) -> str:
        token = self.signer.sign(petition.id, openid or petition.resident_openid, self.clock.now())
        return f"/s/{token}"

    async def get(self, path: str, **headers: str) -> tuple[int, str]:
        async with self.client.get(path, headers=headers, allow_redirects=False) as response:
            return response.status, await response.text()

    async def post(
        self, path: str, data: dict[str, str], *, follow: bool = True, **headers: str
    ) -> tuple[int, str, str]:
        """POST a form; returns status, body and the redirect target ("" when none)."""
        async with self.client.post(
            path, data=data, headers=headers, allow_redirects=False
        ) as response:
            status, body = response.status, await response.text()
            location = response.headers.get("Location", "")
        if follow and status == 303:
            status, body = await self.get(location)
        return status, body, location

    async def nonce(self, path: str) -> str:
        status, html = await self.get(path)
        assert status == 200, html
        found = NONCE.search(html)
        assert found is not None, "the page carries a form nonce"
        return found.group(1)


H5Factory = Callable[[], Awaitable[H5]]


@pytest.fixture
async def h5(
    aiohttp_client: Any,
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> H5:
    signer = LinkSigner(SECRET, ttl=TTL)
    wakes: list[int] = []
    app = web.Application()
    add_resident_pages(
        app,
        sessions=sessions,
        signer=signer,
        replies=REPLIES,
        clock=clock,
        notify_outbox=lambda: wakes.append(1),
        public_base_url=BASE_URL,
    )
    policies = PolicyCatalog.load(PROJECT_ROOT / "data" / "policies")
    page = PolicyPage(LiveCatalog(policies), REPLIES, sessions=sessions)
    app.router.add_get("/p/{policy_id}", page.show)
    client = await aiohttp_client(app)
    return H5(client, sessions, clock, signer, wakes)


async def filed(
    h5: H5,
    *,
    openid: str = "o-dolkar",
    language: str = "zh",
    description: str = "院门口的路灯坏了三天了，晚上很黑",
    to: tuple[PetitionStatus, ...] = (),
) -> Petition:
    """A petition filed as intake does, dispatched by the matrix, then moved through `to`
    by its assignee."""
    async with h5.sessions() as session, session.begin():
        petition = await file_petition(
            session, now=h5.clock.now(), openid=openid, language=language, description=description
        )
        await dispatch(session, petition, now=h5.clock.now(), actor="system", matrix=MATRIX)
        for status in to:
            h5.clock.advance(timedelta(hours=1))
            await transition(
                session,
                petition,
                status,
                actor=f"staff:{petition.assignee_staff_id}",
                now=h5.clock.now(),
                note="已更换灯泡" if status == PetitionStatus.RESOLVED else "",
            )
    h5.clock.advance(timedelta(minutes=5))
    return petition


async def reload(h5: H5, petition: Petition) -> Petition:
    async with h5.sessions() as session:
        fresh = await session.scalar(select(Petition).where(Petition.id == petition.id))
    assert fresh is not None
    return fresh
