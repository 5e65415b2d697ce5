"""Small daily jobs: QR codes for new grid points, the calendar-year alert, expired keys.

Plain functions with their own sessions; each records what it did so running it twice is safe.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.wechat.api_client import WeChatApiClient, WeChatApiError
from governance.calendar import CalendarOverride, load_calendar
from governance.clock import LOCAL_TZ, Clock
from governance.directory.models import Community, Grid, GridPoint
from governance.outbox.models import OutboxChannel, OutboxMessage
from governance.outbox.service import enqueue

log = logging.getLogger(__name__)


async def sync_qr_codes(
    sessions: async_sessionmaker[AsyncSession], wechat: WeChatApiClient
) -> int:
    """Give every grid point without one a permanent report code (scene ``report:<id>``), and
    make sure each grid's staff code and each community's policy code exist (permanent scenes are
    idempotent on the platform: asking again returns the same code)."""
    created = 0
    async with sessions() as session:
        grids = (await session.scalars(select(Grid.id))).all()
        communities = (await session.scalars(select(Community.id))).all()
    for scene in [f"staff:{g}" for g in grids] + [f"policy:{c}" for c in communities]:
        try:
            await wechat.create_qrcode(scene, permanent=True)
        except WeChatApiError as error:
            log.warning("QR code %s not created yet: %s", scene, error.errmsg)
            return created
    async with sessions() as session, session.begin():
        points = (
            await session.scalars(select(GridPoint).where(GridPoint.qr_ticket.is_(None)))
        ).all()
        for point in points:
            try:
                ticket, url = await wechat.create_qrcode(f"report:{point.id}", permanent=True)
            except WeChatApiError as error:
                log.warning("QR code for %s not created yet: %s", point.id, error.errmsg)
                break
            point.qr_ticket, point.qr_url = ticket, url
            created += 1
    return created


async def alert_missing_calendar_years(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, prefecture: str
) -> list[int]:
    """Tell each community's handler group when this or next year's working days are unknown.

    Without them deadlines fall back to "weekends only", missing holidays and make-up workdays.
    """
    today = clock.now().astimezone(LOCAL_TZ).date()
    async with sessions() as session, session.begin():
        calendar = await load_calendar(session, prefecture)
        overridden = {
            day.year
            for day in (
                await session.scalars(
                    select(CalendarOverride.day).where(CalendarOverride.prefecture == prefecture)
                )
            ).all()
        }
        missing = [
            year
            for year in (today.year, today.year + 1)
            if not calendar.knows_year(year) and year not in overridden
        ]
        communities = (await session.scalars(select(Community.id))).all()
        for year in missing:
            for community_id in communities:
                key = f"calendar-missing:{year}:{community_id}"
                if await session.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)
                ):
                    continue
                enqueue(
                    session,
                    channel=OutboxChannel.HANDLER_GROUP,
                    recipient=community_id,
                    payload={
                        "key": "card_calendar_missing",
                        "language": "zh",
                        "params": {"year": year, "prefecture": prefecture},
                    },
                    idempotency_key=key,
                    now=clock.now(),
                )
    return missing
