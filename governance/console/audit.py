"""The console's audit log: one row per sign-in, case view, case action, export and setting."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.console.models import AuditEntry, ConsoleAccount


def record(
    session: AsyncSession,
    *,
    now: datetime,
    action: str,
    account: ConsoleAccount | None = None,
    account_id: int | None = None,
    username: str = "",
    target_type: str = "",
    target_id: str = "",
    detail: Mapping[str, Any] | None = None,
    ip: str = "",
) -> AuditEntry:
    """Add an entry to the caller's transaction (it commits or rolls back with the action)."""
    entry = AuditEntry(
        at=now,
        account_id=account.id if account else account_id,
        username=(account.username if account else username)[:64],
        action=action[:48],
        target_type=target_type[:32],
        target_id=target_id[:128],
        detail=dict(detail or {}),
        ip=ip[:64],
    )
    session.add(entry)
    return entry


async def entries(
    session: AsyncSession,
    *,
    limit: int = 50,
    offset: int = 0,
    username: str | None = None,
    target_id: str | None = None,
) -> tuple[list[AuditEntry], int]:
    """Newest first, optionally for one user or one target; with the total count."""
    statement = select(AuditEntry)
    if username:
        statement = statement.where(AuditEntry.username == username)
    if target_id:
        statement = statement.where(AuditEntry.target_id == target_id)
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = await session.scalars(
        statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    return list(rows.all()), int(total or 0)
