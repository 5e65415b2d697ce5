"""Demo console accounts for the demo community: only `minqing demo` (dev/test) creates them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.console.accounts import create_account
from governance.console.models import ConsoleAccount, ConsoleRole

DEMO_PASSWORD = "minqing-demo"
"""Printed by `minqing demo` and written in docs/console.md; production never creates these."""

DEMO_ACCOUNTS: tuple[tuple[str, ConsoleRole, str | None, tuple[str, ...]], ...] = (
    ("dolma", ConsoleRole.GRID_WORKER, "S-0102", ()),
    ("dorje", ConsoleRole.GRID_WORKER, "S-0202", ()),
    ("lhakpa", ConsoleRole.COMMUNITY_OFFICER, "S-C01", ()),
    ("street", ConsoleRole.STREET_ADMIN, None, ("lhasa-gesanglinka",)),
    ("admin", ConsoleRole.SYSTEM_ADMIN, None, ()),
)
"""User name, role, linked staff member, communities."""


async def seed_demo_accounts(
    session: AsyncSession, *, now: datetime, password: str = DEMO_PASSWORD
) -> list[str]:
    """Create the demo accounts that do not exist yet; returns the user names created."""
    created = []
    for username, role, staff_id, communities in DEMO_ACCOUNTS:
        exists = await session.scalar(
            select(ConsoleAccount.id).where(ConsoleAccount.username == username)
        )
        if exists is not None:
            continue
        await create_account(
            session,
            username=username,
            password=password,
            role=role,
            now=now,
            staff_id=staff_id,
            community_ids=communities,
        )
        created.append(username)
    return created
