"""Revoking residents' H5 links: every link issued up to now for a petition, a booking or a
resident stops working; links issued later work again.

Stored as "revoked at" times in the infra_kv table (same database, same transaction as the
staff action that revokes), kept longer than any link lives.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.kv import KeyValueEntry

REVOCATION_KEPT = timedelta(days=3650)
"""How long a revocation is remembered; links must expire sooner (LinkSigner checks)."""
PREFIX = "links:revoked:"


def _keys(petition_id: int | None, booking_id: int | None, openid: str | None) -> list[str]:
    keys = []
    if petition_id is not None:
        keys.append(f"{PREFIX}petition:{petition_id}")
    if booking_id is not None:
        keys.append(f"{PREFIX}booking:{booking_id}")
    if openid is not None:
        keys.append(f"{PREFIX}resident:{openid}")
    return keys


async def revoke_links(
    session: AsyncSession,
    now: datetime,
    *,
    petition_id: int | None = None,
    booking_id: int | None = None,
    openid: str | None = None,
) -> list[str]:
    """Revoke the links issued up to `now` for a petition, a booking and/or a resident.

    Runs in the caller's transaction; returns the revocation keys written. Raises ValueError
    when nothing is named.
    """
    keys = _keys(petition_id, booking_id, openid)
    if not keys:
        raise ValueError("revoke_links needs a petition_id, a booking_id or an openid")
    for key in keys:
        entry = await session.get(KeyValueEntry, key)
        if entry is None:
            session.add(
                KeyValueEntry(key=key, value=now.isoformat(), expires_at=now + REVOCATION_KEPT)
            )
        else:
            entry.value = now.isoformat()
            entry.expires_at = now + REVOCATION_KEPT
    await session.flush()
    return keys


async def revoked_at(
    session: AsyncSession,
    *,
    petition_id: int | None = None,
    booking_id: int | None = None,
    openid: str | None = None,
) -> datetime | None:
    """The latest revocation covering these links, or None."""
    keys = _keys(petition_id, booking_id, openid)
    if not keys:
        return None
    values = await session.scalars(select(KeyValueEntry.value).where(KeyValueEntry.key.in_(keys)))
    times = [datetime.fromisoformat(value) for value in values]
    return max(times) if times else None
