"""Messages staff send to the WeCom app. Only registered staff are answered."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messages import InboundMessage, Reply
from governance.directory.models import Staff


async def handle(
    sessions: async_sessionmaker[AsyncSession], message: InboundMessage
) -> list[Reply]:
    async with sessions() as session:
        staff = await session.scalar(select(Staff).where(Staff.wecom_user_id == message.user_id))
    if staff is None or not staff.active:
        return [Reply("staff_not_registered")]
    return [Reply("staff_usage", {"name": staff.name_zh})]
